import { join } from 'node:path';
import { ROLLOUT_ID_PATTERN } from '../record-schemas.js';

/** Where the embedded store keeps one rollout: `<state dir>/rollouts/<id>/`. */
export interface RolloutFiles {
  readonly id: string;
  readonly dir: string;
  /** The record, replaced atomically. */
  readonly record: string;
  /** The machine's persisted snapshot, replaced atomically. */
  readonly snapshot: string;
  /** Progress batches appended since the last compaction, one JSON object per line. */
  readonly progressLog: string;
  /** Every progress batch before the last compaction, folded into one object. */
  readonly progressBase: string;
  /** The audit log, one event per line, only ever appended to. */
  readonly audit: string;
  /** Operator commands waiting to be taken, one file each. */
  readonly commands: string;
  /** Commands already taken: moving a file here is how exactly one taker claims it. */
  readonly taken: string;
}

export function rolloutsRoot(stateDir: string): string {
  return join(stateDir, 'rollouts');
}

/** The files of rollout `id`, or undefined when `id` cannot name a rollout (so it can never escape the root). */
export function rolloutFiles(root: string, id: string): RolloutFiles | undefined {
  if (typeof id !== 'string' || !ROLLOUT_ID_PATTERN.test(id)) {
    return undefined;
  }
  return filesIn(join(root, id), id);
}

/** The same layout in another dir: a rollout is built in a staging dir and then renamed into place. */
export function filesIn(dir: string, id: string): RolloutFiles {
  const commands = join(dir, 'commands');
  return {
    id,
    dir,
    record: join(dir, 'record.json'),
    snapshot: join(dir, 'snapshot.json'),
    progressLog: join(dir, 'progress.ndjson'),
    progressBase: join(dir, 'progress.json'),
    audit: join(dir, 'audit.ndjson'),
    commands,
    taken: join(commands, 'taken'),
  };
}
