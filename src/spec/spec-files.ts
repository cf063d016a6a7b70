import { constants, type Stats } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { formatBytes } from './limits.js';

/** How errors name a file: relative to the working directory when it is inside it, else absolute. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const absolute = resolve(cwd, path);
  const fromCwd = relative(cwd, absolute);
  return fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd) ? fromCwd : absolute;
}

const MIN_CHUNK_BYTES = 64 * 1024;

export type FileRead = { readonly bytes: Buffer } | { readonly problem: string };

/** What a file is to the user and how large it may be: `{ what: 'a spec', limit: MAX_SPEC_BYTES }`. */
export interface ReadLimit {
  readonly what: string;
  readonly limit: number;
}

/**
 * A regular file's bytes, or a sentence saying why they could not be read, naming the path tried.
 * Devices, FIFOs and sockets are refused before they are opened (/dev/zero or a FIFO would never end),
 * a file over the limit before it is read, and the read itself stops past the limit, so a file that
 * grows while it is read is bounded too.
 */
export async function readInputFile(path: string, { what, limit }: ReadLimit): Promise<FileRead> {
  const shown = displayPath(path);
  try {
    const before = await stat(path);
    const kind = notRegular(before);
    if (kind !== undefined) return { problem: `${kind}, not a regular file: ${shown}` };
    if (before.size > limit) return { problem: tooLarge(shown, formatBytes(before.size), what, limit) };
    // O_NONBLOCK: should the path have become a FIFO since the stat, opening it must not wait for a writer.
    // Windows has no O_NONBLOCK, whatever the type of fs.constants says.
    const handle = await open(path, constants.O_RDONLY | ((constants.O_NONBLOCK as number | undefined) ?? 0));
    try {
      const kindNow = notRegular(await handle.stat());
      if (kindNow !== undefined) return { problem: `${kindNow}, not a regular file: ${shown}` };
      const chunks: Buffer[] = [];
      let size = 0;
      for (;;) {
        // One read for a file that did not change since the stat, a small one to see its end; never more
        // than one byte past the limit.
        const wanted = chunks.length === 0 ? Math.max(before.size + 1, MIN_CHUNK_BYTES) : MIN_CHUNK_BYTES;
        const chunk = Buffer.allocUnsafe(Math.min(wanted, limit + 1 - size));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        chunks.push(chunk.subarray(0, bytesRead));
        size += bytesRead;
        if (size > limit) {
          return { problem: tooLarge(shown, `over ${formatBytes(limit)} (it grew while being read)`, what, limit) };
        }
      }
      return { bytes: Buffer.concat(chunks, size) };
    } finally {
      await handle.close();
    }
  } catch (error) {
    return { problem: readProblem(error, shown) };
  }
}

/**
 * The real path of `path` (relative to `baseDir`) when it lies inside baseDir's tree, symlinks and
 * symlinked folders resolved, or why not. A spec handed to CI may come from anyone: its paths must not
 * reach /etc/shadow or ~/.ssh and push that file to every drone.
 */
export async function confinedPath(baseDir: string, path: string): Promise<{ readonly path: string } | FileRead> {
  const folder = displayPath(baseDir);
  const outside = (resolved: string): string =>
    `must be inside the spec's folder ${folder}, got ${JSON.stringify(path)}${resolved}; ` +
    'copy the file into that folder';
  const absolute = resolve(baseDir, path);
  // Checked on the path as written first, so a file outside is refused without even being looked at.
  if (!isInside(baseDir, absolute)) return { problem: outside('') };
  try {
    const [realBase, real] = await Promise.all([realpath(baseDir), realpath(absolute)]);
    if (!isInside(realBase, real)) return { problem: outside(`, which resolves to ${real}`) };
    return { path: real };
  } catch (error) {
    return { problem: readProblem(error, displayPath(absolute)) };
  }
}

function isInside(dir: string, path: string): boolean {
  const fromDir = relative(dir, path);
  return fromDir !== '' && fromDir !== '..' && !fromDir.startsWith(`..${sep}`) && !isAbsolute(fromDir);
}

function notRegular(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'is a directory';
  if (stats.isFIFO()) return 'is a FIFO';
  if (stats.isSocket()) return 'is a socket';
  return 'is a device';
}

function tooLarge(shown: string, size: string, what: string, limit: number): string {
  return `${shown} is ${size}, over the limit of ${formatBytes(limit)} for ${what}`;
}

function readProblem(error: unknown, shown: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return `file not found: ${shown}`;
  if (code === 'ELOOP') return `is a symlink loop: ${shown}`;
  return `cannot read ${shown}: ${code ?? (error as Error).message}`;
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8 (a decode would change them). */
export function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
