import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import { RolloutError } from '../../errors.js';
import { emptyLockTable, parseLockTable, serializeLockTable, type LockTable } from './lock-table.js';

/**
 * How long a critical-section marker may go untouched before another process breaks it. The section
 * lasts a few milliseconds (read, write, fsync, rename) and proper-lockfile touches the marker every
 * stale/2 while it is held, so only a holder killed with SIGKILL (signal-exit cleans up on every other
 * exit) or frozen for 5 s is taken over; everyone else then waits at most this long. Breaking a stale
 * marker is not atomic in proper-lockfile (two waiters breaking it at once can both get in), which only
 * matters after such a kill mid-section; the fences the drones check still stop a stale writer.
 */
const SECTION_STALE_MS = 5_000;

/**
 * Retries of the critical section: short and jittered at first because sections are short, then every
 * 100 ms. Together at least ~7 s, so a waiter outlives a marker left by a killed holder (SECTION_STALE_MS)
 * instead of failing with E_LOCK_STORE.
 */
const SECTION_RETRIES = { retries: 80, factor: 1.5, minTimeout: 2, maxTimeout: 100, randomize: true };

export interface TableChange<T> {
  readonly result: T;
  /** False when nothing changed, to skip the write (a busy poll, a no-op release). */
  readonly changed: boolean;
}

/** The lock table on disk: read without locking (writes are atomic renames), changed inside a critical section. */
export class LockTableFile {
  readonly path: string;
  #ready: Promise<unknown> | undefined;
  #writes = 0;

  constructor(path: string) {
    this.path = path;
  }

  async read(): Promise<LockTable> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return emptyLockTable();
      }
      throw this.#ioError('read', error);
    }
    return parseLockTable(text, this.path);
  }

  /** Runs `change` on the current table with every other process kept out, and saves what it changed. */
  async update<T>(change: (table: LockTable) => TableChange<T>): Promise<T> {
    this.#ready ??= mkdir(dirname(this.path), { recursive: true });
    try {
      await this.#ready;
    } catch (error) {
      this.#ready = undefined;
      throw this.#ioError('create the directory of', error);
    }
    let compromised: Error | undefined;
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.path, {
        stale: SECTION_STALE_MS,
        retries: SECTION_RETRIES,
        realpath: false,
        // The default throws from a timer and would crash the process; checked before committing instead.
        onCompromised: (error) => {
          compromised = error;
        },
      });
    } catch (error) {
      throw this.#sectionError(error);
    }
    try {
      const table = await this.read();
      const { result, changed } = change(table);
      if (changed) {
        await this.#write(table, () => compromised);
      }
      return result;
    } finally {
      // The change is already durable or abandoned; a marker that cannot be removed is broken by the next
      // process after SECTION_STALE_MS, so failing the caller here would only misreport the outcome.
      await release().catch(() => undefined);
    }
  }

  async #write(table: LockTable, compromised: () => Error | undefined): Promise<void> {
    this.#writes += 1;
    const temp = `${this.path}.${process.pid}.${this.#writes}.tmp`;
    try {
      const handle = await open(temp, 'w', 0o644);
      try {
        await handle.writeFile(serializeLockTable(table), 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      const lost = compromised();
      if (lost !== undefined) {
        throw new RolloutError(
          'E_LOCK_STORE',
          `Lost the critical section of lock table ${this.path} (${lost.message}); nothing was written, try again`,
          { cause: lost },
        );
      }
      await rename(temp, this.path);
      await syncDirectory(dirname(this.path));
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error instanceof RolloutError ? error : this.#ioError('write', error);
    }
  }

  #sectionError(error: unknown): RolloutError {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      return new RolloutError(
        'E_LOCK_STORE',
        `Timed out waiting for the critical section of lock table ${this.path}: ${this.path}.lock is held by ` +
          `another process. If no rollout process is running from this state dir, remove ${this.path}.lock`,
        { cause: error },
      );
    }
    return this.#ioError('lock', error);
  }

  #ioError(action: string, error: unknown): RolloutError {
    return new RolloutError(
      'E_LOCK_STORE',
      `Cannot ${action} lock table ${this.path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Makes the rename itself durable; Windows cannot open a directory for fsync and does not need it. */
async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') {
    return;
  }
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
