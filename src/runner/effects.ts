import { describeHolder } from '../lock/describe.js';
import { keepLease, type LeaseKeeper } from '../lock/lease-keeper.js';
import type { Lease, LockOwner, LockStore } from '../lock/types.js';
import type { RolloutEffects } from '../machine/types.js';
import { AnalysisStage } from './analysis-stage.js';
import type { RolloutRuntime } from './context.js';
import { pauseFleet, pushStep, resumeFleet, rollBack, verifyPromotion } from './fleet-stages.js';

/**
 * The real effects of a rollout: drones over HTTP, the config lock in the lock store, telemetry analysis.
 * Each effect first waits until the transition that started it is in the state store. A rollback waits
 * for the push in flight to settle first, so no push can land after its own rollback.
 */
export function createRolloutEffects(
  runtime: RolloutRuntime,
  locks: LockStore,
  owner: LockOwner,
  /** The lease a resumed rollout re-took before its machine restarted. */
  resumedLease: Lease | null = null,
): RolloutEffects {
  const analysis = new AnalysisStage(runtime);
  const { spec, config } = runtime.plan;
  const persisted = () => runtime.recorder.flush();
  /** Clean-up (rollback, resume, release) runs even when the state store cannot be written. */
  const persistedIfPossible = () => runtime.recorder.flushOrLog('cleaning up without the state store');
  let lease: Lease | null = resumedLease;
  let keeper: LeaseKeeper | null = null;
  let pushing: Promise<unknown> = Promise.resolve();

  /**
   * The lease the rollout holds. A resumed rollout re-took its lease with a larger fence, while the
   * steps restored from its snapshot still carry the old one: the lease held is what counts.
   */
  function leaseFor(fence: number): Lease {
    if (!lease || lease.fence < fence) throw new Error(`no lease with fence ${fence} is held by this rollout`);
    return lease;
  }

  return {
    async pauseFleet(signal) {
      await persisted();
      return pauseFleet(runtime, signal);
    },

    async acquireLock(signal) {
      await persisted();
      const result = await locks.acquire(config.file, owner, { ttlMs: spec.lock.ttlMs, waitMs: spec.lock.waitMs, signal });
      if (!result.acquired) {
        const holder = describeHolder(result.holder, runtime.now());
        runtime.recorder.audit('lock.busy', { key: config.file, holder });
        return { acquired: false, holder };
      }
      if (signal.aborted) {
        // The rollout stopped waiting (abort, SIGINT) while the store granted the lease: give it back now.
        await locks.release(result.lease);
        return { acquired: false, holder: 'not taken: the rollout was stopped while acquiring it' };
      }
      lease = result.lease;
      runtime.recorder.audit('lock.acquired', { key: lease.key, fence: lease.fence });
      runtime.logger.info({ key: lease.key, fence: lease.fence }, 'config lock acquired');
      return { acquired: true, fence: lease.fence };
    },

    keepLease(fence, onLost) {
      const kept = keepLease(locks, leaseFor(fence), {
        onLost: (error) => {
          runtime.recorder.audit('lock.lost', { key: config.file, fence, reason: error.message });
          onLost(error.message);
        },
      });
      keeper = kept;
      return () => {
        if (keeper === kept) keeper = null;
        void kept.stop();
      };
    },

    async pushStep(input, signal) {
      await persisted();
      const step = runtime.plan.steps[input.stepIndex];
      // The step's own drones before their push are the baseline of last resort (the last wave has no other).
      if (step && step.bakeMs > 0 && spec.analysis.metrics.length > 0) await analysis.capturePrePush(input.stepIndex, signal);
      const mayWrite = () => keeper?.isFresh() ?? false;
      const push = pushStep(runtime, { ...input, fence: leaseFor(input.fence).fence, mayWrite }, signal);
      pushing = push.catch(() => undefined);
      const outcome = await push;
      analysis.markPushed();
      return outcome;
    },

    async analyseInterval(input, signal) {
      await persisted();
      return analysis.analyse(input, signal);
    },

    async verifyPromotion() {
      await persisted();
      return verifyPromotion(runtime);
    },

    async rollBack(input, signal) {
      await pushing;
      await persistedIfPossible();
      return rollBack(runtime, { fence: lease && lease.fence > input.fence ? lease.fence : input.fence }, signal);
    },

    async resumeFleet(signal) {
      await persistedIfPossible();
      return resumeFleet(runtime, signal);
    },

    async releaseLock(input) {
      await persistedIfPossible();
      const held = leaseFor(input.fence);
      await locks.release(held);
      lease = null;
      runtime.recorder.audit('lock.released', { key: config.file, fence: held.fence });
      runtime.logger.info({ key: config.file, fence: held.fence }, 'config lock released');
    },
  };
}
