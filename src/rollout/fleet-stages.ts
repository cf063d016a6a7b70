import { misconfiguration, type DroneFailure } from '../fleet/drone-client.js';
import { forEachDrone } from '../fleet/for-each-drone.js';
import { isHot } from '../protocol/v1.js';
import type { CleanupOutcome, StageOutcome } from './machine-types.js';
import type { Drone } from '../spec/types.js';
import { allowed, describeThreshold, dronesOf, type RolloutRuntime } from './context.js';
import { formatDuration } from '../spec/duration.js';
import { count, listIds } from '../wording.js';
import { describeOthers, fleetVersions, offVersionDrones } from './mixed-fleet.js';

/** Counts a stage's failures against the spec's abort thresholds; the first breach is the reason to stop. */
class FailureBudget {
  readonly hot: string[] = [];
  #refused = 0;
  #unreachable = 0;
  #reason: string | undefined;
  #invalid = false;

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
    if (failure.kind === 'stale') {
      // Never HOT: the drone has accepted a larger fence, so another rollout took the lock since.
      this.#reason ??= `${drone.id} refused this rollout's fence as stale while ${this.stage}: ${failure.message}`;
      return true;
    }
    if (failure.kind === 'unreachable') {
      this.#unreachable += 1;
      if (this.#unreachable > allowed(abort.maxUnreachable, total)) {
        this.#reason ??= `${count(this.#unreachable, 'drone')} unreachable while ${this.stage} (max_unreachable ${describeThreshold(abort.maxUnreachable)}); last: ${drone.id}: ${failure.message}`;
        return true;
      }
    } else if (failure.kind === 'refused' && misconfiguration(failure) !== undefined) {
      // Wrong credentials or a wrong URL are the rollout's configuration, not the drone's health.
      this.#invalid = true;
      this.#reason ??= `${drone.id} answered ${failure.status} ${failure.code} while ${this.stage}: ${failure.message}; ${misconfiguration(failure)}`;
      return true;
    } else if (failure.kind === 'refused' || failure.kind === 'bad_answer') {
      this.#refused += 1;
      if (this.#refused > allowed(abort.maxPushFailures, total)) {
        const why = failure.kind === 'refused' ? `${failure.code}: ${failure.message}` : failure.message;
        this.#reason ??= `${count(this.#refused, 'drone')} failed while ${this.stage} (max_push_failures ${describeThreshold(abort.maxPushFailures)}); last: ${drone.id}: ${why}`;
        return true;
      }
    }
    return false;
  }

  outcome(): StageOutcome {
    if (this.#reason === undefined) return { hot: this.hot };
    return this.#invalid ? { hot: this.hot, abortReason: this.#reason, endsAs: 'invalid' } : { hot: this.hot, abortReason: this.#reason };
  }
}

/** A drone that answered no did nothing; one that did not answer, was cancelled or said yes oddly may have acted. */
function landedMaybe(failure: DroneFailure): boolean {
  return failure.kind === 'unreachable' || failure.kind === 'cancelled' || failure.kind === 'bad_answer';
}

function concurrency(runtime: RolloutRuntime): number {
  return runtime.plan.spec.push.concurrency;
}

/** What pausing the fleet found beyond the stage's outcome. */
export interface PauseFindings {
  /** The highest fence any paused drone has accepted for the config: the lock's fence must be above it. */
  readonly highestFence: number;
}

/**
 * Pauses every targeted drone, noting the version each one runs and the highest fence each has
 * accepted; a drone already HOT stops the rollout.
 */
export async function pauseFleet(runtime: RolloutRuntime, signal: AbortSignal): Promise<StageOutcome & PauseFindings> {
  const { spec, config, drones } = runtime.plan;
  if (!spec.pause.fleet) return { hot: [], highestFence: 0 };
  let highestFence = 0;
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
    if (state) {
      progress.before = progress.now = { version: state.version, sha256: state.sha256 };
      highestFence = Math.max(highestFence, state.fence);
    }
    runtime.recorder.audit('pause', { drone: drone.id, ok: true, version: state?.version ?? null, lock: state?.lock ?? null });
    if (isHot(reply.body.configs, config.file)) {
      return budget.record(drone, { ok: false, kind: 'hot', message: `lock mismatch: ${config.file} HOT` }) ? 'stop' : 'continue';
    }
    return 'continue';
  });
  if (deadline.aborted && !signal.aborted && budget.reason === undefined && budget.hot.length === 0) {
    return { hot: [], highestFence, abortReason: `pausing the fleet took longer than pause.timeout (${formatDuration(spec.pause.timeoutMs)}): ${done} of ${count(drones.length, 'drone')} answered` };
  }
  return { ...budget.outcome(), highestFence };
}

/**
 * Whether the paused fleet is one a rollout can start on, judged once the lock is held. A fleet that already runs the new config
 * needs nothing. The rule for a fleet that another rollout left on other versions: drones that run neither the fleet's
 * current version nor the new one are named. With `fleet.mixed_versions: refuse` (the default) the
 * rollout stops before any push, releases the lock and ends needs_attention; with `adopt` it goes on, keeps them out
 * of the baseline, and a rollback returns each to the version it ran.
 */
export function checkFleetVersions(runtime: RolloutRuntime): StageOutcome {
  const { config, drones } = runtime.plan;
  if (drones.every((drone) => runtime.ledger.get(drone.id).before?.sha256 === config.sha256)) {
    return { hot: [], endsAs: 'promoted', abortReason: `nothing to do: every targeted drone already runs ${config.version}; nothing was pushed` };
  }
  const versions = fleetVersions(runtime);
  if (versions.others.size === 0) return { hot: [] };
  const named = describeOthers(versions);
  const off = [...offVersionDrones(versions)];
  runtime.recorder.audit('fleet.mixed', { current: versions.current?.version ?? null, others: Object.fromEntries([...versions.others.values()].map((g) => [g.version, g.drones])) });
  if (runtime.plan.spec.fleet.mixedVersions === 'adopt') {
    runtime.logger.warn({ drones: off.length }, `mixed fleet adopted: ${named}, while the rest run ${versions.current?.version}; they are kept out of the baseline`);
    runtime.observer.note(`mixed fleet: ${named} (the rest run ${versions.current?.version}); adopted: they are not baseline, and a rollback returns each to its own version`);
    return { hot: [] };
  }
  return {
    hot: [],
    endsAs: 'needs_attention',
    attention: off,
    abortReason:
      `the fleet runs more than one version besides ${runtime.plan.config.version}: ${named}, while the rest run ${versions.current?.version}. ` +
      'Another rollout changed them, or ended halfway: finish or roll it back (`rollout status`, `rollout resume <id> --rollback`), ' +
      'or set fleet.mixed_versions: adopt to roll out over them; nothing was pushed',
  };
}

/**
 * Reads every targeted drone's version again (health), for a rollout that waited for the lock: whoever
 * held it may have changed drones since the pause. A drone that does not answer keeps what its pause said.
 */
export async function rereadVersions(runtime: RolloutRuntime, signal: AbortSignal): Promise<void> {
  const { config, drones } = runtime.plan;
  await forEachDrone(drones, { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    if (runtime.ledger.get(drone.id).pushSent) return 'continue';
    const reply = await runtime.client.health(drone, s);
    const state = reply.ok ? reply.body.configs[config.file] : undefined;
    if (state) {
      const progress = runtime.ledger.edit(drone.id);
      progress.before = progress.now = { version: state.version, sha256: state.sha256 };
    }
    return 'continue';
  });
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
    if (reply.body.seq !== undefined) runtime.configSeq.set(drone.id, reply.body.seq);
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
 * if this rollout installed the current one, and answers with the current version otherwise. Asks
 * `mayWrite` before every rollback, as a push does: a lease that may be gone sends nothing more.
 */
export async function rollBack(
  runtime: RolloutRuntime,
  input: { readonly fence: number; readonly mayWrite: () => boolean },
  signal: AbortSignal,
): Promise<CleanupOutcome> {
  const { config } = runtime.plan;
  const ids = runtime.ledger.ids((p) => p.pushSent && !p.rolledBack);
  runtime.recorder.audit('rollback.begin', { drones: ids.length, fence: input.fence });
  await runtime.recorder.flushOrLog('rolling back without the state store');
  const failed: string[] = [];
  const hot: string[] = [];
  const unsent: string[] = [];
  let done = 0;
  await forEachDrone(dronesOf(runtime, ids), { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    const progress = runtime.ledger.edit(drone.id);
    if (!input.mayWrite()) {
      unsent.push(drone.id);
      return 'continue';
    }
    const reply = await runtime.client.rollback(drone, config.file, runtime.rolloutId, input.fence, s);
    runtime.observer.progress('rolling back', ++done, ids.length);
    if (!reply.ok) {
      progress.lastError = reply.message;
      (reply.kind === 'hot' ? hot : failed).push(drone.id);
      runtime.recorder.audit('rollback', { drone: drone.id, ok: false, failure: reply.kind, error: reply.message });
      runtime.logger.error({ drone: drone.id, kind: reply.kind }, `rollback failed: ${reply.message}`);
      return 'continue';
    }
    const { version, sha256 } = reply.body;
    runtime.recorder.audit('rollback', { drone: drone.id, ok: true, version, restored: reply.body.restored ?? null });
    progress.now = version === null || sha256 === null ? null : { version, sha256 };
    const back = progress.before === null ? reply.body.sha256 !== config.sha256 : reply.body.sha256 === progress.before.sha256;
    if (back) {
      progress.rolledBack = true;
      progress.lastError = null;
    } else {
      progress.lastError = `still on ${version} after rollback`;
      failed.push(drone.id);
    }
    return 'continue';
  });
  runtime.logger.info({ drones: ids.length, failed: failed.length, hot: hot.length, unsent: unsent.length }, 'rolled back');
  const notes: string[] = [];
  if (hot.length > 0) notes.push(`HOT lock mismatch during rollback on ${listIds(hot)}: left on the new config`);
  if (failed.length > 0) notes.push(`rollback did not complete on ${count(failed.length, 'drone')}: ${listIds(failed)}`);
  if (unsent.length > 0) notes.push(`no rollback sent to ${count(unsent.length, 'drone')} once the lease could no longer be trusted: ${listIds(unsent)}`);
  const incomplete = [...hot, ...failed, ...unsent];
  return notes.length === 0 ? { incomplete } : { incomplete, hot, note: notes.join('; ') };
}

/**
 * Resumes every drone a pause was sent to; drones that stay paused are listed for a human, with what
 * happened to them: a drone that never answered at all was never changed, only perhaps paused.
 */
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
  if (incomplete.length === 0) return { incomplete };
  const neverAnswered = (id: string) => runtime.ledger.get(id).before === null && runtime.ledger.get(id).now === null;
  const silent = incomplete.filter(neverAnswered);
  const untouched = incomplete.filter((id) => !runtime.ledger.get(id).pushSent && !neverAnswered(id));
  const notes = [`${count(incomplete.length, 'drone')} could not be resumed and may still be paused: ${listIds(incomplete)}`];
  if (silent.length > 0) notes.push(`${count(silent.length, 'drone')} of them never answered this rollout at all (unreachable from the pause on): ${listIds(silent)}`);
  if (untouched.length > 0) notes.push(`${count(untouched.length, 'drone')} of them never got the new config: ${listIds(untouched)}`);
  return { incomplete, note: notes.join('; ') };
}
