import type { AuditEvent } from '../store/types.js';

/** One stage of a rollout's timeline: where it is now, where it went wrong, what it never reached. */
export interface TimelineStage {
  /** `pause`, `lock`, a step's name (`canary`, `wave 1`), `promote`, `rollback`, `resume`, `release`. */
  readonly key: string;
  readonly label: string;
  /** `stopped`: where the rollout's process died (it is gone), until `rollout resume` takes it over. */
  readonly state: 'done' | 'current' | 'stopped' | 'failed' | 'skipped' | 'pending';
  /** Epoch ms of its first and last moments, when it was entered. */
  readonly started: number | null;
  readonly ended: number | null;
}

/** The machine's working states, by the timeline stage each belongs to; step states map to their step. */
const STAGE_OF_STATE: Readonly<Record<string, string>> = {
  pausingFleet: 'pause',
  acquiringLock: 'lock',
  checkingFleet: 'lock',
  gatingRollout: 'lock',
  pushingDeferred: 'promote',
  verifying: 'promote',
  rollingBack: 'rollback',
  resumingFleet: 'resume',
  releasingLock: 'release',
};

const LABELS: Readonly<Record<string, string>> = {
  pause: 'pause the fleet',
  lock: 'take the lock',
  promote: 'promote',
  rollback: 'roll back',
  resume: 'resume the fleet',
  release: 'release the lock',
};

/** The innermost state of a persisted state value: `{locked: {stages: "baking"}}` is `baking`. */
function leafState(value: unknown): string | null {
  let current = value;
  while (current !== null && typeof current === 'object') current = Object.values(current)[0];
  return typeof current === 'string' ? current : null;
}

interface Entry {
  readonly key: string;
  readonly t: number;
}

/** The stage each transition entered, in order; a step's states carry its name (`canary: baking …`). */
function entries(audit: readonly AuditEvent[], stepNames: readonly string[]): Entry[] {
  const seen: Entry[] = [];
  let step = stepNames[0] ?? 'canary';
  for (const event of audit) {
    if (event.kind !== 'transition' || typeof event.to !== 'string') continue;
    if (event.to === 'ended') {
      seen.push({ key: 'end', t: event.t });
      continue;
    }
    const state = leafState(event.value);
    const fixed = state === null ? undefined : STAGE_OF_STATE[state];
    if (fixed !== undefined) {
      seen.push({ key: fixed, t: event.t });
      continue;
    }
    // `canary: baking …`, `wave 1 passed: confirming …`; `waiting for …` names no step: it stays the last.
    const prefix = /^(.+?)(?: passed)?: /.exec(event.to)?.[1];
    if (
      prefix !== undefined &&
      !event.to.startsWith('waiting for') &&
      (stepNames.length === 0 || stepNames.includes(prefix))
    )
      step = prefix;
    seen.push({ key: step, t: event.t });
  }
  return seen;
}

/**
 * The stages of a rollout, in the order a rollout goes through them, from its transitions: pause, lock,
 * each step, promote or roll back, resume, release. `stepNames` are the plan's steps (the snapshot's);
 * steps seen in transitions are added when the snapshot is missing.
 */
export function buildTimeline(
  audit: readonly AuditEvent[],
  stepNames: readonly string[],
  status: { readonly liveness: 'running' | 'ended' | 'gone'; readonly failed: boolean },
): TimelineStage[] {
  const seen = entries(audit, stepNames);
  const steps = [...stepNames];
  for (const { key } of seen) if (!(key in LABELS) && key !== 'end' && !steps.includes(key)) steps.push(key);
  const rolledBack = seen.some((entry) => entry.key === 'rollback');
  const order = ['pause', 'lock', ...steps, rolledBack ? 'rollback' : 'promote', 'resume', 'release'];
  const first = new Map<string, number>();
  const until = new Map<string, number>();
  seen.forEach((entry, i) => {
    if (!first.has(entry.key)) first.set(entry.key, entry.t);
    until.set(entry.key, seen[i + 1]?.t ?? entry.t);
  });
  const last = seen.at(-1)?.key;
  const furthest = Math.max(...seen.map((entry) => order.indexOf(entry.key)));
  // The stage the rollout left for a rollback (or, with none, the resume): where it went wrong.
  const leftFor = seen.findIndex((entry) => entry.key === 'rollback' || (status.failed && entry.key === 'resume'));
  const failedAt = status.failed && leftFor > 0 ? seen[leftFor - 1]?.key : undefined;
  return order.map((key, index) => {
    const started = first.get(key) ?? null;
    const state: TimelineStage['state'] =
      key === last && status.liveness === 'running'
        ? 'current'
        : key === last && status.liveness === 'gone'
          ? 'stopped'
          : key === failedAt
            ? 'failed'
            : started !== null
              ? 'done'
              : index < furthest || status.liveness === 'ended'
                ? 'skipped'
                : 'pending';
    return {
      key,
      label: LABELS[key] ?? key,
      state,
      started,
      ended: started === null ? null : (until.get(key) ?? null),
    };
  });
}
