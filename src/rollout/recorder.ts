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

/**
 * Writes what a rollout does to the state store, in order, one write at a time: the machine's snapshot
 * and record after every transition, the audit log, and the drones whose progress changed. Effects call
 * `flush()` before they act, so a transition and everything logged before it are on disk first.
 */
export class RolloutRecorder {
  readonly #store: StateStore;
  readonly #id: string;
  readonly #ledger: Ledger;
  readonly #logger: Logger;
  readonly #now: () => number;
  #queue: Promise<void> = Promise.resolve();
  #pending: AuditEvent[] = [];
  #failure: Error | null = null;

  constructor(options: { store: StateStore; id: string; ledger: Ledger; logger: Logger; now: () => number }) {
    this.#store = options.store;
    this.#id = options.id;
    this.#ledger = options.ledger;
    this.#logger = options.logger;
    this.#now = options.now;
  }

  /** Buffers one audit event; it is written with the next flush, in the order given. */
  audit(kind: string, fields: Readonly<Record<string, unknown>> = {}): void {
    this.#pending.push({ t: this.#now(), kind, ...fields });
  }

  /** Queues a transition: its audit event, the snapshot and the record's new stage. */
  transition(snapshot: unknown, patch: RecordPatch, event: Readonly<Record<string, unknown>>): void {
    this.audit('transition', event);
    const audit = this.#takeAudit();
    const progress = this.#ledger.takeChanged();
    this.#enqueue([
      ...this.#batchWrites(audit, progress),
      () => this.#store.saveSnapshot(this.#id, snapshot),
      () => this.#store.updateRollout(this.#id, { ...patch, updated: this.#now() }),
    ]);
  }

  /** Queues a change to the rollout record alone (heartbeat, result). */
  update(patch: RecordPatch): void {
    this.#enqueue([() => this.#store.updateRollout(this.#id, patch)]);
  }

  /** Writes everything buffered and waits for every queued write; rejects if any write failed. */
  async flush(): Promise<void> {
    // XState starts a state's invoked effects before it tells subscribers about the state, so an effect
    // that flushes first yields once: by then the transition that started it has been queued.
    await Promise.resolve();
    const audit = this.#takeAudit();
    const progress = this.#ledger.takeChanged();
    this.#enqueue(this.#batchWrites(audit, progress));
    await this.#queue;
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

  /** The write that made the recorder give up, if one did: the store's record of the rollout is incomplete. */
  get failure(): Error | null {
    return this.#failure;
  }

  #takeAudit(): AuditEvent[] {
    const audit = this.#pending;
    this.#pending = [];
    return audit;
  }

  #batchWrites(audit: readonly AuditEvent[], progress: ReturnType<Ledger['takeChanged']>): (() => Promise<unknown>)[] {
    const writes: (() => Promise<unknown>)[] = [];
    if (Object.keys(progress).length > 0) writes.push(() => this.#store.saveProgress(this.#id, progress));
    if (audit.length > 0) writes.push(() => this.#store.appendAudit(this.#id, audit));
    return writes;
  }

  /**
   * Runs writes one at a time, in order. A write the store could not make (E_STATE_STORE: a store
   * restarting, a short network outage) is retried on its own for up to RETRY_FOR_MS, so a write that
   * already landed, an audit append above all, is never made twice; any other error, or one that
   * outlasts that, makes the recorder give up for good and every flush reject.
   */
  #enqueue(writes: readonly (() => Promise<unknown>)[]): void {
    if (writes.length === 0) return;
    this.#queue = this.#queue.then(async () => {
      for (const write of writes) {
        if (this.#failure) return;
        await this.#attempt(write);
      }
    });
  }

  async #attempt(write: () => Promise<unknown>): Promise<void> {
    const giveUpAt = Date.now() + RETRY_FOR_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await write();
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
