import { setTimeout as delay } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { RolloutError, type ErrorCode } from '../errors.js';
import { isErrno } from './errno.js';

/** Call before committing a change: throws if another process broke into the section meanwhile. */
export type AssertHeld = () => void;

export interface FileLockOptions {
  /** The guarded file as the errors name it, e.g. `lock table <path>`. */
  readonly name: string;
  /** The code of the errors for a section waited on too long or lost. */
  readonly code: Extract<ErrorCode, 'E_LOCK_STORE' | 'E_STATE_STORE'>;
  /**
   * How long the marker may go untouched before another process breaks it. Sections last a few
   * milliseconds and proper-lockfile touches the marker every stale/2 while it is held, so only a holder
   * killed with SIGKILL (signal-exit cleans up on every other exit) or frozen that long is taken over.
   * Breaking a stale marker is not atomic in proper-lockfile (two waiters breaking it at once can both
   * get in), which only matters after such a kill mid-section; the fences the drones check still stop a
   * stale writer.
   * @default 5000
   */
  readonly staleMs?: number;
  /**
   * Attempts after the first while another process holds the marker: short and jittered at first because
   * sections are short, then every 100 ms. The default waits ~7 s in all, so a waiter outlives a marker
   * left by a killed holder instead of failing.
   * @default 80
   */
  readonly retries?: number;
  /** What a failure to take the marker other than a timeout is thrown as. @default the error as is */
  readonly lockFailure?: (error: unknown) => Error;
}

const FIRST_WAIT_MS = 2;
const MAX_WAIT_MS = 100;

/**
 * Runs `work` inside `path`'s critical section (a `<path>.lock` marker), with every other caller kept
 * out, in this process or another. Only a marker held by someone else is waited for: any other failure
 * to take it (a missing directory's ENOENT, for the caller to say what is missing) fails at once.
 */
export async function withFileLock<T>(
  path: string,
  options: FileLockOptions,
  work: (assertHeld: AssertHeld) => Promise<T>,
): Promise<T> {
  let compromised: Error | undefined;
  const release = await acquire(path, options, (error) => {
    compromised = error;
  });
  try {
    return await work(() => {
      if (compromised !== undefined) {
        throw new RolloutError(
          options.code,
          `Lost the critical section of ${options.name} (${compromised.message}); nothing was written, try again`,
          {
            cause: compromised,
          },
        );
      }
    });
  } finally {
    // The change is durable or abandoned by now; a marker left behind is broken once stale, so failing
    // the caller here would only misreport the outcome.
    await release().catch(() => undefined);
  }
}

/** Retries only while another process holds the marker: proper-lockfile's own retries would also wait out an ENOENT. */
async function acquire(
  path: string,
  options: FileLockOptions,
  onCompromised: (error: Error) => void,
): Promise<() => Promise<void>> {
  const retries = options.retries ?? 80;
  for (let attempt = 0; ; attempt += 1) {
    try {
      // onCompromised: the default throws from a timer and would crash the process; checked before committing instead.
      return await lockfile.lock(path, { stale: options.staleMs ?? 5_000, retries: 0, realpath: false, onCompromised });
    } catch (error) {
      if (!isErrno(error, 'ELOCKED')) throw options.lockFailure?.(error) ?? error;
      if (attempt === retries) {
        throw new RolloutError(
          options.code,
          `Timed out waiting for the critical section of ${options.name}: ${path}.lock is held by another process. ` +
            `If no rollout process is running from this state dir, remove ${path}.lock`,
          { cause: error },
        );
      }
      const wait = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 1.5 ** attempt);
      await delay(wait * (0.5 + Math.random()));
    }
  }
}
