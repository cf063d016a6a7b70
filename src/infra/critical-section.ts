import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { RolloutError, type ErrorCode } from '../errors.js';
import { isErrno } from './errno.js';
import { hostIdentity } from './host.js';
import { isPid, isPidAlive } from './process.js';

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
   * A marker whose owner file names a dead process of this host and boot is broken at once instead.
   * Breaking a marker is not atomic (two waiters breaking it at once can both get in), which only
   * matters after such a kill mid-section; the fences the drones check still stop a stale writer.
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
  const marker = `${path}.lock`;
  for (let attempt = 0; ;) {
    try {
      // onCompromised: the default throws from a timer and would crash the process; checked before committing instead.
      const release = await lockfile.lock(path, {
        stale: options.staleMs ?? 5_000,
        retries: 0,
        realpath: false,
        onCompromised,
      });
      await signMarker(marker);
      return async () => {
        await rm(join(marker, OWNER_FILE), { force: true });
        await release();
      };
    } catch (error) {
      // proper-lockfile judged the marker stale but removes it with rmdir, which an owner file inside refuses.
      if (isErrno(error, 'ENOTEMPTY')) {
        await removeMarker(marker, null);
        continue;
      }
      if (!isErrno(error, 'ELOCKED')) throw options.lockFailure?.(error) ?? error;
      const owner = await ownerOf(marker);
      if (owner !== null && isDeadHere(owner) && (await removeMarker(marker, owner))) continue;
      if (attempt === retries) {
        throw new RolloutError(
          options.code,
          `Timed out waiting for the critical section of ${options.name}: ${path}.lock is held by another process. ` +
            `If no rollout process is running from this state dir, remove ${path}.lock`,
          { cause: error },
        );
      }
      const wait = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 1.5 ** attempt);
      attempt += 1;
      await delay(wait * (0.5 + Math.random()));
    }
  }
}

/** The file in a marker that names its holder, so that a holder killed mid-section is known dead at once. */
const OWNER_FILE = 'owner.json';

interface MarkerOwner {
  readonly host: string;
  readonly bootId: string;
  readonly pid: number;
}

/**
 * Writes this process into the marker it just took. The write changes the marker's mtime, which
 * proper-lockfile compares with the one it set to tell whether someone broke in, so it is set back.
 * Without an owner file (a failed write) the marker is broken only once stale, as before.
 */
async function signMarker(marker: string): Promise<void> {
  const taken = await stat(marker);
  const owner: MarkerOwner = { ...hostIdentity(), pid: process.pid };
  await writeFile(join(marker, OWNER_FILE), JSON.stringify(owner)).catch(() => undefined);
  await utimes(marker, taken.atime, taken.mtime);
}

async function ownerOf(marker: string): Promise<MarkerOwner | null> {
  try {
    const owner = JSON.parse(await readFile(join(marker, OWNER_FILE), 'utf8')) as Partial<MarkerOwner> | null;
    if (typeof owner?.host !== 'string' || typeof owner.bootId !== 'string' || typeof owner.pid !== 'number') {
      return null;
    }
    return isPid(owner.pid) ? { host: owner.host, bootId: owner.bootId, pid: owner.pid } : null;
  } catch {
    // Not written yet (its holder is between taking the marker and signing it), or gone: not known dead.
    return null;
  }
}

/** A holder on this host that is no longer running: its pid is gone, or the host rebooted since. */
function isDeadHere(owner: MarkerOwner): boolean {
  const here = hostIdentity();
  return owner.host === here.host && (owner.bootId !== here.bootId || !isPidAlive(owner.pid));
}

const sameOwner = (a: MarkerOwner | null, b: MarkerOwner | null) =>
  a?.pid === b?.pid && a?.host === b?.host && a?.bootId === b?.bootId;

/**
 * Moves the marker aside and removes it, if it is still the one `owner` held (null: a stale marker,
 * whoever held it). A marker that another waiter broke and retook meanwhile is put back. Answers whether
 * the marker is gone, so the caller may try again at once.
 */
async function removeMarker(marker: string, owner: MarkerOwner | null): Promise<boolean> {
  const aside = `${marker}.broken-${randomUUID()}`;
  try {
    await rename(marker, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return true;
    throw error;
  }
  if (owner !== null && !sameOwner(await ownerOf(aside), owner)) {
    await rename(aside, marker).catch(() => undefined);
    return false;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}
