import type { ICompare } from 'etcd3';
import { ROLLOUT_ID_PATTERN } from '../record-schemas.js';

/**
 * Where the etcd state store keeps one rollout, under `<prefix>rollouts/<id>/`:
 *
 * | key | value | written |
 * |---|---|---|
 * | `record` | the record, JSON | created once (create revision 0), then read-modify-write on its mod revision |
 * | `snapshot` | the machine's persisted snapshot, JSON | replaced after every transition |
 * | `progress/<drone id>` | that drone's progress, JSON | put for the drones that changed |
 * | `audit-next` | the seq the next audit event gets, decimal | raised in the same txn that adds the events |
 * | `audit/<seq>` | events `seq`, `seq + 1`, … one JSON per line (a chunk of one batch), each chained by its `seq` and `prev` (audit-chain.ts) | added once, never rewritten |
 * | `commands/<time>-<n>-<rand>` | an operator command, JSON | put by a sender, deleted by the one taker that gets it |
 *
 * A finished rollout leaves its history (record, snapshot, progress, audit-next and audit) and nothing
 * else: commands are deleted as they are taken.
 */
export interface RolloutKeys {
  readonly id: string;
  /** `<prefix>rollouts/<id>/`: every key of the rollout starts with it. */
  readonly dir: string;
  readonly record: Buffer;
  readonly snapshot: Buffer;
  readonly progress: string;
  readonly auditNext: Buffer;
  readonly audit: string;
  readonly commands: string;
}

/** Seqs are zero-padded so that the audit chunks sort in etcd's key order; 12 digits outlast any rollout. */
const SEQ_DIGITS = 12;

export function rolloutsPrefix(prefix: string): string {
  return `${prefix}rollouts/`;
}

/** The keys of rollout `id`, or undefined when `id` cannot name a rollout (no `/`, so it never reaches another's keys). */
export function rolloutKeys(prefix: string, id: string): RolloutKeys | undefined {
  if (typeof id !== 'string' || !ROLLOUT_ID_PATTERN.test(id)) {
    return undefined;
  }
  const dir = `${rolloutsPrefix(prefix)}${id}/`;
  return {
    id,
    dir,
    record: Buffer.from(`${dir}record`),
    snapshot: Buffer.from(`${dir}snapshot`),
    progress: `${dir}progress/`,
    auditNext: Buffer.from(`${dir}audit-next`),
    audit: `${dir}audit/`,
    commands: `${dir}commands/`,
  };
}

export function auditChunkKey(keys: RolloutKeys, seq: number): Buffer {
  return Buffer.from(`${keys.audit}${String(seq).padStart(SEQ_DIGITS, '0')}`);
}

let sent = 0;

/**
 * A new command key. Takers order commands by the create revision etcd gives them, not by this name; the
 * name sorts by the sender's clock for a person reading it with etcdctl, and the counter and random
 * part keep two sends apart.
 */
export function commandKey(keys: RolloutKeys, now: number, random: string): Buffer {
  sent += 1;
  const at = String(Math.max(0, Math.trunc(now))).padStart(15, '0');
  return Buffer.from(`${keys.commands}${at}-${String(sent).padStart(9, '0')}-${random}`);
}

/** The compare every write to a rollout carries: its record exists. */
export function recordExists(keys: RolloutKeys): ICompare {
  return { key: keys.record, target: 'Create', result: 'Greater', create_revision: 0 };
}
