import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { assertNonEmptyString, assertPositiveInteger } from '../src/infra/argument-checks.js';
import { createEmbeddedStateStore } from '../src/store/embedded/store.js';
import { rolloutFiles, rolloutsRoot } from '../src/store/embedded/rollout-files.js';
import type { AuditEvent, DroneProgressRecord, RolloutRecord, StateStore } from '../src/store/types.js';

export interface StateStoreBench {
  readonly transitions: number;
  /** Wall time of every write, creating the rollout and closing the store included. */
  readonly totalMs: number;
  /** totalMs spread over the transitions, the fleet stages' batches included. */
  readonly perTransitionMs: number;
  /** Size of the audit log at the end. */
  readonly auditBytes: number;
  readonly auditBytesPerDrone: number;
}

/** About what the machine goes through on a canary and two waves. */
export const TRANSITIONS = 40;

/** The stages that touch every drone once: each one saves a progress batch and an audit event per drone. */
const FLEET_STAGES = ['pause', 'push', 'resume'] as const;
type FleetStage = (typeof FLEET_STAGES)[number];

const OLD = { version: 'v42', sha256: 'a9d1c07e5b2f4d8c9e1a0b3c5d7f9e2a4c6b8d0f1e3a5c7b9d2f4e6a8c0b1d3e' };
const NEW = { version: '3f2a9c1', sha256: '3f2a9c1b4e5d6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8' };

/**
 * Persists a simulated rollout of `drones` drones into a fresh rollout under `dir` the way the runner
 * does: per transition the record, a ~3 KB snapshot and one audit event; per fleet stage (pause, push,
 * resume) one progress batch and one audit batch covering every drone. Times it all with fsync on.
 */
export async function benchStateStore(dir: string, drones: number): Promise<StateStoreBench> {
  assertNonEmptyString('dir', dir);
  assertPositiveInteger('drones', drones);
  const { id, totalMs } = await timeBenchRollout(createEmbeddedStateStore({ dir }), drones);
  const files = rolloutFiles(rolloutsRoot(resolve(dir)), id);
  const auditBytes = files === undefined ? 0 : (await stat(files.audit)).size;
  return benchFigures(totalMs, auditBytes, drones);
}

/** Persists the bench rollout into `store` (see persistBenchRollout), closes it, and times both. */
export async function timeBenchRollout(
  store: StateStore,
  drones: number,
): Promise<{ readonly id: string; readonly totalMs: number }> {
  const id = benchRolloutId();
  const started = performance.now();
  try {
    await persistBenchRollout(store, id, drones);
  } finally {
    await store.close();
  }
  return { id, totalMs: performance.now() - started };
}

export function benchFigures(totalMs: number, auditBytes: number, drones: number): StateStoreBench {
  return {
    transitions: TRANSITIONS,
    totalMs: round(totalMs),
    perTransitionMs: round(totalMs / TRANSITIONS),
    auditBytes,
    auditBytesPerDrone: round(auditBytes / drones),
  };
}

function benchRolloutId(): string {
  return `bench-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
}

/** The simulated rollout every state-store bench persists (this one and store-etcd.ts), in the runner's order. */
async function persistBenchRollout(store: StateStore, id: string, drones: number): Promise<void> {
  const droneIds = Array.from({ length: drones }, (_, index) => `drone-${index + 1}`);
  const stageAt = new Map(
    FLEET_STAGES.map((stage, index) => [Math.round(((index + 1) * TRANSITIONS) / (FLEET_STAGES.length + 1)), stage]),
  );
  await store.createRollout(benchRecord(id, drones));
  for (let transition = 0; transition < TRANSITIONS; transition += 1) {
    const stage = `step ${transition}`;
    await store.updateRollout(id, { stage, step: { index: transition, name: stage, total: 0 }, heartbeat: Date.now() });
    await store.saveSnapshot(id, benchSnapshot(id, transition, drones));
    await store.appendAudit(id, [{ t: Date.now(), kind: 'transition', to: stage }]);
    const fleetStage = stageAt.get(transition);
    if (fleetStage !== undefined) {
      await persistFleetStage(store, id, droneIds, fleetStage);
    }
  }
}

async function persistFleetStage(
  store: StateStore,
  id: string,
  droneIds: readonly string[],
  stage: FleetStage,
): Promise<void> {
  const pushed = stage !== 'pause';
  const progress: DroneProgressRecord = {
    before: OLD,
    now: pushed ? NEW : OLD,
    pauseSent: stage !== 'resume',
    pushSent: pushed,
    rolledBack: false,
    lastError: null,
  };
  const changes: Record<string, DroneProgressRecord> = {};
  const events: AuditEvent[] = [];
  for (const drone of droneIds) {
    changes[drone] = progress;
    events.push(
      stage === 'push'
        ? {
            t: Date.now(),
            kind: 'push',
            drone,
            version: NEW.version,
            sha256: NEW.sha256.slice(0, 12),
            fence: 7,
            ok: true,
          }
        : { t: Date.now(), kind: stage, drone, ok: true },
    );
  }
  await store.saveProgress(id, changes);
  await store.appendAudit(id, events);
}

function benchRecord(id: string, drones: number): RolloutRecord {
  const now = Date.now();
  return {
    id,
    name: 'bench',
    specPath: '/bench/rollouts/bench.yaml',
    specDigest: NEW.sha256,
    inventory: '/bench/fleet.yaml',
    config: { file: 'aim_lock_config.conf', ...NEW },
    owner: { host: 'bench', pid: process.pid, bootId: 'bench', user: 'bench' },
    drones,
    stage: 'pausingFleet',
    step: { index: 0, name: 'canary', total: 0 },
    updated: now,
    result: null,
    reason: '',
    started: now,
    ended: null,
    heartbeat: now,
  };
}

/** Shaped like XState's persisted snapshot of the rollout machine: counts and verdicts, never drone lists (~3 KB). */
function benchSnapshot(id: string, transition: number, drones: number): unknown {
  const steps = ['canary', 'wave 1', 'wave 2'].map((name, index) => ({
    name,
    drones: Math.ceil((drones * (index + 1)) / 3),
    bakeMs: 30_000,
    intervals: 6,
    approval: index === 0 ? 'auto' : null,
  }));
  const verdicts = Array.from({ length: 12 }, (_, index) => ({
    step: index % 3,
    interval: index,
    verdict: 'pass',
    metrics: [
      { name: 'heart_rate', canary: 71.5, baseline: 70.9, limit: 120, verdict: 'pass' },
      { name: 'trajectory_error', canary: 0.021, baseline: 0.02, pValue: 0.43, verdict: 'pass' },
    ],
  }));
  return {
    status: 'active',
    value: { canary: transition % 2 === 0 ? 'pushing' : 'baking' },
    historyValue: {},
    children: {},
    context: {
      rolloutId: id,
      fence: 7,
      stepIndex: transition % 3,
      steps,
      verdicts,
      hot: [],
      attention: [],
      result: null,
      reason: '',
    },
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
