import { forEachDrone } from '../../fleet/for-each-drone.js';
import { dronesOf, type RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';
import { FailureBudget, landedMaybe, concurrency } from './stage-support.js';

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
  const request = {
    rollout: runtime.rolloutId,
    version: config.version,
    sha256: config.sha256,
    fence: input.fence,
    content: config.content,
    ...(runtime.plan.spec.push.confirmWithinMs === undefined
      ? {}
      : { trialMs: runtime.plan.spec.push.confirmWithinMs }),
  };
  runtime.recorder.audit('push.begin', {
    step: step.name,
    drones: step.drones.length,
    fence: input.fence,
    version: config.version,
  });
  await runtime.recorder.flush();
  let done = 0;
  await forEachDrone(
    dronesOf(runtime, step.drones),
    { concurrency: concurrency(runtime), signal },
    async (drone, s) => {
      if (!input.mayWrite()) {
        budget.leaseLapsed(input.fence);
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
      runtime.recorder.audit('push', {
        drone: drone.id,
        ok: true,
        fence: input.fence,
        previous: reply.body.previous?.version ?? null,
      });
      return 'continue';
    },
  );
  runtime.logger.info(
    { step: step.name, drones: step.drones.length, hot: budget.hot, abort: budget.reason },
    'step pushed',
  );
  return budget.outcome();
}
