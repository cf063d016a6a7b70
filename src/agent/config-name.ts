import { WireError } from './wire-errors.js';

/** Longest file name most filesystems accept (NAME_MAX), counted in UTF-8 bytes as they count it. */
const MAX_NAME_BYTES = 255;

/**
 * Throws `invalid_config_name` unless `name` is a plain file name inside the drone's config dir.
 * A leading dot is refused so no config can shadow the agent's own `.agent/` folder or its temp files.
 */
export function assertConfigName(name: string): void {
  const problem = configNameProblem(name);
  if (problem !== undefined) {
    throw new WireError('invalid_config_name', `invalid config name ${JSON.stringify(name)}: ${problem}; use a plain file name such as aim_lock_config.conf`);
  }
}

function configNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `it is longer than ${MAX_NAME_BYTES} bytes`;
  if (name.includes('/') || name.includes('\\')) return 'it contains a path separator';
  if (name.includes('..')) return 'it contains ".."';
  if (name.startsWith('.')) return 'it starts with "."';
  // Control characters (NUL above all) are never part of a legitimate config name.
  if (/[\u0000-\u001f\u007f]/u.test(name)) return 'it contains a control character';
  return undefined;
}
