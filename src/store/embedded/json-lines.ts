import { open, type FileHandle } from 'node:fs/promises';
import { isErrno } from '../../infra/errno.js';

/**
 * Append-only NDJSON files. A crash in the middle of an append leaves a last line without its newline:
 * readers skip that torn tail (its append never returned, so nobody was told it was saved), and the next
 * append cuts it off before writing, so it can never glue itself to the front of a good line.
 */

const NEWLINE = 0x0a;
const SCAN_CHUNK = 64 * 1024;

/** What an append sees of the file it appends to, read only when asked for. */
export interface AppendTarget {
  /** The last complete, non-blank line, or undefined when there is none. */
  lastLine(): Promise<string | undefined>;
  /** Every complete, non-blank line. */
  completeLines(): Promise<TextLine[]>;
}

/**
 * Appends `text` (whole lines, each ending in a newline) and fsyncs it; the file is created if missing,
 * but not its directory. `text` may be made from what the file holds, seen without its torn tail. The
 * caller keeps other writers out while the tail is repaired.
 * @returns the file's size afterwards, in bytes
 */
export async function appendLines(
  path: string,
  text: string | ((target: AppendTarget) => Promise<string>),
): Promise<number> {
  const handle = await open(path, 'a+', 0o644);
  try {
    const { size } = await handle.stat();
    const complete = await completeLength(handle, size);
    const data = Buffer.from(
      typeof text === 'string'
        ? text
        : await text({
            lastLine: () => lastLine(handle, complete),
            completeLines: async () => completeLines((await readRange(handle, 0, complete)).toString('utf8')),
          }),
      'utf8',
    );
    if (complete < size) {
      await handle.truncate(complete);
    }
    await handle.writeFile(data);
    await handle.sync();
    return complete + data.length;
  } finally {
    await handle.close();
  }
}

export interface TextLine {
  /** 1-based, as an editor shows it. */
  readonly number: number;
  readonly text: string;
}

/** The complete, non-blank lines of an NDJSON file's text; a torn last line is left out. */
export function completeLines(text: string): TextLine[] {
  const parts = text.split('\n');
  // After the last newline comes either nothing or a line still being written (or torn by a crash).
  parts.pop();
  const lines: TextLine[] = [];
  parts.forEach((part, index) => {
    if (part.trim() !== '') {
      lines.push({ number: index + 1, text: part });
    }
  });
  return lines;
}

/**
 * The complete, non-blank lines of an NDJSON file, read as they stream: the whole text is never held,
 * only the line being read (a progress batch of 100,000 drones is tens of MB per file, but a few MB per
 * line). A torn last line is left out, as by completeLines; a missing file has none.
 */
export async function* streamCompleteLines(path: string): AsyncGenerator<TextLine> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  try {
    // Pieces of the line being read: joined once its newline arrives, so a long line is copied once.
    let pieces: string[] = [];
    let number = 0;
    for await (const chunk of handle.createReadStream({ encoding: 'utf8', autoClose: false })) {
      const text = chunk as string;
      let start = 0;
      for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
        pieces.push(text.slice(start, newline));
        const line = pieces.join('');
        pieces = [];
        number += 1;
        if (line.trim() !== '') yield { number, text: line };
        start = newline + 1;
      }
      if (start < text.length) pieces.push(text.slice(start));
    }
    // What is left in `pieces` had no newline: a line still being written, or torn by a crash.
  } finally {
    await handle.close();
  }
}

/** Bytes up to and including the last newline: everything but a torn tail. */
async function completeLength(handle: FileHandle, size: number): Promise<number> {
  const last = Buffer.alloc(1);
  if (size === 0 || ((await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] === NEWLINE)) {
    return size;
  }
  // Only after a crash: look back for the end of the last whole line.
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - SCAN_CHUNK);
    const chunk = Buffer.alloc(end - start);
    await handle.read(chunk, 0, chunk.length, start);
    const newline = chunk.lastIndexOf(NEWLINE);
    if (newline !== -1) {
      return start + newline + 1;
    }
    end = start;
  }
  return 0;
}

async function readRange(handle: FileHandle, start: number, end: number): Promise<Buffer> {
  const buffer = Buffer.alloc(end - start);
  let read = 0;
  while (read < buffer.length) {
    const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}

/** The last non-blank line before `end` (just past a newline, or 0), read back from the end in chunks. */
async function lastLine(handle: FileHandle, end: number): Promise<string | undefined> {
  // `tail` holds the bytes from `from` to `end`; a line is decoded only once its start is in it.
  let tail = Buffer.alloc(0);
  let from = end;
  // Where the line being looked at ends: the offset of its newline.
  let lineEnd = end - 1;
  while (lineEnd >= 0) {
    const searchFrom = lineEnd - from - 1;
    const found = searchFrom >= 0 ? tail.lastIndexOf(NEWLINE, searchFrom) : -1;
    if (found === -1 && from > 0) {
      const start = Math.max(0, from - SCAN_CHUNK);
      tail = Buffer.concat([await readRange(handle, start, from), tail]);
      from = start;
      continue;
    }
    const lineStart = from + found + 1;
    const line = tail.subarray(lineStart - from, lineEnd - from).toString('utf8');
    if (line.trim() !== '') {
      return line;
    }
    lineEnd = lineStart - 1;
  }
  return undefined;
}
