import { randomUUID } from 'node:crypto';
import { link, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
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
   * milliseconds and the holder touches the marker every staleMs / 2, so only a holder frozen that long,
   * or killed on another host, is taken over this way. A marker that names a dead process of this host
   * (SIGKILL mid-section) is broken at once. Breaking is not atomic (two waiters breaking one marker at
   * once can both get in), which only matters after such a kill mid-section; the fences the drones check
   * still stop a stale writer.
   * @default 5000
   */
  readonly staleMs?: number;
  /**
   * Attempts after the first while another process holds the marker: short and jittered at first because
   * sections are short, then every 100 ms. The default waits ~7 s in all, so a waiter outlives a marker
   * left by a frozen holder instead of failing.
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
  const held = await acquire(path, options);
  try {
    return await work(() => {
      if (held.lost !== undefined) {
        throw new RolloutError(
          options.code,
          `Lost the critical section of ${options.name} (${held.lost}); nothing was written, try again`,
        );
      }
    });
  } finally {
    // The change is durable or abandoned by now; a marker left behind is broken as its owner is dead,
    // so failing the caller here would only misreport the outcome.
    await held.release().catch(() => undefined);
  }
}

/** Who holds a marker: the marker file's content. */
interface MarkerOwner {
  readonly host: string;
  readonly bootId: string;
  readonly pid: number;
}

/** What a waiter sees of a marker: which file it is, when it was last touched, and who wrote it. */
interface MarkerSeen {
  readonly ino: number;
  readonly mtimeMs: number;
  /** Null for a marker that names nobody (one left by an earlier version, a directory). */
  readonly owner: MarkerOwner | null;
}

async function acquire(path: string, options: FileLockOptions): Promise<HeldMarker> {
  const marker = `${path}.lock`;
  const staleMs = options.staleMs ?? 5_000;
  const retries = options.retries ?? 80;
  const owner = JSON.stringify({ ...hostIdentity(), pid: process.pid } satisfies MarkerOwner);
  for (let attempt = 0; ;) {
    let outcome: HeldMarker | 'again' | 'held';
    try {
      outcome = await tryOnce(marker, owner, staleMs);
    } catch (error) {
      throw options.lockFailure?.(error) ?? error;
    }
    if (outcome instanceof HeldMarker) return outcome;
    if (outcome === 'again') continue;
    if (attempt === retries) {
      throw new RolloutError(
        options.code,
        `Timed out waiting for the critical section of ${options.name}: ${marker} is held by another process. ` +
          `If no rollout process is running from this state dir, remove ${marker}`,
      );
    }
    const wait = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 1.5 ** attempt);
    attempt += 1;
    await delay(wait * (0.5 + Math.random()));
  }
}

/** Takes the marker, or says to try again at once (it was gone or broken) or that someone holds it. */
async function tryOnce(marker: string, owner: string, staleMs: number): Promise<HeldMarker | 'again' | 'held'> {
  if (await create(marker, owner)) return HeldMarker.start(marker, staleMs);
  const seen = await look(marker);
  if (seen === null) return 'again';
  const abandoned = seen.owner !== null && isDeadHere(seen.owner);
  if ((abandoned || Date.now() - seen.mtimeMs > staleMs) && (await breakMarker(marker, seen.ino))) return 'again';
  return 'held';
}

/**
 * Creates the marker with its owner already in it: written to a draft of its own, then hard-linked
 * into place, which fails if the marker exists. So no marker is ever seen without its owner, even one
 * whose holder was killed the instant it took it. Answers false if someone else holds it.
 */
async function create(marker: string, owner: string): Promise<boolean> {
  const draft = `${marker}.${randomUUID()}`;
  await writeFile(draft, owner);
  try {
    await link(draft, marker);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await rm(draft, { force: true });
  }
}

/** The marker as it is now, or null if it is gone (try again at once). */
async function look(marker: string): Promise<MarkerSeen | null> {
  try {
    const found = await stat(marker);
    const owner = found.isFile() ? parseOwner(await readFile(marker, 'utf8')) : null;
    return { ino: found.ino, mtimeMs: found.mtimeMs, owner };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
}

function parseOwner(text: string): MarkerOwner | null {
  try {
    const owner = JSON.parse(text) as Partial<MarkerOwner> | null;
    if (typeof owner?.host !== 'string' || typeof owner.bootId !== 'string' || typeof owner.pid !== 'number') {
      return null;
    }
    return isPid(owner.pid) ? { host: owner.host, bootId: owner.bootId, pid: owner.pid } : null;
  } catch {
    return null;
  }
}

/** A holder on this host that is no longer running: its pid is gone, or the host rebooted since. */
function isDeadHere(owner: MarkerOwner): boolean {
  const here = hostIdentity();
  return owner.host === here.host && (owner.bootId !== here.bootId || !isPidAlive(owner.pid));
}

/**
 * Moves the marker `ino` aside and removes it. If another waiter broke it and took a new one meanwhile,
 * that one was moved instead: it is linked back, unless yet another marker exists by then. Answers
 * whether the marker seen is gone, so the caller may try again at once.
 */
async function breakMarker(marker: string, ino: number): Promise<boolean> {
  const aside = `${marker}.broken-${randomUUID()}`;
  try {
    await rename(marker, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return true;
    throw error;
  }
  const moved = await stat(aside);
  if (moved.ino !== ino && moved.isFile()) {
    await link(aside, marker).catch(() => undefined);
    await unlink(aside);
    return false;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}

/** A marker this process holds: touched every staleMs / 2, so that nobody judges it stale. */
class HeldMarker {
  #timer: NodeJS.Timeout | undefined;
  #touchedAt = performance.now();
  #lost: string | undefined;
  #released = false;

  private constructor(
    private readonly marker: string,
    private readonly ino: number,
    private readonly staleMs: number,
  ) {}

  static async start(marker: string, staleMs: number): Promise<HeldMarker> {
    const held = new HeldMarker(marker, (await stat(marker)).ino, staleMs);
    held.#schedule();
    return held;
  }

  /** Why the section may have been broken into, once it may have been. */
  get lost(): string | undefined {
    return this.#lost;
  }

  #schedule(): void {
    if (this.#released) return;
    this.#timer = setTimeout(() => void this.#touch(), this.staleMs / 2);
    this.#timer.unref();
  }

  async #touch(): Promise<void> {
    if (performance.now() - this.#touchedAt > this.staleMs) {
      this.#lost = `the marker went untouched for more than ${this.staleMs} ms, so another process may have broken it`;
      return;
    }
    try {
      const found = await stat(this.marker);
      if (this.#released) return;
      if (found.ino !== this.ino) {
        this.#lost = 'another process replaced the marker';
        return;
      }
      const now = new Date();
      await utimes(this.marker, now, now);
      this.#touchedAt = performance.now();
      this.#schedule();
    } catch (error) {
      if (!this.#released) this.#lost = isErrno(error, 'ENOENT') ? 'another process removed the marker' : String(error);
    }
  }

  async release(): Promise<void> {
    this.#released = true;
    clearTimeout(this.#timer);
    if (this.#lost !== undefined) return;
    const found = await stat(this.marker).catch(() => undefined);
    if (found?.ino === this.ino) await unlink(this.marker);
  }
}
