import type { KeyPath } from './key-path.js';
import { MAX_NESTING_DEPTH } from './limits.js';

/** Paths whose positions a scan should note, as a tree; the scan fills in where each key and value starts. */
export class PathTree {
  readonly children = new Map<string, PathTree>();
  keyOffset: number | undefined;
  valueOffset: number | undefined;

  add(path: KeyPath): void {
    path.reduce<PathTree>((node, segment) => {
      const key = String(segment);
      let child = node.children.get(key);
      if (child === undefined) node.children.set(key, (child = new PathTree()));
      return child;
    }, this);
  }
}

export interface RepeatedJsonKey {
  readonly path: KeyPath;
  readonly offset: number;
  readonly firstOffset: number;
}

export interface JsonScan {
  /** The first syntax error, or undefined when the text is one valid JSON value. */
  readonly error: { readonly offset: number; readonly message: string } | undefined;
  /** Keys given twice in one object, which JSON.parse would silently resolve to the last. */
  readonly repeated: readonly RepeatedJsonKey[];
}

interface Frame {
  readonly close: number;
  readonly node: PathTree | undefined;
  /** This container's key or index in its parent. */
  readonly segment: string | number | undefined;
  /** Object keys seen so far and where; undefined for an array. */
  readonly keys: Map<string, number> | undefined;
  current: string | number;
}

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;
const [QUOTE, COMMA, COLON, BACKSLASH] = [0x22, 0x2c, 0x3a, 0x5c];
const [OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET] = [0x7b, 0x7d, 0x5b, 0x5d];

/**
 * One pass over JSON text, without recursion: checks its syntax (and nesting depth), finds repeated
 * keys, and notes in `wanted` where its paths' keys and values start, so issues found on the parsed
 * data can name a line and column without a second, slower parser.
 */
export function scanJson(text: string, wanted: PathTree = new PathTree()): JsonScan {
  const repeated: RepeatedJsonKey[] = [];
  const stack: Frame[] = [];
  const fail = (offset: number, message: string): JsonScan => ({ error: { offset, message }, repeated });
  const skipSpace = (from: number): number => {
    let at = from;
    while (SPACE.has(text.charCodeAt(at))) at += 1;
    return at;
  };
  let i = skipSpace(text.charCodeAt(0) === 0xfeff ? 1 : 0);
  // Moved by enter() too, which TypeScript's narrowing does not follow: the assertion keeps it from taking
  // this for never undefined.
  let node = wanted as PathTree | undefined;

  for (;;) {
    // A value starts at i.
    if (node !== undefined) node.valueOffset = i;
    const char = text.charCodeAt(i);
    if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      if (stack.length >= MAX_NESTING_DEPTH) return fail(i, `nested deeper than ${MAX_NESTING_DEPTH} levels`);
      const isObject = char === OPEN_BRACE;
      const frame: Frame = {
        close: isObject ? CLOSE_BRACE : CLOSE_BRACKET,
        node,
        segment: stack.at(-1)?.current,
        keys: isObject ? new Map() : undefined,
        current: 0,
      };
      stack.push(frame);
      i = skipSpace(i + 1);
      if (text.charCodeAt(i) !== frame.close) {
        const next = enter(frame);
        if ('error' in next) return next;
        continue;
      }
      stack.pop();
      i += 1;
    } else if (char === QUOTE) {
      const end = stringEnd(i);
      if (typeof end !== 'number') return end;
      i = end + 1;
    } else {
      const end = scalarEnd(i);
      if (end === undefined) return fail(i, i >= text.length ? 'unexpected end of text' : 'expected a value');
      i = end;
    }

    // After a value: the next item of the enclosing container, its end, or the end of the text.
    for (;;) {
      i = skipSpace(i);
      const frame = stack.at(-1);
      if (frame === undefined) {
        return i === text.length ? { error: undefined, repeated } : fail(i, 'unexpected text after the end');
      }
      const next = text.charCodeAt(i);
      if (next === frame.close) {
        stack.pop();
        i += 1;
        continue;
      }
      if (next !== COMMA) return fail(i, `expected "," or "${String.fromCharCode(frame.close)}"`);
      i = skipSpace(i + 1);
      if (frame.keys === undefined) frame.current = (frame.current as number) + 1;
      const entered = enter(frame);
      if ('error' in entered) return entered;
      break;
    }
  }

  /** Moves to the first value of the next item of `frame`: past the key and colon in an object. */
  function enter(frame: Frame): { readonly ok: true } | JsonScan {
    if (frame.keys === undefined) {
      node = frame.node?.children.get(String(frame.current));
      return { ok: true };
    }
    if (text.charCodeAt(i) !== QUOTE) return fail(i, 'expected a key in double quotes');
    const end = stringEnd(i);
    if (typeof end !== 'number') return end;
    const raw = text.slice(i + 1, end);
    const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
    const first = frame.keys.get(key);
    if (first === undefined) frame.keys.set(key, i);
    else repeated.push({ path: [...pathOf(), key], offset: i, firstOffset: first });
    frame.current = key;
    node = frame.node?.children.get(key);
    if (node !== undefined) node.keyOffset = i;
    i = skipSpace(end + 1);
    if (text.charCodeAt(i) !== COLON) return fail(i, 'expected ":" after a key');
    i = skipSpace(i + 1);
    return { ok: true };
  }

  /** The path of the innermost container, from the segments the frames hold. */
  function pathOf(): (string | number)[] {
    return stack.slice(1).map((frame) => frame.segment as string | number);
  }

  /** The offset of the quote closing the string opening at `start`, or the syntax error in it. */
  function stringEnd(start: number): number | JsonScan {
    for (let at = start + 1; at < text.length; at += 1) {
      const char = text.charCodeAt(at);
      if (char === QUOTE) return at;
      if (char < 0x20) return fail(at, 'control character in a string (escape it)');
      if (char === BACKSLASH) {
        ESCAPE.lastIndex = at;
        if (!ESCAPE.test(text)) return fail(at, 'invalid escape in a string');
        at = ESCAPE.lastIndex - 1;
      }
    }
    return fail(start, 'unterminated string');
  }

  function scalarEnd(start: number): number | undefined {
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, start)) return start + literal.length;
    }
    NUMBER.lastIndex = start;
    return NUMBER.test(text) ? NUMBER.lastIndex : undefined;
  }
}
