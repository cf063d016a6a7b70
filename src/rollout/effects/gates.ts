import { setTimeout as delay } from 'node:timers/promises';
import { formatDuration } from '../../spec/duration.js';
import type { WebhookSpec } from '../../spec/types.js';
import type { RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';

/**
 * The pre-rollout webhooks, in spec order, after the lock and before the first push: the first that does
 * not answer 2xx (after its retries) stops the rollout before anything is pushed, so it ends `unchanged`.
 */
export async function preRollout(runtime: RolloutRuntime, signal: AbortSignal): Promise<StageOutcome> {
  for (const hook of runtime.signals.hooks('pre-rollout')) {
    const call = await runtime.signals.call(hook, { step: null }, signal);
    if (call.ok) continue;
    return {
      hot: [],
      abortReason: `pre-rollout webhook ${hook.name} refused the rollout before any push: ${call.error ?? 'no answer'}`,
      endsAs: 'unchanged',
    };
  }
  return { hot: [] };
}

/**
 * Before step `stepIndex` (a wave after the canary): asks every confirm-promotion webhook, again every
 * analysis interval, until each has answered 2xx. A webhook that has not by the end of its `wait` stops
 * the rollout (a rollback). The first refusal tells the notification targets the rollout is waiting.
 * A resumed rollout asks anew, with a fresh wait.
 */
export async function confirmPromotion(
  runtime: RolloutRuntime,
  stepIndex: number,
  signal: AbortSignal,
): Promise<StageOutcome> {
  const { steps, spec } = runtime.plan;
  const next = steps[stepIndex]?.name ?? `step ${stepIndex}`;
  const passed = steps[stepIndex - 1]?.name ?? null;
  const started = runtime.now();
  let pending: readonly WebhookSpec[] = runtime.signals.hooks('confirm-promotion');
  let told = false;
  while (pending.length > 0) {
    const refused: { hook: WebhookSpec; error: string }[] = [];
    for (const hook of pending) {
      const call = await runtime.signals.call(hook, { step: next }, signal);
      if (!call.ok) refused.push({ hook, error: call.error ?? 'no answer' });
    }
    if (refused.length === 0) break;
    const late = refused.find(({ hook }) => runtime.now() - started + spec.analysis.intervalMs > hook.waitMs);
    if (late) {
      return {
        hot: [],
        abortReason: `confirm-promotion webhook ${late.hook.name} did not confirm ${next} within ${formatDuration(late.hook.waitMs)}: ${late.error}`,
      };
    }
    if (!told) {
      told = true;
      const names = refused.map(({ hook }) => hook.name).join(', ');
      runtime.observer.note(`${passed ?? 'the last step'} passed; waiting for ${names} to confirm ${next}`);
      runtime.signals.notify(`waiting:${stepIndex}:confirm`, 'waiting', {
        step: next,
        reason: `waiting for the confirm-promotion webhook ${names} before ${next}`,
      });
    }
    await delay(spec.analysis.intervalMs, undefined, { signal });
    pending = refused.map(({ hook }) => hook);
  }
  return { hot: [] };
}
