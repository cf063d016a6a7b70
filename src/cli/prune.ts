import type { RolloutResult } from '../rollout/machine-types.js';
import type { RolloutRecord } from '../store/types.js';

/** `--prune 30d`: rollouts that ended longer ago than this; `--prune 50`: all but the newest 50 that ended. */
export type PruneRule =
  { readonly kind: 'age'; readonly ms: number } | { readonly kind: 'count'; readonly keep: number };

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30d`, `12h`, … (the spec's units and days) or a count of rollouts to keep; undefined for anything else. */
export function parsePruneRule(text: string): PruneRule | undefined {
  if (/^\d+$/.test(text)) return { kind: 'count', keep: Number(text) };
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (match === null) return undefined;
  return { kind: 'age', ms: Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] };
}

/** A rollout that has ended: its result and end time are set. */
type EndedRecord = RolloutRecord & { readonly result: RolloutResult; readonly ended: number };

/**
 * The rollouts a rule removes. Only ended ones: a running rollout, or one whose process is gone before
 * it ended (`rollout resume` still needs it), is never pruned, and does not count among those kept.
 */
export function selectPrunable(records: readonly RolloutRecord[], rule: PruneRule, now: number): EndedRecord[] {
  const ended = records
    .filter((record): record is EndedRecord => record.result !== null && record.ended !== null)
    .sort((a, b) => b.ended - a.ended || (a.id < b.id ? -1 : 1));
  if (rule.kind === 'count') return ended.slice(rule.keep);
  return ended.filter((record) => now - record.ended > rule.ms);
}
