import type { AuditEvent } from '../store/types.js';
import type { RolloutView } from './rollout-view.js';

/** The audit log's own bookkeeping, left out of a judged interval's record. */
const BOOKKEEPING = new Set(['kind', 'seq', 'prev']);

/**
 * `rollout report --output json`: the rollout's view with every judged interval in full, as the analysis
 * recorded it (every metric's medians, limits, test, p-value and verdict, and the samples judged).
 */
export function jsonReport(view: RolloutView, audit: readonly AuditEvent[]) {
  const { summary, reason, step, sha256, resumeCommand, hot, timeline, drones, unseenDrones, counts } = view;
  const intervals = audit
    .filter((event) => event.kind === 'judgement')
    .map((event) => Object.fromEntries(Object.entries(event).filter(([key]) => !BOOKKEEPING.has(key))));
  return { summary, reason, step, sha256, resumeCommand, hot, timeline, drones, unseenDrones, counts, intervals };
}
