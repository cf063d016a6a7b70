import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, toPromise, type SnapshotFrom } from 'xstate';
import { DroneClient } from '../fleet/drone-client.js';
import type { LockOwner, LockStore } from '../lock/types.js';
import { createRolloutMachine } from '../machine/rollout-machine.js';
import type { StepSchedule, VerdictRecord } from '../machine/types.js';
import type { Plan } from '../spec/types.js';
import type { RolloutObserver, RolloutRuntime } from './context.js';
import { createRolloutEffects } from './effects.js';
import { Ledger } from './ledger.js';
import { buildReport, type RolloutReport } from './report.js';

export interface RunRolloutOptions {
  readonly plan: Plan;
  readonly locks: LockStore;
  /** Who holds the lock: this host and process; the rollout id is added here. */
  readonly owner: Omit<LockOwner, 'rollout'>;
  readonly logger: Logger;
  readonly observer: RolloutObserver;
  /** Bearer token for the drones' agents. */
  readonly token?: string;
  readonly now?: () => number;
  readonly rolloutId?: string;
}

export interface RunningRollout {
  readonly id: string;
  readonly done: Promise<RolloutReport>;
  abort(by: string, reason?: string): void;
  interrupt(signal: string): void;
  promote(by: string): void;
}

export function newRolloutId(name: string): string {
  return `${name}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
}

/** The machine's steps: bake split into analysis intervals, the canary gated when approval is manual. */
export function scheduleOf(plan: Plan): StepSchedule[] {
  const { analysis, canary } = plan.spec;
  return plan.steps.map((step) => ({
    name: step.name,
    droneCount: step.drones.length,
    intervals: step.bakeMs === 0 ? 0 : Math.max(1, Math.round(step.bakeMs / analysis.intervalMs)),
    intervalDelayMs: Math.min(analysis.intervalMs, step.bakeMs),
    approval: step.kind === 'canary' && canary.approval === 'manual',
  }));
}

type RolloutSnapshot = SnapshotFrom<ReturnType<typeof createRolloutMachine>>;

const LABELS: Readonly<Record<string, string>> = {
  pausingFleet: 'pausing the fleet',
  acquiringLock: 'taking the config lock',
  rollingBack: 'rolling back',
  resumingFleet: 'resuming the fleet',
  releasingLock: 'releasing the config lock',
  verifying: 'checking every drone runs the new config',
  awaitingApproval: 'waiting for `rollout promote`',
};

/**
 * A readable stage for people and the state store: `canary: pushing to 3 drones`, `rolling back`.
 * Bake and analysis are one stage (`canary: baking`); their verdicts are reported on their own.
 */
export function stageName(snapshot: RolloutSnapshot): string {
  const value = snapshot.value;
  if (typeof value === 'string') return LABELS[value] ?? value;
  if (!('locked' in value)) return JSON.stringify(value);
  const locked = value.locked;
  if (typeof locked === 'string') return LABELS[locked] ?? locked;
  const stage = String(locked.stages);
  const step = snapshot.context.steps[snapshot.context.stepIndex];
  const name = step?.name ?? 'step';
  if (stage === 'pushing') return `${name}: pushing to ${step?.droneCount ?? 0} drones`;
  if (stage === 'baking' || stage === 'analysing') return `${name}: baking ${step?.intervals ?? 0} analysis intervals`;
  return LABELS[stage] ?? `${name}: ${stage}`;
}

/** Starts one rollout; `done` settles with the report once the fleet is resumed and the lock released. */
export function runRollout(options: RunRolloutOptions): RunningRollout {
  const { plan } = options;
  const id = options.rolloutId ?? newRolloutId(plan.spec.name);
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ rollout: id });
  const client = new DroneClient({
    timeoutMs: plan.spec.push.timeoutMs,
    retries: plan.spec.push.retries,
    maxSockets: plan.spec.push.concurrency,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  const ledger = new Ledger();
  const runtime: RolloutRuntime = {
    rolloutId: id,
    plan,
    client,
    ledger,
    logger,
    observer: options.observer,
    now,
    drones: new Map(plan.drones.map((d) => [d.id, d])),
  };
  const effects = createRolloutEffects(runtime, options.locks, { ...options.owner, rollout: id });
  const actor = createActor(createRolloutMachine(effects), {
    input: { rolloutId: id, steps: scheduleOf(plan), failureLimit: plan.spec.analysis.failureLimit },
  });
  let lastStage = '';
  let lastVerdict: VerdictRecord | undefined;
  actor.subscribe((snapshot) => {
    const { verdicts, steps, stepIndex } = snapshot.context;
    const latest = verdicts.at(-1);
    if (latest !== lastVerdict && latest) {
      lastVerdict = latest;
      options.observer.verdict(latest, steps[stepIndex]?.intervals ?? 0);
    }
    if (snapshot.status === 'done') return;
    const stage = stageName(snapshot);
    if (stage === lastStage) return;
    lastStage = stage;
    logger.info({ stage }, 'stage');
    options.observer.stage(stage);
  });
  const started = now();
  actor.start();
  const done = toPromise(actor)
    .then((output) => buildReport({ id, plan, ledger, output, started, ended: now() }))
    .finally(() => client.close());
  return {
    id,
    done,
    abort: (by, reason) => actor.send(reason === undefined ? { type: 'operator.abort', by } : { type: 'operator.abort', by, reason }),
    interrupt: (signal) => actor.send({ type: 'operator.interrupt', signal }),
    promote: (by) => actor.send({ type: 'operator.promote', by }),
  };
}
