import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, toPromise, type SnapshotFrom } from 'xstate';
import { DroneClient } from '../fleet/drone-client.js';
import type { LockOwner, LockStore } from '../lock/types.js';
import { createRolloutMachine } from '../machine/rollout-machine.js';
import type { StepSchedule } from '../machine/types.js';
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
  /** Called with a readable stage name on every transition. */
  readonly onStage?: (stage: string) => void;
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

/** `locked.stages.baking` in canary → `canary: baking`; outside the steps, the state's own name. */
export function stageName(snapshot: RolloutSnapshot): string {
  const value = snapshot.value;
  if (typeof value === 'string') return value;
  if ('locked' in value) {
    const locked = value.locked;
    if (typeof locked === 'string') return locked;
    const step = snapshot.context.steps[snapshot.context.stepIndex];
    return `${step?.name ?? 'step'}: ${String(locked.stages)}`;
  }
  return JSON.stringify(value);
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
  actor.subscribe((snapshot) => {
    const stage = stageName(snapshot);
    if (stage === lastStage) return;
    lastStage = stage;
    logger.info({ stage }, 'stage');
    options.onStage?.(stage);
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
