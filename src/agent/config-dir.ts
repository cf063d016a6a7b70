import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { RolloutError } from '../errors.js';

/**
 * Makes sure the drone's config dir is a directory this process can read and write, creating it (and
 * its parents) when missing. Anything else is bad input, `E_USAGE`: one line saying what to pass instead.
 */
export async function prepareConfigDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    if (!(await stat(dir)).isDirectory()) throw unusable(dir, 'it is a file, not a directory');
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof RolloutError) throw error;
    throw unusable(dir, reasonOf(error));
  }
}

function unusable(dir: string, why: string): RolloutError {
  return new RolloutError(
    'E_USAGE',
    `cannot use ${dir} as the drone's config dir: ${why}; pass --dir a directory this user can write (it is created if missing)`,
  );
}

function reasonOf(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EEXIST':
      return 'it is a file, not a directory';
    case 'ENOTDIR':
      return 'part of its path is a file, not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the filesystem is read-only';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
