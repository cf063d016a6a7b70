import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RolloutError } from '../../errors.js';
import { writeFileAtomic } from '../../infra/atomic-write.js';
import { withFileLock, type AssertHeld } from '../../infra/critical-section.js';
import { readTextIfExists } from '../../infra/optional-files.js';
import { emptyLockTable, parseLockTable, serializeLockTable, type LockTable } from './lock-table.js';

export interface TableChange<T> {
  readonly result: T;
  /** False when nothing changed, to skip the write (a busy poll, a no-op release). */
  readonly changed: boolean;
}

/** The lock table on disk: read without locking (writes are atomic renames), changed inside a critical section. */
export class LockTableFile {
  readonly path: string;
  #ready: Promise<unknown> | undefined;

  constructor(path: string) {
    this.path = path;
  }

  async read(): Promise<LockTable> {
    let text: string | undefined;
    try {
      text = await readTextIfExists(this.path);
    } catch (error) {
      throw this.#ioError('read', error);
    }
    return text === undefined ? emptyLockTable() : parseLockTable(text, this.path);
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
    const section = {
      name: `lock table ${this.path}`,
      code: 'E_LOCK_STORE',
      lockFailure: (error: unknown) => this.#ioError('lock', error),
    } as const;
    return withFileLock(this.path, section, async (assertHeld) => {
      const table = await this.read();
      const { result, changed } = change(table);
      if (changed) {
        await this.#write(table, assertHeld);
      }
      return result;
    });
  }

  async #write(table: LockTable, assertHeld: AssertHeld): Promise<void> {
    try {
      await writeFileAtomic(this.path, serializeLockTable(table), { beforeCommit: assertHeld });
    } catch (error) {
      throw error instanceof RolloutError ? error : this.#ioError('write', error);
    }
  }

  #ioError(action: string, error: unknown): RolloutError {
    return new RolloutError('E_LOCK_STORE', `Cannot ${action} lock table ${this.path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
