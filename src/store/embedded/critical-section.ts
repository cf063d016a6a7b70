import { setTimeout as delay } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { RolloutError } from '../../errors.js';
import { KeyedQueue } from '../../infra/keyed-queue.js';

/**
 * How long a section marker may go untouched before another process breaks it. Sections last a few
 * milliseconds and proper-lockfile touches the marker every stale/2 while held, so only a holder killed
 * with SIGKILL (or frozen for 5 s) is taken over. Same trade-off as the lock table (src/lock/embedded/table-file.ts).
 */
const SECTION_STALE_MS = 5_000;

/**
 * Waits between attempts: short at first because sections are short, then every 100 ms; jittered so
 * that waiters spread out. Together at least ~7 s, so a waiter outlives a dead holder's marker.
 */
const SECTION_RETRIES = 80;
const FIRST_WAIT_MS = 2;
const MAX_WAIT_MS = 100;

/** Call before committing a change: throws if another process broke into the section meanwhile. */
export type AssertHeld = () => void;

/**
 * Cross-process critical sections, one per file guarded (`<file>.lock`). Callers in this process queue
 * up in memory first, so they wait for each other instead of polling the marker.
 */
export class CriticalSections {
  readonly #queue = new KeyedQueue();

  /**
   * Runs `work` with every other writer of `file` kept out. A missing directory fails with the plain
   * ENOENT error, for the caller to say which rollout is missing.
   */
  run<T>(file: string, work: (assertHeld: AssertHeld) => Promise<T>): Promise<T> {
    return this.#queue.run(file, () => hold(file, work));
  }
}

async function hold<T>(file: string, work: (assertHeld: AssertHeld) => Promise<T>): Promise<T> {
  let compromised: Error | undefined;
  const release = await acquire(file, (error) => {
    compromised = error;
  });
  try {
    return await work(() => {
      if (compromised !== undefined) {
        throw new RolloutError(
          'E_STATE_STORE',
          `Lost the critical section of ${file} (${compromised.message}); nothing was written, try again`,
          { cause: compromised },
        );
      }
    });
  } finally {
    // The change is durable or abandoned by now; a marker left behind is broken after SECTION_STALE_MS.
    await release().catch(() => undefined);
  }
}

/**
 * Retries only while another process holds the marker: proper-lockfile's own retries would also wait
 * out an ENOENT (a rollout that does not exist) for the whole ~7 s.
 */
async function acquire(file: string, onCompromised: (error: Error) => void): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      // onCompromised: the default throws from a timer and would crash the process; checked before committing instead.
      return await lockfile.lock(file, { stale: SECTION_STALE_MS, retries: 0, realpath: false, onCompromised });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw error;
      }
      if (attempt === SECTION_RETRIES) {
        throw new RolloutError(
          'E_STATE_STORE',
          `Timed out waiting for the critical section of ${file}: ${file}.lock is held by another process. ` +
            `If no rollout process is running from this state dir, remove ${file}.lock`,
          { cause: error },
        );
      }
      const wait = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 1.5 ** attempt);
      await delay(wait * (0.5 + Math.random()));
    }
  }
}
