import { describe, expect, it } from 'vitest';
import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { rolloutMachine } from '../../src/rollout/machine.js';
import type { RolloutInput } from '../../src/rollout/machine-types.js';
import { stageOf } from '../../src/rollout/stage.js';
import { steps } from './fake-effects.js';

type Snapshot = SnapshotFrom<typeof rolloutMachine>;
/** The machine's own events, and the done and error events of its effects, which the traversal sends as if they ran. */
type Event = EventFromLogic<typeof rolloutMachine>;

const input: RolloutInput = {
  rolloutId: 'r1',
  steps: steps(['canary', 2, true], ['wave 1', 1]),
  failureLimit: 1,
  inconclusiveWaits: true,
  gates: { preRollout: true, confirmPromotion: true },
  trials: true,
};

/** The id xstate gives each invoked effect: the index and the id of the state that invokes it. */
const INVOKED_BY: Readonly<Record<string, string>> = {
  pauseFleet: 'rollout.pausingFleet',
  acquireLock: 'rollout.acquiringLock',
  checkFleet: 'rollout.locked.stages.checkingFleet',
  preRollout: 'rollout.locked.stages.gatingRollout',
  confirmPromotion: 'rollout.locked.stages.confirmingPromotion',
  confirmStep: 'rollout.locked.stages.confirmingTrial',
  pushStep: 'rollout.locked.stages.pushing',
  waitInterval: 'rollout.locked.stages.baking',
  analyseInterval: 'rollout.locked.stages.analysing',
  verifyPromotion: 'rollout.locked.stages.verifying',
  rollBack: 'rollingBack',
  resumeFleet: 'rollout.resumingFleet',
  releaseLock: 'rollout.releasingLock',
};
const invokeId = (effect: string) => `0.${INVOKED_BY[effect] ?? effect}`;
const done = (effect: string, output: unknown) =>
  ({ type: `xstate.done.actor.${invokeId(effect)}`, output }) as unknown as Event;
const failed = (effect: string) =>
  ({ type: `xstate.error.actor.${invokeId(effect)}`, error: new Error(`${effect} failed`) }) as unknown as Event;

/** What each stage's effect can answer, good and bad; operator and lease events can come at any time. */
const OUTCOMES: Readonly<Record<string, readonly Event[]>> = {
  pausingFleet: [
    done('pauseFleet', { hot: [] }),
    done('pauseFleet', { hot: ['drone-hot'] }),
    done('pauseFleet', { hot: [], abortReason: 'drone-1 answered 401', endsAs: 'invalid' }),
    done('pauseFleet', { hot: [], abortReason: 'too many drones unreachable' }),
    failed('pauseFleet'),
  ],
  acquiringLock: [
    done('acquireLock', { acquired: true, fence: 7 }),
    done('acquireLock', { acquired: false, holder: 'held by rollout other' }),
    failed('acquireLock'),
  ],
  checkingFleet: [
    done('checkFleet', { hot: [] }),
    done('checkFleet', { hot: [], abortReason: 'mixed fleet', endsAs: 'needs_attention', attention: ['drone-2'] }),
    done('checkFleet', { hot: [], abortReason: 'already on the new config', endsAs: 'promoted' }),
    failed('checkFleet'),
  ],
  gatingRollout: [
    done('preRollout', { hot: [] }),
    done('preRollout', { hot: [], abortReason: 'webhook smoke refused', endsAs: 'unchanged' }),
    failed('preRollout'),
  ],
  confirmingPromotion: [
    done('confirmPromotion', { hot: [] }),
    done('confirmPromotion', { hot: [], abortReason: 'webhook approve did not confirm' }),
    failed('confirmPromotion'),
  ],
  confirmingTrial: [
    done('confirmStep', { hot: [] }),
    done('confirmStep', { hot: ['drone-hot'] }),
    done('confirmStep', { hot: [], abortReason: 'confirming canary: 2 drones unreachable' }),
    failed('confirmStep'),
  ],
  pushing: [
    done('pushStep', { hot: [] }),
    done('pushStep', { hot: ['drone-hot'] }),
    done('pushStep', { hot: [], abortReason: '2 drones refused' }),
    failed('pushStep'),
  ],
  baking: [done('waitInterval', undefined)],
  analysing: [
    done('analyseInterval', { hot: [], verdict: 'pass', summary: 'pass' }),
    done('analyseInterval', { hot: [], verdict: 'fail', summary: 'fail' }),
    done('analyseInterval', { hot: [], verdict: 'inconclusive', summary: 'inconclusive' }),
    done('analyseInterval', { hot: ['drone-hot'], verdict: 'fail', summary: 'HOT' }),
    failed('analyseInterval'),
  ],
  verifying: [
    done('verifyPromotion', { incomplete: [] }),
    done('verifyPromotion', { incomplete: ['drone-4'] }),
    failed('verifyPromotion'),
  ],
  rollingBack: [
    done('rollBack', { incomplete: [] }),
    done('rollBack', { incomplete: ['drone-1'] }),
    done('rollBack', { incomplete: ['drone-1'], notHeld: 'the config lock is now held by rollout other' }),
    failed('rollBack'),
  ],
  resumingFleet: [
    done('resumeFleet', { incomplete: [] }),
    done('resumeFleet', { incomplete: ['drone-3'] }),
    failed('resumeFleet'),
  ],
  releasingLock: [done('releaseLock', undefined), failed('releaseLock')],
};

const ANYTIME: readonly Event[] = [
  { type: 'operator.abort', by: 'alice' },
  { type: 'operator.interrupt', signal: 'SIGINT' },
  { type: 'operator.promote', by: 'carol' },
  { type: 'lease.lost', reason: 'reclaimed' },
];

function leafOf(snapshot: Snapshot): string {
  let value: unknown = snapshot.value;
  while (typeof value === 'object' && value !== null) value = Object.values(value)[0];
  return String(value);
}

const FINAL_OF_RESULT: Readonly<Record<string, string>> = {
  promoted: 'promoted',
  rolled_back: 'rolledBack',
  unchanged: 'unchanged',
  aborted_hot: 'abortedHot',
  lock_busy: 'lockBusy',
  interrupted: 'interrupted',
  invalid: 'invalid',
  needs_attention: 'needsAttention',
};

/** Every state the machine can reach, each by its shortest path of effect outcomes and operator events. */
const paths = getShortestPaths(rolloutMachine, {
  input,
  events: (snapshot) => (snapshot.status === 'done' ? [] : [...(OUTCOMES[leafOf(snapshot)] ?? []), ...ANYTIME]),
});
const endings = paths.filter((path) => path.state.status === 'done');

describe('every path through the rollout machine (generated with xstate/graph)', () => {
  it('reaches every final state', () => {
    expect(new Set(endings.map((path) => leafOf(path.state)))).toEqual(new Set(Object.values(FINAL_OF_RESULT)));
    expect(endings.length).toBeGreaterThan(50);
  });

  it('ends every path with a result, in the final state of that result', () => {
    for (const path of endings) {
      const { result } = path.state.context;
      expect(result, JSON.stringify(path.steps.map((s) => s.event.type))).not.toBeNull();
      expect(leafOf(path.state)).toBe(FINAL_OF_RESULT[result ?? 'needs_attention']);
    }
  });

  it('resumes the fleet on every path, and releases a lock it took unless another rollout holds it now', () => {
    for (const path of endings) {
      const stages = path.steps.map((step) => stageOf(step.state));
      const trace = JSON.stringify(path.steps.map((s) => s.event.type));
      expect(stages, trace).toContain('resumingFleet');
      const locked = path.steps.some((step) => step.state.matches('locked'));
      // `?? null`: an effect that answers nothing has output undefined, which JSON.stringify leaves undefined.
      const lostToAnother = path.steps.some(
        (step) => 'output' in step.event && JSON.stringify(step.event.output ?? null).includes('notHeld'),
      );
      const released = stages.lastIndexOf('releasingLock') > stages.lastIndexOf('resumingFleet');
      expect(released, trace).toBe(locked && !lostToAnother);
      // A release that failed leaves the fence in the snapshot: the lease lives on until its TTL.
      const releaseFailed =
        (path.steps.at(-1)?.event.type as string | undefined) === `xstate.error.actor.${invokeId('releaseLock')}`;
      expect(path.state.context.fence === null, trace).toBe(!releaseFailed);
    }
  });

  it('starts no push once the rollout has decided how it ends (HOT, abort, failure, lease lost)', () => {
    for (const path of endings) {
      const decidedAt = path.steps.findIndex((step) => step.state.context.result !== null);
      const pushesAfter = path.steps.slice(decidedAt + 1).filter((step) => stageOf(step.state) === 'pushing');
      expect(pushesAfter, JSON.stringify(path.steps.map((s) => s.event.type))).toEqual([]);
    }
  });

  it('rolls back every path that stopped after a push, before resuming the fleet', () => {
    for (const path of endings) {
      const stages = path.steps.map((step) => stageOf(step.state));
      const decidedAt = path.steps.findIndex((step) => step.state.context.result !== null);
      // Promoting, and drones found off the new config once every step is done, end without a rollback.
      if (!stages.slice(0, decidedAt).includes('pushing') || stages[decidedAt - 1] === 'verifying') continue;
      const firstResume = stages.indexOf('resumingFleet');
      expect(stages.slice(0, firstResume), JSON.stringify(path.steps.map((s) => s.event.type))).toContain(
        'rollingBack',
      );
    }
  });

  it('names a stage in every state it rests in', () => {
    for (const path of paths) {
      if (path.state.status === 'done') continue;
      expect(stageOf(path.state as Snapshot), JSON.stringify(path.state.value)).not.toBeNull();
    }
  });
});
