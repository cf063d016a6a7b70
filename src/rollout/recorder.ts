import type { Logger } from 'pino';
import { RolloutError } from '../errors.js';
import type { AuditEvent, RolloutRecord, StateStore } from '../store/types.js';
import type { Ledger } from './ledger.js';

type RecordPatch = Partial<Omit<RolloutRecord, 'id'>>;

/** A full, read-only or quota-bound disk does not mend itself within a retry's wait. */
const DISK_FAILURES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

function isDiskFailure(error: Error): boolean {
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== undefined && DISK_FAILURES.has(code)) return true;
  }
  return false;
}

/** How long a failing write is retried before the rollout's state counts as lost. */
const RETRY_FOR_MS = 15_000;

/** A promise and its resolve: Node 20 has no Promise.withResolvers. */
function batchEnd(): { readonly promise: Promise<void>; readonly resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * Writes what a rollout does to the state store, in order, one write at a time: the audit log, the drones
 * whose progress changed, and the machine's latest snapshot and record after every transition. Effects
 * call `flush()` before they act, so a transition and everything logged before it are on disk first.
 *
 * Write-behind: nothing is queued per call. One writer takes everything buffered when it starts a batch
 * (progress, audit, the latest snapshot, the record's patches merged), writes it, and goes on while more
 * is buffered. So a store slower than the fleet (100,000 drones: tens of thousands of events a second,
 * on an event loop busy with requests) gets bigger batches, not a backlog of small ones each holding
 * its own copies; a drone changed twice before its batch is written once; snapshots superseded before
 * they were written are never written.
 */
export class RolloutRecorder {
  readonly #store: StateStore;
  readonly #id: string;
  readonly #ledger: Ledger;
  readonly #logger: Logger;
  readonly #now: () => number;
  #pending: AuditEvent[] = [];
  /** The latest snapshot not written yet, boxed: a snapshot may be any value. */
  #snapshot: { readonly value: unknown } | undefined;
  /** Record patches not written yet, merged in order. */
  #patch: RecordPatch | undefined;
  /** Whether the writer runs: it writes batches until the wanted one is written. */
  #writing = false;
  #batchesTaken = 0;
  #batchesWritten = 0;
  /** The last batch someone waits for: the writer stops once it is written, until asked again. */
  #wanted = 0;
  /** Settles as the batch being written ends, and is then replaced. */
  #batchEnded = batchEnd();
  #failure: Error | null = null;
  #writes = 0;
  #writeMs = 0;

  constructor(options: { store: StateStore; id: string; ledger: Ledger; logger: Logger; now: () => number }) {
    this.#store = options.store;
    this.#id = options.id;
    this.#ledger = options.ledger;
    this.#logger = options.logger;
    this.#now = options.now;
  }

  /** Buffers one audit event; it is written with the next batch, in the order given. */
  audit(kind: string, fields: Readonly<Record<string, unknown>> = {}): void {
    this.#pending.push({ t: this.#now(), kind, ...fields });
  }

  /** A transition: its audit event, the snapshot and the record's new stage, written by the next batch. */
  transition(snapshot: unknown, patch: RecordPatch, event: Readonly<Record<string, unknown>>): void {
    this.audit('transition', event);
    this.#snapshot = { value: snapshot };
    this.#patch = { ...this.#patch, ...patch, updated: this.#now() };
    this.#request();
  }

  /** A change to the rollout record alone (heartbeat, result). */
  update(patch: RecordPatch): void {
    this.#patch = { ...this.#patch, ...patch };
    this.#request();
  }

  /** Writes everything buffered so far and waits for it; rejects if any write failed. */
  async flush(): Promise<void> {
    // XState starts a state's invoked effects before it tells subscribers about the state, so an effect
    // that flushes first yields once: by then the transition that started it has been buffered.
    await Promise.resolve();
    const due = this.#request();
    while (this.#failure === null && this.#batchesWritten < due) await this.#batchEnded.promise;
    if (this.#failure) throw this.#failure;
  }

  /**
   * `flush()` for work that must go on without the state store (clean-up, the periodic flush, the end):
   * a failure is logged with `why` instead of thrown; a fleet left paused or mixed is worse than an audit
   * log with a gap, which the log file then records.
   */
  async flushOrLog(why: string): Promise<void> {
    await this.flush().catch((error: unknown) => this.#logger.error({ err: error }, why));
  }

  /** How many store writes were made and how long they took in all: the bench's "store writes" phase. */
  get writeTimes(): { readonly writes: number; readonly ms: number } {
    return { writes: this.#writes, ms: Math.round(this.#writeMs) };
  }

  /** The write that made the recorder give up, if one did: the store's record of the rollout is incomplete. */
  get failure(): Error | null {
    return this.#failure;
  }

  #hasWork(): boolean {
    return (
      this.#pending.length > 0 || this.#snapshot !== undefined || this.#patch !== undefined || this.#ledger.hasChanged
    );
  }

  /**
   * Asks for what is buffered now to be written: it goes with the next batch taken (a batch being
   * written must end too). Answers that batch's number. Waiting for it, not for the writer to run dry,
   * keeps a flush short while a stage goes on logging.
   */
  #request(): number {
    const due = this.#batchesTaken + (this.#hasWork() ? 1 : 0);
    this.#wanted = Math.max(this.#wanted, due);
    if (!this.#writing) {
      this.#writing = true;
      void this.#writeWanted();
    }
    return due;
  }

  async #writeWanted(): Promise<void> {
    try {
      while (this.#failure === null && this.#batchesTaken < this.#wanted) await this.#writeBatch();
    } finally {
      this.#writing = false;
    }
  }

  /** Everything buffered, in the order a reader relies on: progress and audit, then snapshot, then record. */
  async #writeBatch(): Promise<void> {
    this.#batchesTaken += 1;
    const progress = this.#ledger.takeChanged();
    const audit = this.#pending;
    this.#pending = [];
    const snapshot = this.#snapshot;
    this.#snapshot = undefined;
    const patch = this.#patch;
    this.#patch = undefined;
    const writes: (() => Promise<unknown>)[] = [];
    if (Object.keys(progress).length > 0) writes.push(() => this.#store.saveProgress(this.#id, progress));
    if (audit.length > 0) writes.push(() => this.#store.appendAudit(this.#id, audit));
    if (snapshot !== undefined) writes.push(() => this.#store.saveSnapshot(this.#id, snapshot.value));
    if (patch !== undefined) writes.push(() => this.#store.updateRollout(this.#id, patch));
    try {
      for (const write of writes) {
        if (this.#failure) return;
        await this.#attempt(write);
      }
    } finally {
      this.#batchesWritten += 1;
      const ended = this.#batchEnded;
      this.#batchEnded = batchEnd();
      ended.resolve();
    }
  }

  /**
   * Runs one write. A write the store could not make (E_STATE_STORE: a store
   * restarting, a short network outage) is retried on its own for up to RETRY_FOR_MS, so a write that
   * already landed, an audit append above all, is never made twice; any other error, or one that
   * outlasts that, makes the recorder give up for good and every flush reject.
   */
  async #attempt(write: () => Promise<unknown>): Promise<void> {
    const giveUpAt = Date.now() + RETRY_FOR_MS;
    for (let attempt = 1; ; attempt += 1) {
      const started = performance.now();
      try {
        await write();
        this.#writes += 1;
        this.#writeMs += performance.now() - started;
        return;
      } catch (error) {
        const transient = error instanceof RolloutError && error.code === 'E_STATE_STORE' && !isDiskFailure(error);
        if (!transient || Date.now() >= giveUpAt) {
          this.#failure = error instanceof Error ? error : new Error(String(error));
          this.#logger.error({ err: this.#failure }, 'writing the rollout state failed');
          return;
        }
        this.#logger.warn({ err: error, attempt }, 'writing the rollout state failed; retrying');
        await new Promise((done) => setTimeout(done, Math.min(1000, 100 * attempt)));
      }
    }
  }
}
