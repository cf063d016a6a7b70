import type { AuditEvent, DroneProgressRecord } from '../store/types.js';

/** What a drone's cell on the page and in a report says; `hot` wins over everything else. */
export type DroneViewState =
  'pending' | 'paused' | 'deferred' | 'pushed' | 'updated' | 'rolled_back' | 'unchanged' | 'failed' | 'hot';

/** Every state in the order a legend shows them. */
export const DRONE_VIEW_STATES: readonly DroneViewState[] = [
  'pending',
  'paused',
  'deferred',
  'pushed',
  'updated',
  'rolled_back',
  'unchanged',
  'failed',
  'hot',
];

export interface DroneView {
  readonly id: string;
  readonly state: DroneViewState;
  /** The version it runs as far as this rollout knows; null before it answered. */
  readonly version: string | null;
  readonly error: string | null;
}

/** The drones that answered HOT, from the events that say so (a pause, a health read, a push) and the end. */
export function hotDrones(audit: readonly AuditEvent[]): string[] {
  const hot = new Set<string>();
  for (const event of audit) {
    if (event.failure === 'hot' && typeof event.drone === 'string') hot.add(event.drone);
    if (event.kind === 'ended') for (const id of idsIn(event.hot)) hot.add(id);
  }
  return [...hot];
}

/** The drones the rollout ended leaving where they should not be (`attention` of its `ended` event). */
export function attentionDrones(audit: readonly AuditEvent[]): string[] {
  return audit.filter((event) => event.kind === 'ended').flatMap((event) => idsIn(event.attention));
}

function idsIn(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((id): id is string => typeof id === 'string') : [];
}

/**
 * Where one drone is: the ledger's record read against the new config's sha256, as the rollout's end
 * report reads it (`Ledger.stateOf`): `updated` only when this rollout pushed it, `failed` when the
 * rollout says it left it wrong or its last request failed. `ended` turns a drone the rollout left alone
 * (or paused and resumed) into `unchanged`, where a running rollout shows it `pending` or `paused`.
 */
export function droneViewState(
  progress: DroneProgressRecord,
  newSha256: string,
  flags: { readonly hot: boolean; readonly attention: boolean; readonly ended: boolean },
): DroneViewState {
  if (flags.hot) return 'hot';
  if (flags.attention) return progress.deferred !== undefined && !progress.pushSent ? 'deferred' : 'failed';
  if (progress.rolledBack) return 'rolled_back';
  if (progress.lastError !== null && progress.lastError !== '') return 'failed';
  if (progress.autoReverted === true) return 'failed';
  if (progress.pushSent) {
    if (progress.now?.sha256 === newSha256) return progress.unconfirmed === true ? 'pushed' : 'updated';
    return flags.ended ? 'failed' : 'pushed';
  }
  if (progress.deferred !== undefined) return 'deferred';
  if (progress.pauseSent && !flags.ended) return 'paused';
  return flags.ended || progress.before !== null ? 'unchanged' : 'pending';
}

/** `drone-2` before `drone-10`: ids compared by their text, numbers by value. */
export function compareDroneIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export function droneViews(
  progress: Readonly<Record<string, DroneProgressRecord>>,
  newSha256: string,
  marks: { readonly hot: ReadonlySet<string>; readonly attention: ReadonlySet<string>; readonly ended: boolean },
): DroneView[] {
  return Object.keys(progress)
    .sort(compareDroneIds)
    .map((id) => {
      const record = progress[id] as DroneProgressRecord;
      const flags = { hot: marks.hot.has(id), attention: marks.attention.has(id), ended: marks.ended };
      return {
        id,
        state: droneViewState(record, newSha256, flags),
        version: (record.now ?? record.before)?.version ?? null,
        error: record.lastError,
      };
    });
}
