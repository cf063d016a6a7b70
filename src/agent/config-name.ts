import { WireError } from '../protocol/wire-errors.js';

/** Longest file name most filesystems accept (NAME_MAX). */
const MAX_NAME_LENGTH = 255;
/**
 * The safe set: nothing a shell, a terminal or a reviewer's eye can misread. Unicode is out on purpose:
 * a right-to-left override (U+202E) or a full-width dot makes one name look like another.
 */
const SAFE_NAME = /^[A-Za-z0-9._-]+$/u;

/** The documented rule, quoted in every refusal. */
export const CONFIG_NAME_RULE = `1 to ${MAX_NAME_LENGTH} characters from A-Z a-z 0-9 . _ -, not starting with "." and without ".."`;

/**
 * Throws `invalid_config_name` unless `name` is a plain file name inside the drone's config dir.
 * A leading dot is refused so no config can shadow the agent's own `.agent/` folder or its temp files.
 */
export function assertConfigName(name: string): void {
  const problem = configNameProblem(name);
  if (problem !== undefined) {
    throw new WireError(
      'invalid_config_name',
      `invalid config name ${shownName(name)}: ${problem}; a config name is ${CONFIG_NAME_RULE}, such as aim_lock_config.conf`,
    );
  }
}

/** What is wrong with `name` as a config name, or undefined when it is a safe one. */
export function configNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_NAME_LENGTH) return `it is longer than ${MAX_NAME_LENGTH} characters`;
  if (name.includes('/') || name.includes('\\')) return 'it contains a path separator';
  if (name.includes('..')) return 'it contains ".."';
  if (name.startsWith('.')) return 'it starts with "."';
  if (!SAFE_NAME.test(name)) return `it contains ${describeChar(firstUnsafe(name))}`;
  return undefined;
}

function firstUnsafe(name: string): string {
  for (const char of name) if (!SAFE_NAME.test(char)) return char;
  return '';
}

/** The name in quotes with everything outside printable ASCII escaped, so no character reorders or hides the message. */
export function shownName(name: string): string {
  const shown = name.length > 80 ? `${name.slice(0, 77)}...` : name;
  return `"${shown.replace(/[^\x20-\x7e]|["\\]/gu, (char) => (char === '"' || char === '\\' ? `\\${char}` : `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`))}"`;
}

/** Names the character by code point too, since the unsafe ones are often invisible. */
function describeChar(char: string): string {
  const codePoint = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(char) ? `"${char}" (${codePoint})` : codePoint;
}
