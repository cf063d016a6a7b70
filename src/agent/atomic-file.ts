import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno } from '../infra/errno.js';

export interface AtomicWriteOptions {
  /**
   * fsync the data and the directory, so the new content survives a power cut, not just a crash.
   * @default true
   */
  readonly durable?: boolean;
}

let tempCounter = 0;

/**
 * A temp name in the same directory (rename is only atomic within one filesystem). It starts with a
 * dot, so it can never collide with a config name, and stays short so long config names still fit.
 * It names the writing process, so a sweep can tell a dead writer's leftovers from a live one's.
 */
export function tempPathBeside(path: string): string {
  tempCounter += 1;
  return join(dirname(path), `.tmp-${process.pid}-${tempCounter}`);
}

/** The pid of the process that made temp file `name` (see tempPathBeside), or undefined if it is no temp name. */
export function tempWriterPid(name: string): number | undefined {
  const pid = /^\.tmp-(\d+)-\d+$/u.exec(name)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/**
 * Replaces `path` with `data` so that a reader (or a reboot) sees the old content or the new one, never
 * a mix: temp file in the same dir, fsync, rename over, fsync the dir. Creates the dir if missing.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const durable = options.durable ?? true;
  const temp = tempPathBeside(path);
  try {
    await writeNewFile(temp, data, durable);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (durable) await syncDir(dirname(path));
}

export async function writeJsonAtomic(path: string, value: unknown, options: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** The parsed JSON of `path`, or undefined when the file does not exist. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFileIfExists(path);
  return text === undefined ? undefined : (JSON.parse(text.toString('utf8')) as unknown);
}

export async function readFileIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a file that must not exist yet (`wx`), creating its dir if needed. */
export async function writeNewFile(temp: string, data: string | Uint8Array, durable: boolean): Promise<void> {
  const handle = await openCreatingDir(temp);
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Opens a fresh temp file; agent folders such as `.agent/blobs` are created on first use. */
async function openCreatingDir(temp: string): Promise<Awaited<ReturnType<typeof open>>> {
  try {
    return await open(temp, 'wx', 0o644);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    await mkdir(dirname(temp), { recursive: true });
    return await open(temp, 'wx', 0o644);
  }
}

/** The names in `path`, none when it does not exist (a brand-new drone). */
export async function namesIn(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
}

/** The size of `path` in bytes, 0 when it is gone. */
export async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return 0;
    throw error;
  }
}
