import { EXIT_CODES } from '../rollout/report.js';
import type { RolloutResult } from '../rollout/machine-types.js';
import type { AuditEvent, DroneProgressRecord, RolloutRecord, StateStore } from '../store/types.js';
import {
  attentionDrones,
  DRONE_VIEW_STATES,
  droneViews,
  hotDrones,
  type DroneView,
  type DroneViewState,
} from './drone-states.js';
import { intervalRecords, metricSeries, type IntervalRecord, type MetricSeries } from './metric-series.js';
import { buildTimeline, type TimelineStage } from './timeline.js';

/** Whether the process running a rollout is there: see cli/liveness.ts. */
export type RolloutLiveness = 'running' | 'ended' | 'gone';

/** One row of the rollout list. */
export interface RolloutSummary {
  readonly id: string;
  readonly name: string;
  readonly stage: string;
  readonly result: RolloutResult | null;
  readonly exitCode: number | null;
  readonly liveness: RolloutLiveness;
  /** user@host that started it. */
  readonly by: string;
  readonly started: number;
  readonly ended: number | null;
  readonly drones: number;
  readonly config: { readonly file: string; readonly version: string };
}

/** Everything the rollout page and the reports show of one rollout; plain JSON. */
export interface RolloutView {
  readonly summary: RolloutSummary;
  readonly reason: string;
  readonly step: RolloutRecord['step'];
  readonly sha256: string;
  /** What to run to take over a rollout whose process is gone. */
  readonly resumeCommand: string | null;
  readonly hot: readonly string[];
  readonly timeline: readonly TimelineStage[];
  readonly drones: readonly DroneView[];
  /** Targeted drones the store has no progress for yet (not reached). */
  readonly unseenDrones: number;
  readonly counts: Readonly<Record<DroneViewState, number>>;
  readonly metrics: readonly MetricSeries[];
  readonly intervals: readonly IntervalRecord[];
  /** Audit events, newest first, at most `eventLimit` of them. */
  readonly events: readonly AuditEvent[];
  readonly eventCount: number;
}

export interface ViewInput {
  readonly record: RolloutRecord;
  readonly liveness: RolloutLiveness;
  readonly progress: Readonly<Record<string, DroneProgressRecord>>;
  readonly audit: readonly AuditEvent[];
  /** The machine's persisted snapshot, for the names of the plan's steps; null when there is none. */
  readonly snapshot: unknown;
  /** @default 200 */
  readonly eventLimit?: number;
  /** Flags the resume command needs to find this store (`--state-dir …`); none for the default. */
  readonly storeFlags?: string;
}

export function summaryOf(record: RolloutRecord, liveness: RolloutLiveness): RolloutSummary {
  return {
    id: record.id,
    name: record.name,
    stage: record.stage,
    result: record.result,
    exitCode: record.result === null ? null : EXIT_CODES[record.result],
    liveness,
    by: `${record.owner.user}@${record.owner.host}`,
    started: record.started,
    ended: record.ended,
    drones: record.drones,
    config: { file: record.config.file, version: record.config.version },
  };
}

/** The plan's step names from a persisted snapshot (`context.steps[].name`), or none. */
function stepNamesOf(snapshot: unknown): string[] {
  const steps = (snapshot as { context?: { steps?: unknown } } | null)?.context?.steps;
  if (!Array.isArray(steps)) return [];
  return steps.map((step: unknown) => (step as { name?: unknown }).name).filter((n) => typeof n === 'string');
}

const FAILED_RESULTS: ReadonlySet<RolloutResult> = new Set([
  'rolled_back',
  'aborted_hot',
  'needs_attention',
  'interrupted',
]);

/** Builds the view of one rollout from what the store holds of it. Pure. */
export function buildRolloutView(input: ViewInput): RolloutView {
  const { record, liveness, audit } = input;
  const hot = hotDrones(audit);
  const drones = droneViews(input.progress, record.config.sha256, {
    hot: new Set(hot),
    attention: new Set(attentionDrones(audit)),
    ended: liveness === 'ended',
  });
  const counts = Object.fromEntries(DRONE_VIEW_STATES.map((state) => [state, 0])) as Record<DroneViewState, number>;
  for (const drone of drones) counts[drone.state] += 1;
  const unseenDrones = Math.max(0, record.drones - drones.length);
  counts[liveness === 'ended' ? 'unchanged' : 'pending'] += unseenDrones;
  const intervals = intervalRecords(audit);
  const failed =
    hot.length > 0 || (record.result !== null && FAILED_RESULTS.has(record.result)) || record.stage === 'rolling back';
  const limit = input.eventLimit ?? 200;
  return {
    summary: summaryOf(record, liveness),
    reason: record.reason,
    step: record.step,
    sha256: record.config.sha256,
    resumeCommand: liveness === 'gone' ? `rollout resume ${record.id}${input.storeFlags ?? ''}` : null,
    hot,
    timeline: buildTimeline(audit, stepNamesOf(input.snapshot), { liveness, failed }),
    drones,
    unseenDrones,
    counts,
    metrics: metricSeries(intervals),
    intervals,
    // Without the samples judged: the page lists events, and a few hundred samples each would dwarf them.
    events: audit
      .slice(-limit)
      .reverse()
      .map((event) => (event.samples === undefined ? event : { ...event, samples: undefined })),
    eventCount: audit.length,
  };
}

/** What the store holds of one rollout; null when it has no such rollout. */
export async function readRollout(
  store: StateStore,
  id: string,
): Promise<Omit<ViewInput, 'liveness' | 'eventLimit' | 'storeFlags'> | null> {
  const record = await store.getRollout(id);
  if (record === null) return null;
  const [progress, audit, snapshot] = await Promise.all([
    store.loadProgress(id),
    store.readAudit(id),
    store.loadSnapshot(id),
  ]);
  return { record, progress, audit, snapshot };
}

/** Reads one rollout from the store and builds its view; null when the store has no such rollout. */
export async function loadRolloutView(
  store: StateStore,
  id: string,
  options: {
    readonly livenessOf: (record: RolloutRecord) => RolloutLiveness;
    readonly eventLimit?: number;
    readonly storeFlags?: string;
  },
): Promise<RolloutView | null> {
  const stored = await readRollout(store, id);
  if (stored === null) return null;
  return buildRolloutView({
    ...stored,
    liveness: options.livenessOf(stored.record),
    ...(options.eventLimit === undefined ? {} : { eventLimit: options.eventLimit }),
    ...(options.storeFlags === undefined ? {} : { storeFlags: options.storeFlags }),
  });
}
