import { link, mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno } from './errno.js';

export interface AtomicWriteOptions {
  /**
   * fsync the temp file before it takes the name and the directory after, so the new content survives a
   * power cut, not just a crash. Off only where losing the write is harmless (it is simply done again).
   * @default true
   */
  readonly durable?: boolean;
  /** Creates the directory (and its parents) when it is missing; without it the write fails with ENOENT. @default false */
  readonly createDir?: boolean;
  /**
   * Only creates `path`: when it exists the write fails with EEXIST and leaves it as it was. The temp file
   * is hard-linked to the name instead of renamed over it, which is as atomic.
   * @default false
   */
  readonly exclusive?: boolean;
  /**
   * The temp file's name, in the directory of `path` (a rename is atomic only within one filesystem);
   * `sequence` is unique within this process.
   * @default `.<name>.<pid>.<sequence>.tmp`: a dot name, which directory scans pass over
   */
  readonly tempName?: (name: string, sequence: number) => string;
  /** Called once the temp file is complete, just before it takes the name; a throw abandons the write. */
  readonly beforeCommit?: () => void;
}

let sequence = 0;

/**
 * Replaces (or with `exclusive`, creates) `path` so that a reader, a crash or a power cut sees the old
 * content or the new one, never a mix: a temp file in the same directory, fsync, rename, fsync of the
 * directory. A failed write leaves the old content and removes its temp file.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | Iterable<string>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const durable = options.durable ?? true;
  const dir = dirname(path);
  const { temp, handle } = await createTemp(dir, basename(path), options);
  try {
    try {
      // An iterable is written piece by piece, each to its end: a large file is never one string in memory.
      await writeFile(handle, data);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    options.beforeCommit?.();
    await (options.exclusive === true ? link(temp, path) : rename(temp, path));
  } catch (error) {
    // Only the temp file this write created; a cleanup that fails too must not hide why the write failed.
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  // A link leaves the temp name behind as a second name of the new file.
  if (options.exclusive === true) await rm(temp, { force: true });
  if (durable) await syncDirectory(dir);
}

/** Makes renames and new entries in `dir` durable; Windows cannot open a directory for fsync and does not need it. */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function defaultTempName(name: string, sequence: number): string {
  return `.${name}.${process.pid}.${sequence}.tmp`;
}

/** Temp names tried before giving up: a taken one is a dead writer's leftover with a recycled pid. */
const TEMP_ATTEMPTS = 100;

/**
 * Creates the temp file with `wx`, so it never writes through a file already at the temp name (a dead
 * writer's leftover, or a planted link); a taken name is left alone and the next sequence number tried.
 */
async function createTemp(
  dir: string,
  name: string,
  options: AtomicWriteOptions,
): Promise<{ temp: string; handle: FileHandle }> {
  for (let attempt = 1; ; attempt += 1) {
    sequence += 1;
    const temp = join(dir, (options.tempName ?? defaultTempName)(name, sequence));
    try {
      return { temp, handle: await openTemp(temp, options.createDir ?? false) };
    } catch (error) {
      if (!isErrno(error, 'EEXIST') || attempt >= TEMP_ATTEMPTS) throw error;
    }
  }
}

async function openTemp(temp: string, createDir: boolean): Promise<FileHandle> {
  try {
    return await open(temp, 'wx', 0o644);
  } catch (error) {
    if (!createDir || !isErrno(error, 'ENOENT')) throw error;
    await mkdir(dirname(temp), { recursive: true });
    return await open(temp, 'wx', 0o644);
  }
}
