import { setTimeout as delay } from 'node:timers/promises';
import type { LockOwner, LockStore } from '../../lock/types.js';
import type { SigningKey } from '../../protocol/push-signature.js';
import { readSigningKey } from '../../spec/plan-inputs.js';
import type { RolloutSpec } from '../../spec/types.js';
import type { RolloutRuntime } from '../context.js';
import type { RolloutEffects } from '../machine-types.js';
import { AnalysisStage } from './analysis.js';
import { checkFleetVersions, rereadVersions } from './fleet-versions.js';
import { confirmStep } from './confirm.js';
import { confirmPromotion, preRollout } from './gates.js';
import { RolloutLease, type ResumedLease } from './lease.js';
import { pauseFleet } from './pause.js';
import { pushStep } from './push.js';
import { pushDeferred } from './deferred.js';
import { compilePushGate } from '../../spec/push-gate.js';
import { resumeFleet } from './resume-fleet.js';
import { rollBack } from './rollback.js';
import { verifyPromotion } from './verify.js';

/** Why a write stage of a rollout that another took the lock from while it was stopped writes nothing. */
const LOCK_TAKEN = {
  hot: [],
  abortReason: 'another rollout took the config lock while this one was stopped, so it sends nothing more to any drone',
} as const;

/**
 * The real effects of a rollout: drones over HTTP, the config lock in the lock store, telemetry analysis.
 * Each effect first waits until the transition that started it is in the state store. A rollback waits
 * for the push in flight to settle first, so no push can land after its own rollback.
 */
export function createRolloutEffects(
  runtime: RolloutRuntime,
  locks: LockStore,
  owner: LockOwner,
  resumed: ResumedLease | null = null,
): RolloutEffects {
  const analysis = new AnalysisStage(runtime);
  const { spec } = runtime.plan;
  const lease = new RolloutLease(runtime, locks, owner, resumed);
  const gate = spec.gates === undefined ? undefined : compilePushGate(spec.gates.pushWhen);
  const signing = signingKeyOf(spec);
  const persisted = () => runtime.recorder.flush();
  /** Clean-up (rollback, resume, release) runs even when the state store cannot be written. */
  const persistedIfPossible = () => runtime.recorder.flushOrLog('cleaning up without the state store');
  let pushing: Promise<unknown> = Promise.resolve();

  return {
    async pauseFleet(signal) {
      await persisted();
      const paused = await pauseFleet(runtime, signal);
      lease.noteFleetFence(paused.highestFence);
      return paused;
    },

    async acquireLock(signal) {
      await persisted();
      return lease.acquire(signal);
    },

    async checkFleet(signal) {
      await persisted();
      // Whoever held the lock while this rollout waited may have changed drones since the pause.
      if (lease.waitedForLock) await rereadVersions(runtime, signal);
      return checkFleetVersions(runtime);
    },

    async preRollout(signal) {
      await persisted();
      return preRollout(runtime, signal);
    },

    async confirmPromotion(input, signal) {
      await persisted();
      return confirmPromotion(runtime, input.stepIndex, signal);
    },

    keepLease(fence, onLost) {
      return lease.keep(fence, onLost);
    },

    async pushStep(input, signal) {
      await persisted();
      const step = runtime.plan.steps[input.stepIndex];
      // The step's own drones before their push are the baseline of last resort (the last wave has no other).
      if (step && step.bakeMs > 0 && spec.analysis.metrics.length > 0)
        await analysis.capturePrePush(input.stepIndex, signal);
      if (!lease.confirmed) return LOCK_TAKEN;
      const signed = await signing();
      if ('problem' in signed) return { hot: [], abortReason: signed.problem };
      const mayWrite = () => lease.isFresh();
      const fence = lease.heldFor(input.fence).fence;
      const push = pushStep(
        runtime,
        { ...input, fence, mayWrite, ...signed, ...(gate === undefined ? {} : { gate }) },
        signal,
      );
      pushing = push.catch(() => undefined);
      const outcome = await push;
      analysis.markPushed();
      return outcome;
    },

    async pushDeferred(input, signal) {
      await persisted();
      if (gate === undefined) return { hot: [] };
      if (!lease.confirmed) return LOCK_TAKEN;
      const signed = await signing();
      if ('problem' in signed) return { hot: [], abortReason: signed.problem };
      const mayWrite = () => lease.isFresh();
      const push = pushDeferred(
        runtime,
        { fence: lease.heldFor(input.fence).fence, mayWrite, gate, ...signed },
        signal,
      );
      pushing = push.catch(() => undefined);
      return push;
    },

    async confirmStep(input, signal) {
      await persisted();
      // A confirm is a write: a rollout whose lock another took while it was stopped makes none.
      if (!lease.confirmed) return LOCK_TAKEN;
      const mayWrite = () => lease.isFresh();
      return confirmStep(runtime, { ...input, fence: lease.heldFor(input.fence).fence, mayWrite }, signal);
    },

    waitInterval(input, signal) {
      return delay(input.ms, undefined, { signal });
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
      const held = await lease.forCleanup(input.fence);
      if ('notHeld' in held) {
        const changed = runtime.ledger.ids((p) => p.pushSent && !p.rolledBack);
        return { incomplete: changed, notHeld: held.notHeld };
      }
      const cleanupKeeper = held.kept ? null : lease.keepForCleanup(held.lease);
      const mayWrite = () => (cleanupKeeper ? cleanupKeeper.isFresh() : lease.isFresh());
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
      await lease.release(input.fence);
    },
  };
}

type Signing = { readonly signingKey?: SigningKey } | { readonly problem: string };

/**
 * The spec's signing key for the pushes (`config.sign.key_file`), read when the first push needs it and
 * kept for the rest of the rollout: the plan holds only its path. `{}` when the spec does not sign; the
 * reason to stop when the key can no longer be read (loadPlan read it when the rollout started).
 */
function signingKeyOf(spec: RolloutSpec): () => Promise<Signing> {
  const sign = spec.config.sign;
  if (sign === undefined) return () => Promise.resolve({});
  let read: Promise<Signing> | undefined;
  return () =>
    (read ??= readSigningKey(sign.keyFile).then((parsed) =>
      'key' in parsed
        ? { signingKey: parsed.key }
        : { problem: `cannot sign the pushes: config.sign.key_file ${parsed.problem}` },
    ));
}
