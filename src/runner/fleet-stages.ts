import type { DroneFailure } from '../fleet/drone-client.js';
import { forEachDrone } from '../fleet/for-each-drone.js';
import type { ConfigState } from '../fleet/protocol.js';
import type { CleanupOutcome, StageOutcome } from '../machine/types.js';
import type { Drone } from '../spec/types.js';
import { allowed, describeThreshold, dronesOf, type RolloutRuntime } from './context.js';

/** Counts a stage's failures against the spec's abort thresholds; the first breach is the reason to stop. */
class FailureBudget {
  readonly hot: string[] = [];
  #refused = 0;
  #unreachable = 0;
  #reason: string | undefined;

  constructor(
    private readonly runtime: RolloutRuntime,
    /** The audit event kind of this stage's requests. */
    private readonly kind: 'pause' | 'push',
    /** How the stage reads in a reason: `pausing the fleet`, `pushing canary`. */
    private readonly stage: string,
  ) {}

  get reason(): string | undefined {
    return this.#reason;
  }

  /** Records one failed drone; returns true when the stage must stop. */
  record(drone: Drone, failure: DroneFailure): boolean {
    const { abort } = this.runtime.plan.spec;
    const total = this.runtime.plan.drones.length;
    this.runtime.ledger.edit(drone.id).lastError = failure.message;
    this.runtime.recorder.audit(this.kind, { drone: drone.id, ok: false, failure: failure.kind, error: failure.message });
    this.runtime.logger.warn({ drone: drone.id, stage: this.stage, kind: failure.kind }, failure.message);
    if (failure.kind === 'hot') {
      this.hot.push(drone.id);
      return true;
    }
    if (failure.kind === 'unreachable') {
      this.#unreachable += 1;
      if (this.#unreachable > allowed(abort.maxUnreachable, total)) {
        this.#reason ??= `${this.#unreachable} drones unreachable while ${this.stage} (max_unreachable ${describeThreshold(abort.maxUnreachable)}); last: ${drone.id}: ${failure.message}`;
        return true;
      }
    } else if (failure.kind === 'refused') {
      this.#refused += 1;
      if (this.#refused > allowed(abort.maxPushFailures, total)) {
        this.#reason ??= `${this.#refused} drones refused while ${this.stage} (max_push_failures ${describeThreshold(abort.maxPushFailures)}); last: ${drone.id}: ${failure.code}: ${failure.message}`;
        return true;
      }
    }
    return false;
  }

  outcome(): StageOutcome {
    return this.#reason === undefined ? { hot: this.hot } : { hot: this.hot, abortReason: this.#reason };
  }
}

/** A drone that answered no did nothing; one that did not answer (or was cancelled) may have acted. */
function landedMaybe(failure: DroneFailure): boolean {
  return failure.kind === 'unreachable' || failure.kind === 'cancelled';
}

function concurrency(runtime: RolloutRuntime): number {
  return runtime.plan.spec.push.concurrency;
}

function isHot(configs: Readonly<Record<string, ConfigState>> | undefined, file: string): boolean {
  return configs?.[file]?.lock === 'HOT';
}

/** Pauses every targeted drone, noting the version each one runs; a drone already HOT stops the rollout. */
export async function pauseFleet(runtime: RolloutRuntime, signal: AbortSignal): Promise<StageOutcome> {
  const { spec, config, drones } = runtime.plan;
  if (!spec.pause.fleet) return { hot: [] };
  const budget = new FailureBudget(runtime, 'pause', 'pausing the fleet');
  const deadline = AbortSignal.timeout(spec.pause.timeoutMs);
  let done = 0;
  const options = { concurrency: concurrency(runtime), signal: AbortSignal.any([signal, deadline]), stopCancelsInFlight: false };
  await forEachDrone(drones, options, async (drone, s) => {
    const progress = runtime.ledger.edit(drone.id);
    progress.pauseSent = true;
    const reply = await runtime.client.pause(drone, runtime.rolloutId, s);
    runtime.observer.progress('pausing', ++done, drones.length);
    if (!reply.ok) {
      progress.pauseSent = landedMaybe(reply);
      if (reply.kind === 'cancelled') return 'stop';
      return budget.record(drone, reply) ? 'stop' : 'continue';
    }
    const state = reply.body.configs?.[config.file];
    if (state) progress.before = progress.now = { version: state.version, sha256: state.sha256 };
    runtime.recorder.audit('pause', { drone: drone.id, ok: true, version: state?.version ?? null, lock: state?.lock ?? null });
    if (isHot(reply.body.configs, config.file)) {
      return budget.record(drone, { ok: false, kind: 'hot', message: `lock mismatch: ${config.file} HOT` }) ? 'stop' : 'continue';
    }
    return 'continue';
  });
  if (deadline.aborted && !signal.aborted && budget.reason === undefined && budget.hot.length === 0) {
    return { hot: [], abortReason: `pausing the fleet took longer than pause.timeout (${spec.pause.timeoutMs} ms): ${done} of ${drones.length} drones answered` };
  }
  return budget.outcome();
}

/** Pushes the new config to one step's drones with the fence; a HOT answer or a breached budget stops it. */
export async function pushStep(
  runtime: RolloutRuntime,
  input: {
    readonly stepIndex: number;
    readonly fence: number;
    /** Asked before every push: false once the lease may have expired (see LeaseKeeper.isFresh). */
    readonly mayWrite: () => boolean;
  },
  signal: AbortSignal,
): Promise<StageOutcome> {
  const { config, steps } = runtime.plan;
  const step = steps[input.stepIndex];
  if (!step) throw new RangeError(`step ${input.stepIndex} is not in the plan`);
  const budget = new FailureBudget(runtime, 'push', `pushing ${step.name}`);
  const request = { rollout: runtime.rolloutId, version: config.version, sha256: config.sha256, fence: input.fence, content: config.content };
  runtime.recorder.audit('push.begin', { step: step.name, drones: step.drones.length, fence: input.fence, version: config.version });
  await runtime.recorder.flush();
  let done = 0;
  let expired = false;
  await forEachDrone(dronesOf(runtime, step.drones), { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    if (!input.mayWrite()) {
      expired = true;
      return 'stop';
    }
    const progress = runtime.ledger.edit(drone.id);
    progress.pushSent = true;
    const reply = await runtime.client.push(drone, config.file, request, s);
    runtime.observer.progress(step.name, ++done, step.drones.length);
    if (!reply.ok) {
      progress.pushSent = landedMaybe(reply);
      if (reply.kind === 'cancelled') return 'stop';
      return budget.record(drone, reply) ? 'stop' : 'continue';
    }
    progress.before ??= reply.body.previous;
    progress.now = { version: reply.body.version, sha256: reply.body.sha256 };
    progress.lastError = null;
    runtime.recorder.audit('push', { drone: drone.id, ok: true, fence: input.fence, previous: reply.body.previous?.version ?? null });
    return 'continue';
  });
  runtime.logger.info({ step: step.name, drones: step.drones.length, hot: budget.hot, abort: budget.reason }, 'step pushed');
  if (expired && budget.hot.length === 0 && budget.reason === undefined) {
    runtime.recorder.audit('lock.expired', { key: config.file, fence: input.fence });
    return { hot: [], abortReason: `lease lost: not renewed within its TTL (${runtime.plan.spec.lock.ttlMs} ms; was this process paused?), so no more pushes with fence ${input.fence}` };
  }
  return budget.outcome();
}

/** Targeted drones that do not run the new config (a push that failed within the abort budget). */
export async function verifyPromotion(runtime: RolloutRuntime): Promise<CleanupOutcome> {
  const { sha256 } = runtime.plan.config;
  const incomplete = runtime.plan.drones.map((d) => d.id).filter((id) => runtime.ledger.get(id).now?.sha256 !== sha256);
  return { incomplete };
}

/**
 * Rolls back every drone a push was sent to, answered or not: the agent restores the previous version
 * if this rollout installed the current one, and answers with the current version otherwise.
 */
export async function rollBack(runtime: RolloutRuntime, input: { readonly fence: number }, signal: AbortSignal): Promise<CleanupOutcome> {
  const { config } = runtime.plan;
  const ids = runtime.ledger.ids((p) => p.pushSent && !p.rolledBack);
  runtime.recorder.audit('rollback.begin', { drones: ids.length, fence: input.fence });
  await runtime.recorder.flushOrLog('rolling back without the state store');
  const incomplete: string[] = [];
  let done = 0;
  await forEachDrone(dronesOf(runtime, ids), { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    const progress = runtime.ledger.edit(drone.id);
    const reply = await runtime.client.rollback(drone, config.file, runtime.rolloutId, input.fence, s);
    runtime.observer.progress('rolling back', ++done, ids.length);
    if (!reply.ok) {
      progress.lastError = reply.message;
      incomplete.push(drone.id);
      runtime.recorder.audit('rollback', { drone: drone.id, ok: false, failure: reply.kind, error: reply.message });
      runtime.logger.error({ drone: drone.id, kind: reply.kind }, `rollback failed: ${reply.message}`);
      return 'continue';
    }
    runtime.recorder.audit('rollback', { drone: drone.id, ok: true, version: reply.body.version, restored: reply.body.restored ?? null });
    progress.now = { version: reply.body.version, sha256: reply.body.sha256 };
    const back = progress.before === null ? reply.body.sha256 !== config.sha256 : reply.body.sha256 === progress.before.sha256;
    if (back) {
      progress.rolledBack = true;
      progress.lastError = null;
    } else {
      progress.lastError = `still on ${reply.body.version} after rollback`;
      incomplete.push(drone.id);
    }
    return 'continue';
  });
  runtime.logger.info({ drones: ids.length, incomplete: incomplete.length }, 'rolled back');
  return { incomplete };
}

/** Resumes every drone a pause was sent to; drones that stay paused are listed for a human. */
export async function resumeFleet(runtime: RolloutRuntime, signal: AbortSignal): Promise<CleanupOutcome> {
  const ids = runtime.ledger.ids((p) => p.pauseSent);
  const incomplete: string[] = [];
  let done = 0;
  await forEachDrone(dronesOf(runtime, ids), { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    const reply = await runtime.client.resume(drone, runtime.rolloutId, s);
    runtime.observer.progress('resuming', ++done, ids.length);
    if (!reply.ok) {
      runtime.ledger.edit(drone.id).lastError = reply.message;
      incomplete.push(drone.id);
      runtime.recorder.audit('resume', { drone: drone.id, ok: false, failure: reply.kind, error: reply.message });
      runtime.logger.error({ drone: drone.id, kind: reply.kind }, `resume failed: ${reply.message}`);
    } else {
      runtime.ledger.edit(drone.id).pauseSent = false;
      runtime.recorder.audit('resume', { drone: drone.id, ok: true, state: reply.body.state });
    }
    return 'continue';
  });
  return { incomplete };
}
