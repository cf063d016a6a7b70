import { forEachDrone } from '../../fleet/for-each-drone.js';
import { isHot } from '../../protocol/v1.js';
import { formatDuration } from '../../spec/duration.js';
import { count } from '../../wording.js';
import type { RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';
import { FailureBudget, landedMaybe, concurrency } from './stage-support.js';

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
  const options = {
    concurrency: concurrency(runtime),
    signal: AbortSignal.any([signal, deadline]),
    stopCancelsInFlight: false,
  };
  await forEachDrone(drones, options, async (drone, s) => {
    runtime.ledger.edit(drone.id).pauseSent = true;
    const reply = await runtime.client.pause(drone, runtime.rolloutId, { holdMs: spec.pause.holdMs, signal: s });
    // Edited again: a flush of the store while the pause was in flight has taken the edit above.
    const progress = runtime.ledger.edit(drone.id);
    runtime.observer.progress('pausing', ++done, drones.length);
    if (!reply.ok) {
      progress.pauseSent = landedMaybe(reply);
      if (reply.kind === 'cancelled') return 'stop';
      return budget.record(drone, reply) ? 'stop' : 'continue';
    }
    const state = reply.body.configs?.[config.file];
    if (state) {
      progress.before = progress.now = runtime.ledger.ref(state.version, state.sha256);
      highestFence = Math.max(highestFence, state.fence);
    }
    runtime.recorder.audit('pause', {
      drone: drone.id,
      ok: true,
      version: state?.version ?? null,
      lock: state?.lock ?? null,
    });
    if (isHot(reply.body.configs, config.file)) {
      return budget.record(drone, { ok: false, kind: 'hot', message: `lock mismatch: ${config.file} HOT` })
        ? 'stop'
        : 'continue';
    }
    return 'continue';
  });
  if (deadline.aborted && !signal.aborted && budget.reason === undefined && budget.hot.length === 0) {
    return {
      hot: [],
      highestFence,
      abortReason: `pausing the fleet took longer than pause.timeout (${formatDuration(spec.pause.timeoutMs)}): ${done} of ${count(drones.length, 'drone')} answered`,
    };
  }
  return { ...budget.outcome(), highestFence };
}
