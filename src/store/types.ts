/** The state store: what a rollout leaves behind so any shell can watch, steer and resume it. */
import type { RolloutResult } from '../rollout/machine-types.js';

export interface RolloutOwner {
  readonly host: string;
  readonly pid: number;
  readonly bootId: string;
  /** Who started it: $USER (or the OS user name). */
  readonly user: string;
}

export interface RolloutRecord {
  readonly id: string;
  readonly name: string;
  /** Absolute path of the spec the rollout was started with. */
  readonly specPath: string;
  /** sha256 of the spec file's text. */
  readonly specDigest: string;
  /** Absolute path of the inventory the rollout ran against (the spec's, or `--inventory`). */
  readonly inventory: string;
  /** The seed of a canary drawn at random (`canary.random`): resume draws the same canary from it. */
  readonly canarySeed?: string;
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
  readonly owner: RolloutOwner;
  /** Targeted drones. */
  readonly drones: number;
  /** The machine's current stage, readable (`canary: baking`, `rollingBack`, …). */
  readonly stage: string;
  /** Step index and name the rollout is in, and how many drones are on the new config. */
  readonly step: { readonly index: number; readonly name: string; readonly total: number };
  readonly updated: number;
  readonly result: RolloutResult | null;
  readonly reason: string;
  /** Epoch ms. */
  readonly started: number;
  readonly ended: number | null;
  /** The owner's last sign of life (epoch ms), written while it runs. */
  readonly heartbeat: number;
}

/** Per-drone progress, as the runner's ledger keeps it. */
export interface DroneProgressRecord {
  readonly before: { readonly version: string; readonly sha256: string } | null;
  readonly now: { readonly version: string; readonly sha256: string } | null;
  readonly pauseSent: boolean;
  readonly pushSent: boolean;
  readonly rolledBack: boolean;
  readonly lastError: string | null;
  /** Its trial of the new config lapsed unconfirmed and it went back by itself (absent in older records). */
  readonly autoReverted?: boolean;
  /** On the new config on trial, and no confirm of it has been answered yet (absent in older records). */
  readonly unconfirmed?: boolean;
  /** Held back by the operational gate and not pushed yet: why, and until when (epoch ms) (absent in older records). */
  readonly deferred?: { readonly until: number; readonly reason: string };
}

/**
 * One line of the append-only audit log. The store chains what it appends (audit-chain.ts): events read
 * back carry `seq` and `prev` too, unless they were recorded before the chain; events given to
 * `appendAudit` must leave both out.
 */
export interface AuditEvent {
  /** Epoch ms. */
  readonly t: number;
  /** `transition`, `push`, `rollback`, `pause`, `resume`, `verdict`, `operator`, `lock`, … */
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** One stored line of the audit log, unparsed: what the hash chain is checked on. */
export interface AuditLine {
  /**
   * 1-based. In the embedded store the line of `audit.ndjson` as an editor numbers it (blank lines are
   * counted but not returned); in etcd the event's place in the log, as `rollout audit export` prints it.
   */
  readonly number: number;
  readonly text: string;
}

export interface OperatorCommand {
  readonly type: 'abort' | 'promote';
  /** user@host of whoever gave it. */
  readonly by: string;
  readonly reason?: string;
  readonly at: number;
}

export interface StateStore {
  createRollout(record: RolloutRecord): Promise<void>;
  /** Merges `patch` into the record; throws E_ROLLOUT_NOT_FOUND for an unknown id. */
  updateRollout(id: string, patch: Partial<Omit<RolloutRecord, 'id'>>): Promise<RolloutRecord>;
  getRollout(id: string): Promise<RolloutRecord | null>;
  /** Every rollout, newest first. */
  listRollouts(): Promise<RolloutRecord[]>;
  /** The machine's persisted snapshot (JSON-serialisable), replaced atomically. */
  saveSnapshot(id: string, snapshot: unknown): Promise<void>;
  /** The saved snapshot, or null when there is none. */
  loadSnapshot(id: string): Promise<unknown>;
  /** Records the progress of the drones given (only those that changed). */
  saveProgress(id: string, changes: Readonly<Record<string, DroneProgressRecord>>): Promise<void>;
  loadProgress(id: string): Promise<Record<string, DroneProgressRecord>>;
  /**
   * Appends to the audit log; never rewrites it. Each event gets the next `seq` and the hash of the event
   * before it as `prev`, following on from whatever the log already holds (another instance's or another
   * process's appends included).
   */
  appendAudit(id: string, events: readonly AuditEvent[]): Promise<void>;
  /** The events, parsed and checked; a line that is not an event fails with E_STATE_STORE naming it. */
  readAudit(id: string): Promise<AuditEvent[]>;
  /** The log's lines as stored, unparsed, in order, so a line that no longer parses can be named. */
  readAuditLines(id: string): Promise<AuditLine[]>;
  /** Queues an operator command for the running rollout (from any process). */
  sendCommand(id: string, command: OperatorCommand): Promise<void>;
  /** Takes the queued commands, each exactly once, oldest first. */
  takeCommands(id: string): Promise<OperatorCommand[]>;
  /**
   * Removes a rollout and all it left (record, snapshot, progress, audit, commands) at once: readers see
   * it whole or not at all. False when there was none. Whether it may go (it ended) is the caller's call.
   */
  removeRollout(id: string): Promise<boolean>;
  close(): Promise<void>;
}
