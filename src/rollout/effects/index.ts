import { RolloutError } from '../errors.js';
import { describeHolder } from '../lock/describe.js';
import { keepLease, type LeaseKeeper } from '../lock/lease-keeper.js';
import type { Lease, LockOwner, LockStore } from '../lock/types.js';
import type { RolloutEffects } from './machine-types.js';
import { AnalysisStage } from './analysis-stage.js';
import type { RolloutRuntime } from './context.js';
import { checkFleetVersions, pauseFleet, pushStep, rereadVersions, resumeFleet, rollBack, verifyPromotion } from './fleet-stages.js';

/**
 * The real effects of a rollout: drones over HTTP, the config lock in the lock store, telemetry analysis.
 * Each effect first waits until the transition that started it is in the state store. A rollback waits
 * for the push in flight to settle first, so no push can land after its own rollback.
 */
export function createRolloutEffects(
  runtime: RolloutRuntime,
  locks: LockStore,
  owner: LockOwner,
  /**
   * The lease a resumed rollout re-took before its machine restarted, and whether it really holds it: a
   * lease another rollout had taken by then is never written with.
   */
  resumed: { readonly lease: Lease | null; readonly taken: boolean } | null = null,
): RolloutEffects {
  const analysis = new AnalysisStage(runtime);
  const { spec, config } = runtime.plan;
  const persisted = () => runtime.recorder.flush();
  /** Clean-up (rollback, resume, release) runs even when the state store cannot be written. */
  const persistedIfPossible = () => runtime.recorder.flushOrLog('cleaning up without the state store');
  let lease: Lease | null = resumed?.lease ?? null;
  /** False while the lease held is one this process has not confirmed it owns (a resume that found it taken). */
  let leaseConfirmed = resumed === null || resumed.taken;
  /** The highest fence the paused fleet reported. */
  let fleetFence = 0;
  let waitedForLock = false;
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

  /**
   * The lease a rollback may write with, checked with the store first: a run that was frozen, or whose
   * renewals failed, may have lost its lock to another rollout, and then it must send nothing more to
   * any drone. A lease that merely expired, with nobody holding the lock now, is re-taken with a larger
   * fence. A store that cannot answer leaves the lease usable only while it is fresh by this process's
   * clock (renewed less than a TTL ago).
   */
  async function leaseForCleanup(fence: number): Promise<{ lease: Lease; kept: boolean } | { notHeld: string }> {
    const current = leaseFor(fence);
    try {
      await locks.renew(current);
      return { lease: current, kept: keeper?.isFresh() ?? false };
    } catch (error) {
      if (!(error instanceof RolloutError && error.code === 'E_LEASE_LOST')) {
        if (keeper?.isFresh()) return { lease: current, kept: true };
        return giveUp(`the lock store cannot confirm this rollout still holds the config lock (${errorText(error)})`);
      }
    }
    let retaken;
    try {
      retaken = await locks.acquire(config.file, owner, { ttlMs: spec.lock.ttlMs, waitMs: 0, minFence: Math.max(current.fence, fleetFence) + 1 });
    } catch (error) {
      return giveUp(`the lease was lost and the lock store cannot be asked who holds it now (${errorText(error)})`);
    }
    if (!retaken.acquired) {
      const holder = describeHolder(retaken.holder, runtime.now());
      return giveUp(`the config lock is now ${holder}`);
    }
    lease = retaken.lease;
    leaseConfirmed = true;
    runtime.recorder.audit('lock.retaken', { key: lease.key, fence: lease.fence, previous: current.fence });
    runtime.logger.warn({ key: lease.key, fence: lease.fence }, 'lease lost with nobody holding the lock: re-taken with a larger fence to roll back');
    return { lease, kept: false };
  }

  function giveUp(why: string): { notHeld: string } {
    lease = null;
    runtime.recorder.audit('lock.given_up', { key: config.file, reason: why });
    runtime.logger.error({ key: config.file }, `${why}: no rollback is sent`);
    return { notHeld: why };
  }

  return {
    async pauseFleet(signal) {
      await persisted();
      const paused = await pauseFleet(runtime, signal);
      fleetFence = Math.max(fleetFence, paused.highestFence);
      return paused;
    },

    async acquireLock(signal) {
      await persisted();
      // Above every fence the paused fleet reports, whichever store hands it out and whatever it saw before.
      const options = { ttlMs: spec.lock.ttlMs, signal, minFence: fleetFence + 1 };
      let result = await locks.acquire(config.file, owner, { ...options, waitMs: 0 });
      if (!result.acquired && spec.lock.waitMs > 0) {
        waitedForLock = true;
        result = await locks.acquire(config.file, owner, { ...options, waitMs: spec.lock.waitMs });
      }
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
      leaseConfirmed = true;
      runtime.recorder.audit('lock.acquired', { key: lease.key, fence: lease.fence });
      runtime.logger.info({ key: lease.key, fence: lease.fence }, 'config lock acquired');
      return { acquired: true, fence: lease.fence };
    },

    async checkFleet(signal) {
      await persisted();
      // Whoever held the lock while this rollout waited may have changed drones since the pause.
      if (waitedForLock) await rereadVersions(runtime, signal);
      return checkFleetVersions(runtime);
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
      if (!leaseConfirmed) {
        return { hot: [], abortReason: 'another rollout took the config lock while this one was stopped, so it sends nothing more to any drone' };
      }
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
      const held = await leaseForCleanup(input.fence);
      if ('notHeld' in held) {
        const changed = runtime.ledger.ids((p) => p.pushSent && !p.rolledBack);
        return { incomplete: changed, notHeld: held.notHeld };
      }
      const cleanupKeeper = held.kept ? null : keepLease(locks, held.lease, { onLost: (error) => runtime.recorder.audit('lock.lost', { key: config.file, fence: held.lease.fence, reason: error.message }) });
      const mayWrite = () => (cleanupKeeper ?? keeper)?.isFresh() ?? true;
      try {
        return await rollBack(runtime, { fence: held.lease.fence, mayWrite }, signal);
      } finally {
        await cleanupKeeper?.stop();
      }
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
