import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno } from '../../infra/errno.js';

let temps = 0;

/**
 * Replaces `path` so that a reader, a crash or a power cut sees the old content or the new one, never a
 * mix: a temp file in the same dir (rename is atomic only within one filesystem), fsync, rename, fsync
 * of the dir. The temp name starts with a dot so that directory scans pass over a leftover one.
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  temps += 1;
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${temps}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** The file's text, or undefined when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) {
      return undefined;
    }
    throw error;
  }
}

/** Makes renames and new entries in `dir` durable; Windows cannot open a directory for fsync and does not need it. */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') {
    return;
  }
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
