import { open, type FileHandle } from 'node:fs/promises';

/**
 * Append-only NDJSON files. A crash in the middle of an append leaves a last line without its newline:
 * readers skip that torn tail (its append never returned, so nobody was told it was saved), and the next
 * append cuts it off before writing, so it can never glue itself to the front of a good line.
 */

const NEWLINE = 0x0a;
const SCAN_CHUNK = 64 * 1024;

/**
 * Appends `text` (whole lines, each ending in a newline) and fsyncs it; the file is created if missing,
 * but not its directory. The caller keeps other writers out while the tail is repaired.
 * @returns the file's size afterwards, in bytes
 */
export async function appendLines(path: string, text: string): Promise<number> {
  const data = Buffer.from(text, 'utf8');
  const handle = await open(path, 'a+', 0o644);
  try {
    const { size } = await handle.stat();
    const complete = await completeLength(handle, size);
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
