import type { Dirent } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { RolloutError } from '../../errors.js';
import { isErrno } from '../../infra/errno.js';
import { argumentError, assertNonEmptyString } from '../../infra/argument-checks.js';
import { syncDirectory, writeFileAtomic } from '../../infra/atomic-write.js';
import { withFileLock, type AssertHeld } from '../../infra/critical-section.js';
import { InFlight } from '../../infra/in-flight.js';
import { KeyedQueue } from '../../infra/keyed-queue.js';
import { readTextIfExists } from '../../infra/optional-files.js';
import { assertUnchained } from '../audit-chain.js';
import { appendAuditEvents, readAuditEvents, readAuditLines } from './audit-log.js';
import { claimCommands, enqueueCommand } from './command-queue.js';
import { appendProgress, loadProgress } from './progress-log.js';
import { readRecord } from './record-file.js';
import {
  auditBatchSchema,
  isPlainAuditBatch,
  isPlainProgressBatch,
  checkInput,
  operatorCommandSchema,
  parseStored,
  progressBatchSchema,
  rolloutRecordSchema,
  serializeRecord,
} from '../record-schemas.js';
import { filesIn, rolloutFiles, rolloutsRoot, type RolloutFiles } from './rollout-files.js';
import { rolloutNotFound, storeFailure } from '../store-errors.js';
import type {
  AuditEvent,
  AuditLine,
  DroneProgressRecord,
  OperatorCommand,
  RolloutRecord,
  StateStore,
} from '../types.js';

export interface EmbeddedStateStoreOptions {
  /** The state dir (`--state-dir`); each rollout keeps its files under `<dir>/rollouts/<id>/`. */
  readonly dir: string;
  /**
   * Stamps `updated` when a patch leaves it out, and orders operator commands.
   * @default Date.now
   */
  readonly now?: () => number;
}

/**
 * The default state store for one machine: plain files under the state dir, no server. Every process
 * that opens the same dir sees the same rollouts; writes to one file are serialised across processes
 * by a critical section on that file.
 */
export function createEmbeddedStateStore(options: EmbeddedStateStoreOptions): StateStore {
  return new EmbeddedStateStore(options);
}

let stagings = 0;

class EmbeddedStateStore implements StateStore {
  readonly #root: string;
  readonly #now: () => number;
  /** Callers in this process queue up for a file's section in memory, instead of polling its marker. */
  readonly #sectionQueue = new KeyedQueue();
  readonly #inFlight = new InFlight();

  constructor(options: EmbeddedStateStoreOptions) {
    assertNonEmptyString('dir', options.dir);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw argumentError('now', 'a function', options.now);
    }
    this.#root = rolloutsRoot(resolve(options.dir));
    this.#now = options.now ?? Date.now;
  }

  /**
   * Builds the rollout in a hidden staging dir and renames it into place, so a rollout dir always holds
   * a record, and a second create of the same id fails instead of overwriting the first.
   */
  async createRollout(record: RolloutRecord): Promise<void> {
    const checked = checkInput(rolloutRecordSchema, record, 'record');
    return this.#run(async () => {
      const target = join(this.#root, checked.id);
      stagings += 1;
      const staging = filesIn(join(this.#root, `.creating-${checked.id}.${process.pid}.${stagings}`), checked.id);
      try {
        await mkdir(staging.taken, { recursive: true });
        await writeFileAtomic(staging.record, serializeRecord(checked));
        await syncDirectory(staging.commands);
        await rename(staging.dir, target);
      } catch (error) {
        await rm(staging.dir, { recursive: true, force: true }).catch(() => undefined);
        if (isErrno(error, 'EEXIST', 'ENOTEMPTY')) {
          throw new RolloutError('E_STATE_STORE', `Rollout ${checked.id} already exists in ${target}; use another id`, {
            cause: error,
          });
        }
        throw storeFailure('create rollout', target, error);
      }
      await syncDirectory(this.#root).catch((error: unknown) => {
        throw storeFailure('sync', this.#root, error);
      });
    });
  }

  async updateRollout(id: string, patch: Partial<Omit<RolloutRecord, 'id'>>): Promise<RolloutRecord> {
    return this.#run(() =>
      this.#write(id, 'record', 'update', (files) =>
        this.#section(files.record, async (assertHeld) => {
          const current = await readRecord(files);
          if (current === undefined) {
            throw rolloutNotFound(id, this.#root);
          }
          const merged = { ...current, updated: this.#now(), ...definedFields(patch), id: current.id };
          const next = checkInput(rolloutRecordSchema, merged, 'patch');
          await writeFileAtomic(files.record, serializeRecord(next), { beforeCommit: assertHeld });
          return next;
        }),
      ),
    );
  }

  async getRollout(id: string): Promise<RolloutRecord | null> {
    return this.#run(() => this.#read(id, null, 'record', 'read', async (files) => (await readRecord(files)) ?? null));
  }

  /** A directory without a record (made by hand, or half-removed) is not a rollout and is passed over. */
  async listRollouts(): Promise<RolloutRecord[]> {
    return this.#run(async () => {
      let entries: Dirent[];
      try {
        entries = await readdir(this.#root, { withFileTypes: true });
      } catch (error) {
        if (isErrno(error, 'ENOENT')) {
          return [];
        }
        throw storeFailure('list', this.#root, error);
      }
      const records: RolloutRecord[] = [];
      for (const entry of entries) {
        // Staging dirs start with a dot, so they never match a rollout id.
        const files = entry.isDirectory() ? rolloutFiles(this.#root, entry.name) : undefined;
        if (files === undefined) {
          continue;
        }
        try {
          const record = await readRecord(files);
          if (record !== undefined) {
            records.push(record);
          }
        } catch (error) {
          throw storeFailure('read', files.record, error);
        }
      }
      return records.sort(newestFirst);
    });
  }

  async saveSnapshot(id: string, snapshot: unknown): Promise<void> {
    // undefined for undefined, a function or a symbol, whatever the type of JSON.stringify says.
    const text = JSON.stringify(snapshot) as string | undefined;
    if (text === undefined) {
      throw new TypeError(`Expected \`snapshot\` to be JSON-serialisable, got a ${typeof snapshot}`);
    }
    return this.#run(() =>
      this.#write(id, 'snapshot', 'write', (files) =>
        // Serialised so that of two saves the later one is what stays on disk.
        this.#section(files.snapshot, (assertHeld) =>
          writeFileAtomic(files.snapshot, text, { beforeCommit: assertHeld }),
        ),
      ),
    );
  }

  async loadSnapshot(id: string): Promise<unknown> {
    return this.#run(() =>
      this.#read(id, null, 'snapshot', 'read', async (files) => {
        const text = await readTextIfExists(files.snapshot);
        return text === undefined ? null : parseStored(z.unknown(), text, files.snapshot);
      }),
    );
  }

  /** An empty batch writes nothing. */
  async saveProgress(id: string, changes: Readonly<Record<string, DroneProgressRecord>>): Promise<void> {
    const checked = checkInput(progressBatchSchema, changes, 'changes', isPlainProgressBatch);
    return this.#run(async () => {
      if (Object.keys(checked).length > 0) {
        await this.#write(id, 'progressLog', 'append to', (files) =>
          this.#section(files.progressLog, (assertHeld) => appendProgress(files, checked, assertHeld)),
        );
      }
    });
  }

  /** Read inside the section so that a compaction running meanwhile cannot be seen half done. */
  async loadProgress(id: string): Promise<Record<string, DroneProgressRecord>> {
    return this.#run(() =>
      this.#read(id, {}, 'progressLog', 'read', async (files) => {
        try {
          return await this.#section(files.progressLog, () => loadProgress(files));
        } catch (error) {
          // The directory went away meanwhile: removed rollouts have no progress either.
          if (isErrno(error, 'ENOENT')) {
            return {};
          }
          throw error;
        }
      }),
    );
  }

  /**
   * Chains the batch on from the file's last line, read inside the section, so appends from this
   * instance, others and other processes chain one after the other. An empty batch writes nothing.
   */
  async appendAudit(id: string, events: readonly AuditEvent[]): Promise<void> {
    const checked = checkInput(auditBatchSchema, events, 'events', isPlainAuditBatch);
    assertUnchained(checked, 'events');
    return this.#run(async () => {
      if (checked.length > 0) {
        await this.#write(id, 'audit', 'append to', (files) =>
          this.#section(files.audit, (assertHeld) => appendAuditEvents(files.audit, id, checked, assertHeld)),
        );
      }
    });
  }

  async readAudit(id: string): Promise<AuditEvent[]> {
    return this.#run(() => this.#read(id, [], 'audit', 'read', (files) => readAuditEvents(files.audit)));
  }

  /** The lines of `audit.ndjson` as they are, numbered as in the file. */
  async readAuditLines(id: string): Promise<AuditLine[]> {
    return this.#run(() => this.#read(id, [], 'audit', 'read', (files) => readAuditLines(files.audit)));
  }

  async sendCommand(id: string, command: OperatorCommand): Promise<void> {
    const checked = checkInput(operatorCommandSchema, command, 'command');
    return this.#run(() =>
      this.#write(id, 'commands', 'queue a command in', (files) => enqueueCommand(files, checked, this.#now())),
    );
  }

  async takeCommands(id: string): Promise<OperatorCommand[]> {
    return this.#run(() => this.#read(id, [], 'commands', 'take commands from', (files) => claimCommands(files)));
  }

  /**
   * Renames the rollout's dir out of sight (a dot name, which no listing or id matches), then deletes
   * it: a crash in between leaves a hidden dir and never half a rollout.
   */
  async removeRollout(id: string): Promise<boolean> {
    return this.#run(async () => {
      const files = rolloutFiles(this.#root, id);
      if (files === undefined) {
        return false;
      }
      stagings += 1;
      const doomed = join(this.#root, `.removing-${id}.${process.pid}.${stagings}`);
      try {
        await rename(files.dir, doomed);
      } catch (error) {
        if (isErrno(error, 'ENOENT')) {
          return false;
        }
        throw storeFailure('remove', files.dir, error);
      }
      try {
        await syncDirectory(this.#root);
        await rm(doomed, { recursive: true, force: true });
      } catch (error) {
        throw storeFailure('remove', doomed, error);
      }
      return true;
    });
  }

  /** Waits for the calls in flight; later calls fail with E_STATE_STORE. */
  async close(): Promise<void> {
    await this.#inFlight.drain();
  }

  /** Runs a read of a rollout; an id that names no rollout reads as `missing`. */
  async #read<T>(
    id: string,
    missing: T,
    file: Exclude<keyof RolloutFiles, 'id'>,
    action: string,
    read: (files: RolloutFiles) => Promise<T>,
  ): Promise<T> {
    const files = rolloutFiles(this.#root, id);
    if (files === undefined) {
      return missing;
    }
    try {
      return await read(files);
    } catch (error) {
      throw storeFailure(action, files[file], error);
    }
  }

  /**
   * Runs a write to an existing rollout. Its directory is created with its record, so a missing
   * directory (the ENOENT of the section marker or of a temp file) means an unknown id.
   */
  async #write<T>(
    id: string,
    file: Exclude<keyof RolloutFiles, 'id'>,
    action: string,
    write: (files: RolloutFiles) => Promise<T>,
  ): Promise<T> {
    const files = rolloutFiles(this.#root, id);
    if (files === undefined) {
      throw rolloutNotFound(id, this.#root);
    }
    try {
      return await write(files);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        throw rolloutNotFound(id, this.#root);
      }
      throw storeFailure(action, files[file], error);
    }
  }

  /** Runs `work` with every other writer of `file` kept out; a missing directory fails with the plain ENOENT. */
  #section<T>(file: string, work: (assertHeld: AssertHeld) => Promise<T>): Promise<T> {
    return this.#sectionQueue.run(file, () => withFileLock(file, { name: file, code: 'E_STATE_STORE' }, work));
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    return this.#inFlight.run(
      operation,
      () => new RolloutError('E_STATE_STORE', `The state store on ${this.#root} is closed`),
    );
  }
}

/** Leaves out keys set to undefined: in a Partial patch they mean "not given", not "erase". */
function definedFields(patch: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}

function newestFirst(a: RolloutRecord, b: RolloutRecord): number {
  return b.started - a.started || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
