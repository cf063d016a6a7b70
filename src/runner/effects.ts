import { keepLease } from '../lock/lease-keeper.js';
import { describeHolder } from '../lock/describe.js';
import type { Lease, LockOwner, LockStore } from '../lock/types.js';
import type { RolloutEffects } from '../machine/types.js';
import { AnalysisStage } from './analysis-stage.js';
import type { RolloutRuntime } from './context.js';
import { pauseFleet, pushStep, resumeFleet, rollBack, verifyPromotion } from './fleet-stages.js';

/**
 * The real effects of a rollout: drones over HTTP, the config lock in the lock store, telemetry analysis.
 * A rollback waits for the push in flight to settle first, so no push can land after its own rollback.
 */
export function createRolloutEffects(runtime: RolloutRuntime, locks: LockStore, owner: LockOwner): RolloutEffects {
  const analysis = new AnalysisStage(runtime);
  const { spec, config } = runtime.plan;
  let lease: Lease | null = null;
  let pushing: Promise<unknown> = Promise.resolve();

  function leaseFor(fence: number): Lease {
    if (!lease || lease.fence !== fence) throw new Error(`no lease with fence ${fence} is held by this rollout`);
    return lease;
  }

  return {
    pauseFleet: (signal) => pauseFleet(runtime, signal),

    async acquireLock(signal) {
      const result = await locks.acquire(config.file, owner, { ttlMs: spec.lock.ttlMs, waitMs: spec.lock.waitMs, signal });
      if (!result.acquired) return { acquired: false, holder: describeHolder(result.holder, runtime.now()) };
      if (signal.aborted) {
        // The rollout stopped waiting (abort, SIGINT) while the store granted the lease: give it back now.
        await locks.release(result.lease);
        return { acquired: false, holder: 'not taken: the rollout was stopped while acquiring it' };
      }
      lease = result.lease;
      runtime.logger.info({ key: lease.key, fence: lease.fence }, 'config lock acquired');
      return { acquired: true, fence: lease.fence };
    },

    keepLease(fence, onLost) {
      const keeper = keepLease(locks, leaseFor(fence), { onLost: (error) => onLost(error.message) });
      return () => void keeper.stop();
    },

    async pushStep(input, signal) {
      const push = pushStep(runtime, input, signal);
      pushing = push.catch(() => undefined);
      const outcome = await push;
      analysis.markPushed();
      return outcome;
    },

    analyseInterval: (input, signal) => analysis.analyse(input, signal),

    verifyPromotion: () => verifyPromotion(runtime),

    async rollBack(input, signal) {
      await pushing;
      return rollBack(runtime, input, signal);
    },

    resumeFleet: (signal) => resumeFleet(runtime, signal),

    async releaseLock(input) {
      await locks.release(leaseFor(input.fence));
      lease = null;
      runtime.logger.info({ key: config.file, fence: input.fence }, 'config lock released');
    },
  };
}
