import { randomBytes } from 'node:crypto';
import type { IKeyValue, ITxnResponse } from 'etcd3';
import { z } from 'zod';
import { RolloutError } from '../../errors.js';
import { assertNonEmptyString, assertPositiveInteger } from '../../infra/argument-checks.js';
import { rangeEnd } from '../../infra/etcd-shared.js';
import { InFlight } from '../../infra/in-flight.js';
import { KeyedQueue } from '../../infra/keyed-queue.js';
import {
  auditBatchSchema,
  isPlainAuditBatch,
  isPlainProgressBatch,
  checkInput,
  droneProgressSchema,
  operatorCommandSchema,
  progressBatchSchema,
  ROLLOUT_ID_PATTERN,
  rolloutRecordSchema,
  serializeRecord,
} from '../record-schemas.js';
import type {
  AuditEvent,
  AuditLine,
  DroneProgressRecord,
  OperatorCommand,
  RolloutRecord,
  StateStore,
} from '../types.js';
import { assertUnchained } from '../audit-chain.js';
import { appendAuditTxn, auditLinesOf, decodeAuditChunks, emptyCounter, type AuditCounter } from './audit.js';
import { assertFits, batchPuts, type Put } from './batches.js';
import { EtcdStoreClient, keyAfter, retryCompacted } from './client.js';
import { claimCommands } from './commands.js';
import { commandKey, recordExists, rolloutKeys, rolloutsPrefix, type RolloutKeys } from './keys.js';
import { corruptKey, decodeKv } from './values.js';

export interface EtcdStateStoreOptions {
  /** The cluster's client endpoints, `host:port` each, as `--store etcd://host:port[,host:port...]` names them. */
  readonly endpoints: readonly string[];
  /** Put verbatim before every key; rollouts live under `<prefix>rollouts/`. @default 'fleet-rollout/' (as the etcd lock's) */
  readonly prefix?: string;
  /**
   * Stamps `updated` when a patch leaves it out, and names command keys.
   * @default Date.now
   */
  readonly now?: () => number;
  /** How long one request to etcd may take before the call fails with E_STATE_STORE. @default 5000 */
  readonly requestTimeoutMs?: number;
}

const DEFAULT_PREFIX = 'fleet-rollout/';

/** Keys per page when reading progress or commands back; audit chunks (up to 64 KiB each) per page. */
const PAGE_KEYS = 1_000;
const AUDIT_PAGE_KEYS = 32;

/** Progress txns in flight at once for one saveProgress call (each up to 128 drones). */
const PARALLEL_TXNS = 4;

/** Records read at once when listing. */
const PARALLEL_READS = 64;

/**
 * The state store for many orchestrators on many machines: every rollout under `<prefix>rollouts/<id>/`
 * in one etcd cluster (see keys.ts for the keys). Every write that must not lose a race is a txn
 * comparing a revision: a record is created only if absent and updated only if unchanged since it was
 * read (else read again and merged again); audit seqs are allocated by a compare-and-swap on a counter in
 * the same txn that adds the events; a command is taken by deleting it only if unchanged, so one taker
 * gets it. Writes to a rollout that has no record fail with E_ROLLOUT_NOT_FOUND.
 *
 * Batches bigger than one etcd request (128 operations, 1.5 MiB with etcd's defaults) are cut into
 * several txns (batches.ts). A progress batch is then not atomic as a whole, and an audit batch over
 * ~1 MiB may have another writer's batch between its parts; each part is atomic and is seen whole or not
 * at all, and readers always see a prefix of the audit log.
 *
 * etcd keeps every revision of a key until it is compacted: run the cluster with `--auto-compaction-*`.
 */
export function createEtcdStateStore(options: EtcdStateStoreOptions): StateStore {
  return new EtcdStateStore(options);
}

/** A record as this instance last saw it, with the mod revision a compare-and-swap needs. */
interface StoredRecord {
  readonly record: RolloutRecord;
  readonly modRevision: string;
}

class EtcdStateStore implements StateStore {
  readonly #etcd: EtcdStoreClient;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #queues = new KeyedQueue();
  /** What this instance last read or wrote: with one writer, an update or an append is a single txn. */
  readonly #records = new Map<string, StoredRecord>();
  readonly #counters = new Map<string, AuditCounter>();
  readonly #inFlight = new InFlight();
  #closed: Promise<void> | undefined;

  constructor(options: EtcdStateStoreOptions) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new TypeError(
        `Expected \`endpoints\` to be a non-empty array of host:port, got \`${String(options.endpoints)}\``,
      );
    }
    options.endpoints.forEach((endpoint, index) => assertNonEmptyString(`endpoints[${index}]`, endpoint));
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    assertNonEmptyString('prefix', prefix);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError(`Expected \`now\` to be a function, got \`${String(options.now)}\` (${typeof options.now})`);
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    assertPositiveInteger('requestTimeoutMs', requestTimeoutMs);
    this.#etcd = new EtcdStoreClient(options.endpoints, requestTimeoutMs);
    this.#prefix = prefix;
    this.#now = options.now ?? Date.now;
  }

  async createRollout(record: RolloutRecord): Promise<void> {
    const checked = checkInput(rolloutRecordSchema, record, 'record');
    return this.#run(`create rollout ${checked.id}`, async () => {
      const keys = this.#keysOf(checked.id);
      const value = Buffer.from(serializeRecord(checked));
      assertFits(`The record of ${checked.id}`, value.length);
      const answer = await this.#etcd.kv.txn({
        compare: [{ key: keys.record, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: keys.record, value } }],
        failure: [{ request_range: { key: keys.record } }],
      });
      // The same bytes already there: this very create, sent again after its answer was lost.
      if (!answer.succeeded && rangeOf(answer, 0)?.value.equals(value) !== true) {
        throw new RolloutError(
          'E_STATE_STORE',
          `Rollout ${checked.id} already exists in etcd at ${this.#etcd.endpoints} (${keys.record.toString()}); use another id`,
        );
      }
      this.#records.set(checked.id, {
        record: checked,
        modRevision: answer.succeeded ? answer.header.revision : (rangeOf(answer, 0)?.mod_revision ?? '0'),
      });
    });
  }

  /** Read, merge, and write only if nobody wrote the record meanwhile; else merge into what they wrote. */
  async updateRollout(id: string, patch: Partial<Omit<RolloutRecord, 'id'>>): Promise<RolloutRecord> {
    return this.#run(`update rollout ${id}`, async () => {
      const keys = this.#keysOf(id);
      return this.#queues.run(`${id}/record`, async () => {
        let stored = this.#records.get(id) ?? (await this.#readRecord(keys));
        for (let attempt = 1; ; attempt += 1) {
          if (stored === undefined) {
            throw this.#notFound(id);
          }
          const merged = { ...stored.record, updated: this.#now(), ...definedFields(patch), id: stored.record.id };
          const next = checkInput(rolloutRecordSchema, merged, 'patch');
          const value = Buffer.from(serializeRecord(next));
          assertFits(`The record of ${id}`, value.length);
          const answer = await this.#etcd.kv.txn({
            compare: [{ key: keys.record, target: 'Mod', result: 'Equal', mod_revision: stored.modRevision }],
            success: [{ request_put: { key: keys.record, value } }],
            failure: [{ request_range: { key: keys.record } }],
          });
          if (answer.succeeded) {
            this.#records.set(id, { record: next, modRevision: answer.header.revision });
            return next;
          }
          stored = this.#decodeRecord(keys, rangeOf(answer, 0));
          await this.#etcd.backOff(attempt, keys.record);
        }
      });
    });
  }

  async getRollout(id: string): Promise<RolloutRecord | null> {
    return this.#run(`read rollout ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      return keys === undefined ? null : ((await this.#readRecord(keys))?.record ?? null);
    });
  }

  /**
   * Walks the rollouts one id at a time (a keys-only read of one key, then a jump past that id's keys),
   * so listing costs a request per rollout, not a read of every drone's progress key. Keys under
   * `rollouts/` that are not a rollout's, and rollouts without a record, are passed over.
   */
  async listRollouts(): Promise<RolloutRecord[]> {
    return this.#run('list rollouts', () => retryCompacted(() => this.#listRollouts()));
  }

  /** Pinned to the revision of its first read, so the walk and the records are one moment's. */
  async #listRollouts(): Promise<RolloutRecord[]> {
    const root = Buffer.from(rolloutsPrefix(this.#prefix));
    const end = rangeEnd(root);
    const ids: string[] = [];
    let from: Buffer = root;
    let revision: string | undefined;
    for (;;) {
      const answer = await this.#etcd.kv.range({
        key: from,
        range_end: end,
        limit: 1,
        keys_only: true,
        ...(revision === undefined ? {} : { revision }),
      });
      revision ??= answer.header.revision;
      const key = answer.kvs[0]?.key;
      if (key === undefined) {
        break;
      }
      const slash = key.indexOf('/', root.length);
      if (slash < 0) {
        from = keyAfter(key);
        continue;
      }
      const id = key.subarray(root.length, slash).toString();
      if (ROLLOUT_ID_PATTERN.test(id)) {
        ids.push(id);
      }
      from = rangeEnd(key.subarray(0, slash + 1));
    }
    const records: RolloutRecord[] = [];
    for (let index = 0; index < ids.length; index += PARALLEL_READS) {
      const page = ids.slice(index, index + PARALLEL_READS);
      const read = await Promise.all(page.map((id) => this.#readRecord(this.#keysOf(id), revision)));
      records.push(...read.flatMap((stored) => (stored === undefined ? [] : [stored.record])));
    }
    return records.sort(newestFirst);
  }

  async saveSnapshot(id: string, snapshot: unknown): Promise<void> {
    // undefined for undefined, a function or a symbol, whatever the type of JSON.stringify says.
    const text = JSON.stringify(snapshot) as string | undefined;
    if (text === undefined) {
      throw new TypeError(`Expected \`snapshot\` to be JSON-serialisable, got a ${typeof snapshot}`);
    }
    return this.#run(`save the snapshot of ${id}`, async () => {
      const keys = this.#keysOf(id);
      const value = Buffer.from(text);
      assertFits(`The snapshot of ${id}`, value.length);
      // Queued so that of two saves made without waiting, the later one is what stays.
      await this.#queues.run(`${id}/snapshot`, () => this.#putIfRollout(keys, [{ key: keys.snapshot, value }]));
    });
  }

  async loadSnapshot(id: string): Promise<unknown> {
    return this.#run(`read the snapshot of ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      const kv = keys === undefined ? undefined : (await this.#etcd.kv.range({ key: keys.snapshot })).kvs[0];
      return kv === undefined ? null : decodeKv(z.unknown(), kv);
    });
  }

  /** One key per drone given, in txns of up to 128 drones (a few in flight at once). An empty batch writes nothing. */
  async saveProgress(id: string, changes: Readonly<Record<string, DroneProgressRecord>>): Promise<void> {
    const checked = checkInput(progressBatchSchema, changes, 'changes', isPlainProgressBatch);
    const drones = Object.entries(checked);
    if (drones.length === 0) {
      return;
    }
    return this.#run(`save the progress of ${id}`, async () => {
      const keys = this.#keysOf(id);
      const batches = batchPuts(
        drones.map(([drone, progress]) => ({
          key: Buffer.from(`${keys.progress}${drone}`),
          value: Buffer.from(JSON.stringify(progress)),
        })),
      );
      // Queued so that a drone in two calls made without waiting ends with the later call's progress.
      await this.#queues.run(`${id}/progress`, async () => {
        for (let index = 0; index < batches.length; index += PARALLEL_TXNS) {
          const written = await Promise.allSettled(
            batches.slice(index, index + PARALLEL_TXNS).map((batch) => this.#putIfRollout(keys, batch)),
          );
          const failed = written.find((result) => result.status === 'rejected');
          if (failed !== undefined) {
            throw failed.reason;
          }
        }
      });
    });
  }

  async loadProgress(id: string): Promise<Record<string, DroneProgressRecord>> {
    return this.#run(`read the progress of ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      if (keys === undefined) {
        return {};
      }
      const kvs = await this.#etcd.readPrefix(keys.progress, PAGE_KEYS);
      return Object.fromEntries(
        kvs.map((kv) => [kv.key.toString().slice(keys.progress.length), decodeKv(droneProgressSchema, kv)]),
      );
    });
  }

  /**
   * Events go into chunks of up to 64 KiB under `audit/<seq of the chunk's first event>`; a txn adds up
   * to 127 chunks (1 MiB) and raises `audit-next` past them, if `audit-next` is what this instance last
   * saw; else it reads the counter and the last event and chains the events on from them (audit.ts). An
   * instance that has not written yet assumes an empty log, and learns otherwise from its first txn. An
   * empty batch writes nothing.
   */
  async appendAudit(id: string, events: readonly AuditEvent[]): Promise<void> {
    const checked = checkInput(auditBatchSchema, events, 'events', isPlainAuditBatch);
    assertUnchained(checked, 'events');
    if (checked.length === 0) {
      return;
    }
    return this.#run(`append to the audit log of ${id}`, async () => {
      const keys = this.#keysOf(id);
      await this.#queues.run(`${id}/audit`, async () => {
        for (let written = 0; written < checked.length;) {
          const start = this.#counters.get(id) ?? emptyCounter(keys);
          const appended = await appendAuditTxn(this.#etcd, keys, start, checked, written);
          if (appended === undefined) {
            throw this.#notFound(id);
          }
          this.#counters.set(id, appended.counter);
          written += appended.events;
        }
      });
    });
  }

  async readAudit(id: string): Promise<AuditEvent[]> {
    return this.#run(`read the audit log of ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      if (keys === undefined) {
        return [];
      }
      return decodeAuditChunks(await this.#etcd.readPrefix(keys.audit, AUDIT_PAGE_KEYS));
    });
  }

  /** Every event's line in order, numbered from 1 across chunks, as `rollout audit export` prints them. */
  async readAuditLines(id: string): Promise<AuditLine[]> {
    return this.#run(`read the audit log of ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      if (keys === undefined) {
        return [];
      }
      return auditLinesOf(await this.#etcd.readPrefix(keys.audit, AUDIT_PAGE_KEYS));
    });
  }

  async sendCommand(id: string, command: OperatorCommand): Promise<void> {
    const checked = checkInput(operatorCommandSchema, command, 'command');
    return this.#run(`send a command to ${id}`, async () => {
      const keys = this.#keysOf(id);
      const key = commandKey(keys, this.#now(), randomBytes(4).toString('hex'));
      // Queued so that commands this process sends without waiting are created, and so taken, in order.
      await this.#queues.run(`${id}/commands`, () =>
        this.#putIfRollout(keys, [{ key, value: Buffer.from(JSON.stringify(checked)) }]),
      );
    });
  }

  /** Oldest first, each exactly once across every instance and process: see commands.ts. */
  async takeCommands(id: string): Promise<OperatorCommand[]> {
    return this.#run(`take the commands of ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      return keys === undefined ? [] : claimCommands(this.#etcd, keys);
    });
  }

  /** Every key under the rollout's dir in one txn, if its record exists: readers see it whole or gone. */
  async removeRollout(id: string): Promise<boolean> {
    return this.#run(`remove rollout ${id}`, async () => {
      const keys = rolloutKeys(this.#prefix, id);
      if (keys === undefined) {
        return false;
      }
      const dir = Buffer.from(keys.dir);
      const answer = await this.#etcd.kv.txn({
        compare: [recordExists(keys)],
        success: [{ request_delete_range: { key: dir, range_end: rangeEnd(dir) } }],
      });
      this.#records.delete(id);
      this.#counters.delete(id);
      return answer.succeeded;
    });
  }

  /** Waits for the calls in flight, then closes the client; later calls fail with E_STATE_STORE. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#inFlight.drain();
      this.#etcd.close();
    })();
    return this.#closed;
  }

  /** Puts `puts` in one txn if the rollout's record exists; else E_ROLLOUT_NOT_FOUND. */
  async #putIfRollout(keys: RolloutKeys, puts: readonly Put[]): Promise<void> {
    const answer = await this.#etcd.kv.txn({
      compare: [recordExists(keys)],
      success: puts.map((put) => ({ request_put: { key: put.key, value: put.value } })),
    });
    if (!answer.succeeded) {
      throw this.#notFound(keys.id);
    }
  }

  async #readRecord(keys: RolloutKeys, revision?: string): Promise<StoredRecord | undefined> {
    const answer = await this.#etcd.kv.range({ key: keys.record, ...(revision === undefined ? {} : { revision }) });
    const stored = this.#decodeRecord(keys, answer.kvs[0]);
    if (stored !== undefined && revision === undefined) {
      this.#records.set(keys.id, stored);
    }
    return stored;
  }

  #decodeRecord(keys: RolloutKeys, kv: IKeyValue | undefined): StoredRecord | undefined {
    if (kv === undefined) {
      this.#records.delete(keys.id);
      return undefined;
    }
    const record = decodeKv(rolloutRecordSchema, kv);
    if (record.id !== keys.id) {
      throw corruptKey(kv.key.toString(), `id: "${record.id}" is not the id in its key, "${keys.id}"`);
    }
    return { record, modRevision: kv.mod_revision };
  }

  /** The keys of a rollout a write is for; an id that cannot name one is a rollout that does not exist. */
  #keysOf(id: string): RolloutKeys {
    const keys = rolloutKeys(this.#prefix, id);
    if (keys === undefined) {
      throw this.#notFound(id);
    }
    return keys;
  }

  #notFound(id: string): RolloutError {
    return new RolloutError(
      'E_ROLLOUT_NOT_FOUND',
      `No rollout ${id} in the state store on etcd at ${this.#etcd.endpoints} (under ${rolloutsPrefix(this.#prefix)})`,
    );
  }

  #run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return this.#inFlight.run(
      () =>
        operation().catch((error: unknown) => {
          throw this.#etcd.storeError(what, error);
        }),
      () => new RolloutError('E_STATE_STORE', `The state store on etcd at ${this.#etcd.endpoints} is closed`),
    );
  }
}

/** The first key-value of the `index`th range in a txn's answer. */
function rangeOf(answer: ITxnResponse, index: number): IKeyValue | undefined {
  return answer.responses[index]?.response_range.kvs[0];
}

/** Leaves out keys set to undefined: in a Partial patch they mean "not given", not "erase". */
function definedFields(patch: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}

function newestFirst(a: RolloutRecord, b: RolloutRecord): number {
  return b.started - a.started || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
