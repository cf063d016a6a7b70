import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';

/** How errors name a file: relative to the working directory when it is inside it, else absolute. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const absolute = resolve(cwd, path);
  const fromCwd = relative(cwd, absolute);
  return fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd) ? fromCwd : absolute;
}

/** A file's bytes, or a sentence saying why they could not be read, naming the path tried. */
export async function readInputFile(
  path: string,
): Promise<{ readonly bytes: Buffer } | { readonly problem: string }> {
  try {
    return { bytes: await readFile(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const shown = displayPath(path);
    if (code === 'ENOENT') return { problem: `file not found: ${shown}` };
    if (code === 'EISDIR') return { problem: `is a directory, not a file: ${shown}` };
    return { problem: `cannot read ${shown}: ${code ?? (error as Error).message}` };
  }
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8 (a decode would change them). */
export function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
