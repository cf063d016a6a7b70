import { RolloutError } from '../errors.js';

/** Errors of the embedded state store: each one names the file it is about, so a user knows what to look at. */

export function rolloutNotFound(id: string, root: string): RolloutError {
  return new RolloutError('E_ROLLOUT_NOT_FOUND', `No rollout ${id} in the state store ${root}`);
}

export function corruptFile(where: string, detail: string, cause?: unknown): RolloutError {
  return new RolloutError(
    'E_STATE_STORE',
    `State file ${where} is corrupt: ${detail}. Fix the file by hand or move it away; nothing was changed`,
    cause === undefined ? undefined : { cause },
  );
}

/** Wraps an I/O failure; errors that already say what went wrong pass through unchanged. */
export function storeFailure(action: string, file: string, error: unknown): Error {
  if (error instanceof RolloutError || error instanceof TypeError) {
    return error;
  }
  return new RolloutError('E_STATE_STORE', `Cannot ${action} ${file}: ${(error as Error).message}`, { cause: error });
}
