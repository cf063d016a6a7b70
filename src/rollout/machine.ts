import { and, fromCallback, fromPromise } from 'xstate';
import { currentStep, fenceOf, rolloutSetup, unfinishedReason } from './machine-setup.js';
import type {
  AnalysisOutcome,
  CleanupOutcome,
  LockOutcome,
  RolloutEffects,
  RolloutEvent,
  RolloutResult,
  StageOutcome,
} from './machine-types.js';

/** A stage's outcome that stops the rollout (HOT drones, or a reason to stop) goes to `target`. */
function stopsTo(target: string) {
  const outcome = ({ event }: { event: { output: StageOutcome } }) => event.output;
  return {
    guard: { type: 'stopsRollout' as const, params: outcome },
    target,
    actions: { type: 'recordStop' as const, params: outcome },
  };
}

/**
 * After a step passed: the next step (asking the confirm-promotion webhooks first, if any), or the drones
 * the operational gate held back, or the final check.
 */
const toNextStep = [
  { guard: and(['hasNextStep', 'hasConfirmGate']), target: 'confirmingPromotion' },
  { guard: 'hasNextStep' as const, target: 'pushing', actions: 'advanceStep' as const },
  { guard: 'hasPushGate' as const, target: 'pushingDeferred' },
  { target: 'verifying' },
];

/** The final state a result ends in; `needs_attention` (or no result at all) ends in `needsAttention`. */
const FINAL_STATES = {
  promoted: '#rollout.promoted',
  rolled_back: '#rollout.rolledBack',
  unchanged: '#rollout.unchanged',
  aborted_hot: '#rollout.abortedHot',
  lock_busy: '#rollout.lockBusy',
  interrupted: '#rollout.interrupted',
  invalid: '#rollout.invalid',
} as const satisfies Partial<Record<RolloutResult, string>>;

/** The results with a final state of their own; anything else ends in `needsAttention`. */
const ENDINGS = Object.keys(FINAL_STATES) as (keyof typeof FINAL_STATES)[];

/**
 * The rollout machine: pause the fleet, take the lock, push the canary and each wave with a bake and
 * analysis between, then promote or roll back; in every final state the fleet is resumed and the lock
 * released. It does no I/O: `withEffects` binds the effects, so tests drive it with fakes and the CLI
 * with real HTTP.
 */
export const rolloutMachine = rolloutSetup.createMachine({
  // Invoked effects keep the ids xstate generates from their states (`0.rollout.locked.stages.pushing`):
  // a persisted snapshot names its running effect by that id, so snapshots of earlier versions resume.
  id: 'rollout',
  context: ({ input }) => ({
    rolloutId: input.rolloutId,
    steps: input.steps,
    failureLimit: input.failureLimit,
    inconclusiveWaits: input.inconclusiveWaits,
    gates: input.gates ?? { preRollout: false, confirmPromotion: false },
    trials: input.trials ?? false,
    pushGate: input.pushGate ?? false,
    stepIndex: 0,
    interval: 0,
    failedIntervals: 0,
    passedIntervals: 0,
    fence: null,
    result: null,
    reason: '',
    hot: [],
    attention: [],
    verdicts: [],
  }),
  initial: 'pausingFleet',
  output: ({ context }) => ({
    result: context.result ?? 'needs_attention',
    reason: context.reason,
    hot: context.hot,
    attention: context.attention,
    verdicts: context.verdicts,
  }),
  // Operator stops before the lock: nothing was pushed, so the fleet is only resumed. With the lock held
  // `locked.stages` handles them instead (a rollback); a handler here would exit `locked` and restart
  // its lease keeper. The clean-up states swallow them: a clean-up always runs to its end.
  on: {
    'operator.abort': { target: '.resumingFleet', actions: 'recordOperatorStop' },
    'operator.interrupt': { target: '.resumingFleet', actions: 'recordOperatorStop' },
  },
  states: {
    pausingFleet: {
      meta: { stage: 'pausingFleet' },
      invoke: {
        src: 'pauseFleet',
        onDone: [stopsTo('resumingFleet'), { target: 'acquiringLock' }],
        onError: {
          target: 'resumingFleet',
          actions: {
            type: 'recordFailure',
            params: ({ event }) => ({ what: 'pausing the fleet', error: event.error }),
          },
        },
      },
    },
    acquiringLock: {
      meta: { stage: 'acquiringLock' },
      invoke: {
        src: 'acquireLock',
        onDone: [
          {
            guard: { type: 'isAcquired', params: ({ event }) => event.output },
            target: 'locked',
            actions: { type: 'recordFence', params: ({ event }) => (event.output.acquired ? event.output.fence : 0) },
          },
          {
            target: 'resumingFleet',
            actions: {
              type: 'decide',
              params: ({ event }) => ({
                result: 'lock_busy',
                reason: event.output.acquired ? '' : `config lock ${event.output.holder}`,
              }),
            },
          },
        ],
        onError: {
          target: 'resumingFleet',
          actions: {
            type: 'recordFailure',
            params: ({ event }) => ({ what: 'taking the config lock', error: event.error }),
          },
        },
      },
    },
    locked: {
      invoke: { src: 'keepLease', input: ({ context }) => ({ fence: fenceOf(context) }) },
      initial: 'stages',
      states: {
        stages: {
          initial: 'checkingFleet',
          on: {
            'operator.abort': { target: '#rollingBack', actions: 'recordOperatorStop' },
            'operator.interrupt': { target: '#rollingBack', actions: 'recordOperatorStop' },
            'lease.lost': {
              target: '#rollingBack',
              actions: {
                type: 'decide',
                params: ({ event }) => ({ result: 'rolled_back', reason: `lease lost: ${event.reason}` }),
              },
            },
          },
          states: {
            checkingFleet: {
              meta: { stage: 'checkingFleet' },
              invoke: {
                src: 'checkFleet',
                onDone: [
                  stopsTo('#rollout.resumingFleet'),
                  { guard: 'hasPreRolloutGate', target: 'gatingRollout' },
                  { target: 'pushing' },
                ],
                onError: {
                  target: '#rollout.resumingFleet',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ what: 'checking the fleet', error: event.error }),
                  },
                },
              },
            },
            gatingRollout: {
              meta: { stage: 'gatingRollout' },
              invoke: {
                src: 'preRollout',
                onDone: [stopsTo('#rollout.resumingFleet'), { target: 'pushing' }],
                onError: {
                  target: '#rollout.resumingFleet',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ what: 'the pre-rollout webhooks', error: event.error }),
                  },
                },
              },
            },
            pushing: {
              meta: { stage: 'pushing' },
              invoke: {
                src: 'pushStep',
                input: ({ context }) => ({ stepIndex: context.stepIndex, fence: fenceOf(context) }),
                onDone: [stopsTo('#rollingBack'), { guard: 'stepHasBake', target: 'baking' }, { target: 'stepDone' }],
                onError: {
                  target: '#rollingBack',
                  actions: {
                    type: 'recordFailure',
                    params: ({ context, event }) => ({
                      what: `pushing ${currentStep(context).name}`,
                      error: event.error,
                    }),
                  },
                },
              },
            },
            baking: {
              meta: { stage: 'baking' },
              invoke: {
                src: 'waitInterval',
                input: ({ context }) => ({ ms: currentStep(context).intervalDelayMs }),
                onDone: 'analysing',
              },
            },
            analysing: {
              meta: { stage: 'baking' },
              invoke: {
                src: 'analyseInterval',
                input: ({ context }) => ({ stepIndex: context.stepIndex, interval: context.interval }),
                onDone: [
                  {
                    guard: { type: 'isHot', params: ({ event }) => event.output },
                    target: '#rollingBack',
                    actions: { type: 'recordStop', params: ({ event }) => event.output },
                  },
                  {
                    guard: { type: 'exceedsFailureLimit', params: ({ event }) => event.output },
                    target: '#rollingBack',
                    actions: [
                      { type: 'recordVerdict', params: ({ event }) => event.output },
                      {
                        type: 'decide',
                        params: ({ context, event }) => ({
                          result: 'rolled_back',
                          reason: `analysis failed in ${currentStep(context).name}: ${event.output.summary}`,
                        }),
                      },
                    ],
                  },
                  {
                    guard: { type: 'waitsForHuman', params: ({ event }) => event.output },
                    target: 'awaitingJudgement',
                    actions: { type: 'recordVerdict', params: ({ event }) => event.output },
                  },
                  {
                    guard: { type: 'isLastIntervalWithoutPass', params: ({ event }) => event.output },
                    target: '#rollingBack',
                    actions: [
                      { type: 'recordVerdict', params: ({ event }) => event.output },
                      {
                        type: 'decide',
                        params: ({ context, event }) => ({
                          result: 'rolled_back',
                          reason: `no analysis interval of ${currentStep(context).name} passed: ${event.output.summary}`,
                        }),
                      },
                    ],
                  },
                  {
                    guard: 'hasMoreIntervals',
                    target: 'baking',
                    actions: [{ type: 'recordVerdict', params: ({ event }) => event.output }, 'nextInterval'],
                  },
                  { target: 'stepDone', actions: { type: 'recordVerdict', params: ({ event }) => event.output } },
                ],
                onError: {
                  target: '#rollingBack',
                  actions: {
                    type: 'recordFailure',
                    params: ({ context, event }) => ({
                      what: `analysis of ${currentStep(context).name}`,
                      error: event.error,
                    }),
                  },
                },
              },
            },
            awaitingJudgement: {
              meta: { stage: 'awaitingJudgement' },
              on: {
                'operator.promote': [
                  { guard: 'hasMoreIntervals', target: 'baking', actions: ['acceptInconclusive', 'nextInterval'] },
                  { target: 'stepDone', actions: 'acceptInconclusive' },
                ],
              },
            },
            stepDone: {
              always: [{ guard: 'hasTrials', target: 'confirmingTrial' }, { target: 'stepConfirmed' }],
            },
            confirmingTrial: {
              meta: { stage: 'confirmingTrial' },
              invoke: {
                src: 'confirmStep',
                input: ({ context }) => ({ stepIndex: context.stepIndex, fence: fenceOf(context) }),
                onDone: [stopsTo('#rollingBack'), { target: 'stepConfirmed' }],
                onError: {
                  target: '#rollingBack',
                  actions: {
                    type: 'recordFailure',
                    params: ({ context, event }) => ({
                      what: `confirming the trial configs of ${currentStep(context).name}`,
                      error: event.error,
                    }),
                  },
                },
              },
            },
            stepConfirmed: {
              always: [{ guard: 'awaitsApproval', target: 'awaitingApproval' }, ...toNextStep],
            },
            awaitingApproval: {
              meta: { stage: 'awaitingApproval' },
              on: {
                'operator.promote': toNextStep,
              },
            },
            confirmingPromotion: {
              meta: { stage: 'confirmingPromotion' },
              invoke: {
                src: 'confirmPromotion',
                input: ({ context }) => ({ stepIndex: context.stepIndex + 1 }),
                onDone: [stopsTo('#rollingBack'), { target: 'pushing', actions: 'advanceStep' }],
                onError: {
                  target: '#rollingBack',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ what: 'the confirm-promotion webhooks', error: event.error }),
                  },
                },
              },
            },
            pushingDeferred: {
              meta: { stage: 'pushingDeferred' },
              invoke: {
                src: 'pushDeferred',
                input: ({ context }) => ({ fence: fenceOf(context) }),
                onDone: [stopsTo('#rollingBack'), { target: 'verifying' }],
                onError: {
                  target: '#rollingBack',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ what: 'pushing the held-back drones', error: event.error }),
                  },
                },
              },
            },
            verifying: {
              meta: { stage: 'verifying' },
              invoke: {
                src: 'verifyPromotion',
                onDone: [
                  {
                    guard: { type: 'hasIncomplete', params: ({ event }) => event.output },
                    target: '#rollout.resumingFleet',
                    actions: [
                      { type: 'recordAttention', params: ({ event }) => event.output.incomplete },
                      {
                        type: 'decide',
                        params: ({ event }) => ({ result: 'needs_attention', reason: unfinishedReason(event.output) }),
                      },
                    ],
                  },
                  {
                    target: '#rollout.resumingFleet',
                    actions: {
                      type: 'decide',
                      params: { result: 'promoted', reason: 'every targeted drone runs the new config' },
                    },
                  },
                ],
                onError: {
                  target: '#rollingBack',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ what: 'checking the promoted fleet', error: event.error }),
                  },
                },
              },
            },
          },
        },
        rollingBack: {
          id: 'rollingBack',
          meta: { stage: 'rollingBack' },
          on: { 'operator.abort': {}, 'operator.interrupt': {} },
          invoke: {
            src: 'rollBack',
            input: ({ context }) => ({ fence: fenceOf(context) }),
            onDone: {
              target: '#rollout.resumingFleet',
              actions: { type: 'recordIncomplete', params: ({ event }) => event.output },
            },
            onError: {
              target: '#rollout.resumingFleet',
              actions: {
                type: 'recordCleanupError',
                params: ({ event }) => ({ stage: 'rollback', error: event.error }),
              },
            },
          },
        },
      },
    },
    resumingFleet: {
      meta: { stage: 'resumingFleet' },
      on: { 'operator.abort': {}, 'operator.interrupt': {} },
      invoke: {
        src: 'resumeFleet',
        onDone: [
          {
            guard: 'holdsLock',
            target: 'releasingLock',
            actions: { type: 'recordIncomplete', params: ({ event }) => event.output },
          },
          ...ENDINGS.map((result) => ({
            guard: {
              type: 'endsAs' as const,
              params: ({ event }: { event: { output: CleanupOutcome } }) => ({ result, cleanup: event.output }),
            },
            target: FINAL_STATES[result],
            actions: {
              type: 'recordIncomplete' as const,
              params: ({ event }: { event: { output: CleanupOutcome } }) => event.output,
            },
          })),
          { target: 'needsAttention', actions: { type: 'recordIncomplete', params: ({ event }) => event.output } },
        ],
        onError: [
          {
            guard: 'holdsLock',
            target: 'releasingLock',
            actions: {
              type: 'recordCleanupError',
              params: ({ event }) => ({ stage: 'resuming the fleet', error: event.error }),
            },
          },
          {
            target: 'needsAttention',
            actions: {
              type: 'recordCleanupError',
              params: ({ event }) => ({ stage: 'resuming the fleet', error: event.error }),
            },
          },
        ],
      },
    },
    releasingLock: {
      meta: { stage: 'releasingLock' },
      on: { 'operator.abort': {}, 'operator.interrupt': {} },
      invoke: {
        src: 'releaseLock',
        input: ({ context }) => ({ fence: fenceOf(context) }),
        onDone: [
          ...ENDINGS.map((result) => ({
            guard: { type: 'endsAs' as const, params: { result } },
            target: FINAL_STATES[result],
            actions: 'forgetFence' as const,
          })),
          { target: 'needsAttention', actions: 'forgetFence' },
        ],
        onError: [
          ...ENDINGS.map((result) => ({
            guard: { type: 'endsAs' as const, params: { result } },
            target: FINAL_STATES[result],
            actions: {
              type: 'recordReleaseError' as const,
              params: ({ event }: { event: { error: unknown } }) => event.error,
            },
          })),
          {
            target: 'needsAttention',
            actions: { type: 'recordReleaseError', params: ({ event }: { event: { error: unknown } }) => event.error },
          },
        ],
      },
    },
    promoted: { type: 'final' },
    rolledBack: { type: 'final' },
    unchanged: { type: 'final' },
    abortedHot: { type: 'final' },
    lockBusy: { type: 'final' },
    interrupted: { type: 'final' },
    invalid: { type: 'final' },
    needsAttention: { type: 'final' },
  },
});

/** The rollout machine with its effects bound: real ones for a run, fakes in tests. */
export function withEffects(effects: RolloutEffects) {
  return rolloutMachine.provide({
    actors: {
      pauseFleet: fromPromise<StageOutcome>(({ signal }) => effects.pauseFleet(signal)),
      acquireLock: fromPromise<LockOutcome>(({ signal }) => effects.acquireLock(signal)),
      checkFleet: fromPromise<StageOutcome>(({ signal }) => effects.checkFleet(signal)),
      preRollout: fromPromise<StageOutcome>(({ signal }) => effects.preRollout(signal)),
      confirmStep: fromPromise<StageOutcome, { stepIndex: number; fence: number }>(({ input, signal }) =>
        effects.confirmStep(input, signal),
      ),
      confirmPromotion: fromPromise<StageOutcome, { stepIndex: number }>(({ input, signal }) =>
        effects.confirmPromotion(input, signal),
      ),
      keepLease: fromCallback<RolloutEvent, { fence: number }>(({ input, sendBack }) =>
        effects.keepLease(input.fence, (reason) => sendBack({ type: 'lease.lost', reason })),
      ),
      pushStep: fromPromise<StageOutcome, { stepIndex: number; fence: number }>(({ input, signal }) =>
        effects.pushStep(input, signal),
      ),
      pushDeferred: fromPromise<StageOutcome, { fence: number }>(({ input, signal }) =>
        effects.pushDeferred(input, signal),
      ),
      // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- RolloutEffects returns Promise<void> here (and the tests' fakes implement it so), which fromPromise<undefined> refuses
      waitInterval: fromPromise<void, { ms: number }>(({ input, signal }) => effects.waitInterval(input, signal)),
      analyseInterval: fromPromise<AnalysisOutcome, { stepIndex: number; interval: number }>(({ input, signal }) =>
        effects.analyseInterval(input, signal),
      ),
      verifyPromotion: fromPromise<CleanupOutcome>(({ signal }) => effects.verifyPromotion(signal)),
      rollBack: fromPromise<CleanupOutcome, { fence: number }>(({ input, signal }) => effects.rollBack(input, signal)),
      resumeFleet: fromPromise<CleanupOutcome>(({ signal }) => effects.resumeFleet(signal)),
      // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- RolloutEffects returns Promise<void> here (and the tests' fakes implement it so), which fromPromise<undefined> refuses
      releaseLock: fromPromise<void, { fence: number }>(({ input }) => effects.releaseLock(input)),
    },
  });
}
