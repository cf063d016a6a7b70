/**
 * Whether JSON text (already known to parse) repeats a key within one object. JSON.parse keeps the last
 * of two equal keys where the YAML parser rejects them, so JSON text is only taken as JSON without one.
 * One pass over the text: a set of keys per open object; a string is a key when a `:` follows it.
 */
export function hasDuplicateKeys(text: string): boolean {
  const open: Set<string>[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const char = text.charCodeAt(i);
    if (char === OPEN_BRACE) {
      open.push(new Set());
    } else if (char === CLOSE_BRACE) {
      open.pop();
    } else if (char === QUOTE) {
      const end = stringEnd(text, i);
      let next = end + 1;
      while (isWhitespace(text.charCodeAt(next))) next += 1;
      if (text.charCodeAt(next) === COLON) {
        const keys = open.at(-1);
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys === undefined || keys.has(key)) return true;
        keys.add(key);
      }
      i = end;
    }
  }
  return false;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/** The index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i += 1) {
    const char = text.charCodeAt(i);
    if (char === BACKSLASH) i += 1;
    else if (char === QUOTE) return i;
  }
  return text.length;
}

function isWhitespace(char: number): boolean {
  return char === 0x20 || char === 0x0a || char === 0x0d || char === 0x09;
}
