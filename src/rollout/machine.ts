import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type {
  AnalysisOutcome,
  CleanupOutcome,
  LockOutcome,
  RolloutEffects,
  RolloutEvent,
  RolloutInput,
  RolloutOutput,
  RolloutResult,
  StageOutcome,
  StepSchedule,
  VerdictRecord,
} from './machine-types.js';

export interface RolloutContext {
  readonly rolloutId: string;
  readonly steps: readonly StepSchedule[];
  readonly failureLimit: number;
  readonly inconclusiveWaits: boolean;
  stepIndex: number;
  interval: number;
  failedIntervals: number;
  passedIntervals: number;
  fence: number | null;
  /** Set once, by the first thing that decides how this rollout ends. */
  result: RolloutResult | null;
  reason: string;
  hot: readonly string[];
  attention: readonly string[];
  verdicts: readonly VerdictRecord[];
}

/** Only the latest verdicts stay in the snapshot; the audit log keeps all of them. */
const VERDICTS_KEPT = 20;

function currentStep(context: RolloutContext): StepSchedule {
  const step = context.steps[context.stepIndex];
  if (!step) throw new RangeError(`step ${context.stepIndex} is not in the plan of ${context.steps.length} steps`);
  return step;
}

function fenceOf(context: RolloutContext): number {
  if (context.fence === null) throw new Error('the rollout holds no fence: the machine left the locked states');
  return context.fence;
}

/** The first decision wins: a later abort never overwrites why the rollout ended. */
function decide(context: RolloutContext, result: RolloutResult, reason: string): Partial<RolloutContext> {
  return context.result === null ? { result, reason } : {};
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function mergeIds(a: readonly string[], b: readonly string[]): readonly string[] {
  return b.length === 0 ? a : [...new Set([...a, ...b])];
}

/**
 * The rollout machine: pause the fleet, take the lock, push the canary and each wave with a bake and
 * analysis between, then promote or roll back; in every final state the fleet is resumed and the lock
 * released. All I/O is in `effects`, so tests drive it with fakes and the CLI with real HTTP.
 */
export function createRolloutMachine(effects: RolloutEffects) {
  return setup({
    types: {
      context: {} as RolloutContext,
      input: {} as RolloutInput,
      events: {} as RolloutEvent,
      output: {} as RolloutOutput,
    },
    actors: {
      pauseFleet: fromPromise<StageOutcome>(({ signal }) => effects.pauseFleet(signal)),
      acquireLock: fromPromise<LockOutcome>(({ signal }) => effects.acquireLock(signal)),
      checkFleet: fromPromise<StageOutcome>(({ signal }) => effects.checkFleet(signal)),
      keepLease: fromCallback<RolloutEvent, { fence: number }>(({ input, sendBack }) =>
        effects.keepLease(input.fence, (reason) => sendBack({ type: 'lease.lost', reason })),
      ),
      pushStep: fromPromise<StageOutcome, { stepIndex: number; fence: number }>(({ input, signal }) =>
        effects.pushStep(input, signal),
      ),
      analyseInterval: fromPromise<AnalysisOutcome, { stepIndex: number; interval: number }>(({ input, signal }) =>
        effects.analyseInterval(input, signal),
      ),
      verifyPromotion: fromPromise<CleanupOutcome>(({ signal }) => effects.verifyPromotion(signal)),
      rollBack: fromPromise<CleanupOutcome, { fence: number }>(({ input, signal }) => effects.rollBack(input, signal)),
      resumeFleet: fromPromise<CleanupOutcome>(({ signal }) => effects.resumeFleet(signal)),
      releaseLock: fromPromise<void, { fence: number }>(({ input }) => effects.releaseLock(input)),
      /**
       * The wait between analysis intervals, as an actor rather than an `after` delay: a snapshot restored
       * by `rollout resume` restarts invoked actors, but not delayed events.
       */
      waitInterval: fromPromise<void, { ms: number }>(
        ({ input, signal }) =>
          new Promise((done) => {
            const timer = setTimeout(done, input.ms);
            signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
          }),
      ),
    },
    actions: {
      recordAbort: assign(({ context, event }) =>
        event.type === 'operator.abort'
          ? decide(context, 'rolled_back', `aborted by ${event.by}${event.reason ? `: ${event.reason}` : ''}`)
          : {},
      ),
      recordInterrupt: assign(({ context, event }) =>
        event.type === 'operator.interrupt' ? decide(context, 'interrupted', `interrupted by ${event.signal}`) : {},
      ),
      recordHot: assign(({ context }, outcome: { hot: readonly string[] }) => ({
        hot: mergeIds(context.hot, outcome.hot),
        ...decide(context, 'aborted_hot', `HOT lock mismatch on ${outcome.hot.join(', ')}`),
      })),
      /** A stage stopped the rollout: a rollback unless it says how it ends, and the drones to look at. */
      recordStop: assign(({ context }, outcome: StageOutcome) => ({
        attention: mergeIds(context.attention, outcome.attention ?? []),
        ...decide(context, outcome.endsAs ?? 'rolled_back', outcome.abortReason ?? ''),
      })),
      recordVerdict: assign(({ context }, outcome: AnalysisOutcome) => ({
        verdicts: [
          ...context.verdicts,
          { step: currentStep(context).name, interval: context.interval + 1, verdict: outcome.verdict, summary: outcome.summary },
        ].slice(-VERDICTS_KEPT),
        failedIntervals: context.failedIntervals + (outcome.verdict === 'fail' ? 1 : 0),
        passedIntervals: context.passedIntervals + (outcome.verdict === 'pass' ? 1 : 0),
      })),
      /** A human judged an inconclusive interval good: it counts as a pass. */
      acceptInconclusive: assign(({ context }) => ({ passedIntervals: context.passedIntervals + 1 })),
      advanceStep: assign(({ context }) => ({
        stepIndex: context.stepIndex + 1,
        interval: 0,
        failedIntervals: 0,
        passedIntervals: 0,
      })),
      /** A rollback or resume that left drones behind overrides any other result: a human must look. */
      recordIncomplete: assign(({ context }, outcome: CleanupOutcome) => {
        const hot = outcome.hot ?? [];
        const withHot = hot.length === 0 ? {} : { hot: mergeIds(context.hot, hot) };
        if (outcome.notHeld !== undefined) {
          return { ...withHot, fence: null, attention: mergeIds(context.attention, outcome.incomplete), result: 'needs_attention' as const, reason: `${context.reason}; ${outcome.notHeld}` };
        }
        if (outcome.incomplete.length === 0) return withHot;
        return {
          ...withHot,
          attention: mergeIds(context.attention, outcome.incomplete),
          result: 'needs_attention' as const,
          reason: `${context.reason}; ${outcome.note ?? `${outcome.incomplete.length} ${outcome.incomplete.length === 1 ? 'drone did' : 'drones did'} not end where they should`}`,
        };
      }),
      recordCleanupError: assign(({ context }, failure: { stage: string; error: unknown }) => ({
        result: 'needs_attention' as const,
        reason: `${context.reason}; ${failure.stage} failed: ${errorText(failure.error)}`,
      })),
    },
    guards: {
      isHot: (_, outcome: { hot: readonly string[] }) => outcome.hot.length > 0,
      hasAbortReason: (_, outcome: StageOutcome) => outcome.abortReason !== undefined,
      exceedsFailureLimit: ({ context }, outcome: AnalysisOutcome) =>
        outcome.verdict === 'fail' && context.failedIntervals + 1 > context.failureLimit,
      isLastIntervalWithoutPass: ({ context }, outcome: AnalysisOutcome) =>
        context.interval + 1 >= currentStep(context).intervals &&
        context.passedIntervals === 0 &&
        outcome.verdict !== 'pass',
      hasMoreIntervals: ({ context }) => context.interval + 1 < currentStep(context).intervals,
      waitsForHuman: ({ context }, outcome: AnalysisOutcome) => outcome.verdict === 'inconclusive' && context.inconclusiveWaits,
      stepHasBake: ({ context }) => currentStep(context).intervals > 0,
      awaitsApproval: ({ context }) => currentStep(context).approval,
      hasNextStep: ({ context }) => context.stepIndex + 1 < context.steps.length,
      holdsLock: ({ context }) => context.fence !== null,
      hasIncomplete: (_, outcome: CleanupOutcome) => outcome.incomplete.length > 0,
      endedAs: ({ context }, result: RolloutResult) => context.result === result,
    },
  }).createMachine({
    id: 'rollout',
    context: ({ input }) => ({
      rolloutId: input.rolloutId,
      steps: input.steps,
      failureLimit: input.failureLimit,
      inconclusiveWaits: input.inconclusiveWaits,
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
    states: {
      pausingFleet: {
        invoke: {
          src: 'pauseFleet',
          onDone: [
            {
              guard: { type: 'isHot', params: ({ event }) => event.output },
              target: 'resumingFleet',
              actions: { type: 'recordHot', params: ({ event }) => event.output },
            },
            {
              guard: { type: 'hasAbortReason', params: ({ event }) => event.output },
              target: 'resumingFleet',
              actions: { type: 'recordStop', params: ({ event }) => event.output },
            },
            { target: 'acquiringLock' },
          ],
          onError: {
            target: 'resumingFleet',
            actions: assign(({ context, event }) =>
              decide(context, 'rolled_back', `pausing the fleet failed: ${errorText(event.error)}`),
            ),
          },
        },
        on: {
          'operator.abort': { target: 'resumingFleet', actions: 'recordAbort' },
          'operator.interrupt': { target: 'resumingFleet', actions: 'recordInterrupt' },
        },
      },
      acquiringLock: {
        invoke: {
          src: 'acquireLock',
          onDone: [
            {
              guard: ({ event }) => event.output.acquired,
              target: 'locked',
              actions: assign({ fence: ({ event }) => (event.output.acquired ? event.output.fence : null) }),
            },
            {
              target: 'resumingFleet',
              actions: assign(({ context, event }) =>
                decide(context, 'lock_busy', event.output.acquired ? '' : `config lock ${event.output.holder}`),
              ),
            },
          ],
          onError: {
            target: 'resumingFleet',
            actions: assign(({ context, event }) =>
              decide(context, 'rolled_back', `taking the config lock failed: ${errorText(event.error)}`),
            ),
          },
        },
        on: {
          'operator.abort': { target: 'resumingFleet', actions: 'recordAbort' },
          'operator.interrupt': { target: 'resumingFleet', actions: 'recordInterrupt' },
        },
      },
      locked: {
        invoke: { src: 'keepLease', input: ({ context }) => ({ fence: fenceOf(context) }) },
        initial: 'stages',
        states: {
          stages: {
            initial: 'checkingFleet',
            on: {
              'operator.abort': { target: 'rollingBack', actions: 'recordAbort' },
              'operator.interrupt': { target: 'rollingBack', actions: 'recordInterrupt' },
              'lease.lost': {
                target: 'rollingBack',
                actions: assign(({ context, event }) =>
                  decide(context, 'rolled_back', `lease lost: ${event.reason}`),
                ),
              },
            },
            states: {
              checkingFleet: {
                invoke: {
                  src: 'checkFleet',
                  onDone: [
                    {
                      guard: { type: 'hasAbortReason', params: ({ event }) => event.output },
                      target: '#rollout.resumingFleet',
                      actions: { type: 'recordStop', params: ({ event }) => event.output },
                    },
                    { target: 'pushing' },
                  ],
                  onError: {
                    target: '#rollout.resumingFleet',
                    actions: assign(({ context, event }) => decide(context, 'rolled_back', `checking the fleet failed: ${errorText(event.error)}`)),
                  },
                },
              },
              pushing: {
                invoke: {
                  src: 'pushStep',
                  input: ({ context }) => ({ stepIndex: context.stepIndex, fence: fenceOf(context) }),
                  onDone: [
                    {
                      guard: { type: 'isHot', params: ({ event }) => event.output },
                      target: '#rollout.locked.rollingBack',
                      actions: { type: 'recordHot', params: ({ event }) => event.output },
                    },
                    {
                      guard: { type: 'hasAbortReason', params: ({ event }) => event.output },
                      target: '#rollout.locked.rollingBack',
                      actions: { type: 'recordStop', params: ({ event }) => event.output },
                    },
                    { guard: 'stepHasBake', target: 'baking' },
                    { target: 'stepDone' },
                  ],
                  onError: {
                    target: '#rollout.locked.rollingBack',
                    actions: assign(({ context, event }) =>
                      decide(context, 'rolled_back', `pushing ${currentStep(context).name} failed: ${errorText(event.error)}`),
                    ),
                  },
                },
              },
              baking: {
                invoke: {
                  src: 'waitInterval',
                  input: ({ context }) => ({ ms: currentStep(context).intervalDelayMs }),
                  onDone: 'analysing',
                },
              },
              analysing: {
                invoke: {
                  src: 'analyseInterval',
                  input: ({ context }) => ({ stepIndex: context.stepIndex, interval: context.interval }),
                  onDone: [
                    {
                      guard: { type: 'isHot', params: ({ event }) => event.output },
                      target: '#rollout.locked.rollingBack',
                      actions: { type: 'recordHot', params: ({ event }) => event.output },
                    },
                    {
                      guard: { type: 'exceedsFailureLimit', params: ({ event }) => event.output },
                      target: '#rollout.locked.rollingBack',
                      actions: [
                        { type: 'recordVerdict', params: ({ event }) => event.output },
                        assign(({ context, event }) =>
                          decide(context, 'rolled_back', `analysis failed in ${currentStep(context).name}: ${event.output.summary}`),
                        ),
                      ],
                    },
                    {
                      guard: { type: 'waitsForHuman', params: ({ event }) => event.output },
                      target: 'awaitingJudgement',
                      actions: { type: 'recordVerdict', params: ({ event }) => event.output },
                    },
                    {
                      guard: { type: 'isLastIntervalWithoutPass', params: ({ event }) => event.output },
                      target: '#rollout.locked.rollingBack',
                      actions: [
                        { type: 'recordVerdict', params: ({ event }) => event.output },
                        assign(({ context, event }) =>
                          decide(
                            context,
                            'rolled_back',
                            `no analysis interval of ${currentStep(context).name} passed: ${event.output.summary}`,
                          ),
                        ),
                      ],
                    },
                    {
                      guard: 'hasMoreIntervals',
                      target: 'baking',
                      actions: [
                        { type: 'recordVerdict', params: ({ event }) => event.output },
                        assign({ interval: ({ context }) => context.interval + 1 }),
                      ],
                    },
                    { target: 'stepDone', actions: { type: 'recordVerdict', params: ({ event }) => event.output } },
                  ],
                  onError: {
                    target: '#rollout.locked.rollingBack',
                    actions: assign(({ context, event }) =>
                      decide(context, 'rolled_back', `analysis of ${currentStep(context).name} failed: ${errorText(event.error)}`),
                    ),
                  },
                },
              },
              awaitingJudgement: {
                on: {
                  'operator.promote': [
                    {
                      guard: 'hasMoreIntervals',
                      target: 'baking',
                      actions: ['acceptInconclusive', assign({ interval: ({ context }) => context.interval + 1 })],
                    },
                    { target: 'stepDone', actions: 'acceptInconclusive' },
                  ],
                },
              },
              stepDone: {
                always: [
                  { guard: 'awaitsApproval', target: 'awaitingApproval' },
                  { guard: 'hasNextStep', target: 'pushing', actions: 'advanceStep' },
                  { target: 'verifying' },
                ],
              },
              awaitingApproval: {
                on: {
                  'operator.promote': [
                    { guard: 'hasNextStep', target: 'pushing', actions: 'advanceStep' },
                    { target: 'verifying' },
                  ],
                },
              },
              verifying: {
                invoke: {
                  src: 'verifyPromotion',
                  onDone: [
                    {
                      guard: { type: 'hasIncomplete', params: ({ event }) => event.output },
                      target: '#rollout.resumingFleet',
                      actions: assign(({ context, event }) => ({
                        attention: mergeIds(context.attention, event.output.incomplete),
                        ...decide(
                          context,
                          'needs_attention',
                          `${event.output.incomplete.length} targeted ${event.output.incomplete.length === 1 ? 'drone is' : 'drones are'} not on the new config`,
                        ),
                      })),
                    },
                    {
                      target: '#rollout.resumingFleet',
                      actions: assign(({ context }) => decide(context, 'promoted', 'every targeted drone runs the new config')),
                    },
                  ],
                  onError: {
                    target: '#rollout.locked.rollingBack',
                    actions: assign(({ context, event }) =>
                      decide(context, 'rolled_back', `checking the promoted fleet failed: ${errorText(event.error)}`),
                    ),
                  },
                },
              },
            },
          },
          rollingBack: {
            id: 'rollingBack',
            invoke: {
              src: 'rollBack',
              input: ({ context }) => ({ fence: fenceOf(context) }),
              onDone: {
                target: '#rollout.resumingFleet',
                actions: { type: 'recordIncomplete', params: ({ event }) => event.output },
              },
              onError: {
                target: '#rollout.resumingFleet',
                actions: { type: 'recordCleanupError', params: ({ event }) => ({ stage: 'rollback', error: event.error }) },
              },
            },
          },
        },
      },
      resumingFleet: {
        invoke: {
          src: 'resumeFleet',
          onDone: [
            {
              guard: 'holdsLock',
              target: 'releasingLock',
              actions: { type: 'recordIncomplete', params: ({ event }) => event.output },
            },
            { target: 'done', actions: { type: 'recordIncomplete', params: ({ event }) => event.output } },
          ],
          onError: [
            {
              guard: 'holdsLock',
              target: 'releasingLock',
              actions: { type: 'recordCleanupError', params: ({ event }) => ({ stage: 'resuming the fleet', error: event.error }) },
            },
            {
              target: 'done',
              actions: { type: 'recordCleanupError', params: ({ event }) => ({ stage: 'resuming the fleet', error: event.error }) },
            },
          ],
        },
      },
      releasingLock: {
        invoke: {
          src: 'releaseLock',
          input: ({ context }) => ({ fence: fenceOf(context) }),
          onDone: { target: 'done', actions: assign({ fence: null }) },
          onError: {
            target: 'done',
            actions: assign(({ context, event }) => ({
              reason: `${context.reason}; releasing the lock failed (it expires after its TTL): ${errorText(event.error)}`,
            })),
          },
        },
      },
      done: {
        always: [
          { guard: { type: 'endedAs', params: 'promoted' }, target: 'promoted' },
          { guard: { type: 'endedAs', params: 'aborted_hot' }, target: 'abortedHot' },
          { guard: { type: 'endedAs', params: 'lock_busy' }, target: 'lockBusy' },
          { guard: { type: 'endedAs', params: 'interrupted' }, target: 'interrupted' },
          { guard: { type: 'endedAs', params: 'rolled_back' }, target: 'rolledBack' },
          { target: 'needsAttention' },
        ],
      },
      promoted: { type: 'final' },
      rolledBack: { type: 'final' },
      abortedHot: { type: 'final' },
      lockBusy: { type: 'final' },
      interrupted: { type: 'final' },
      needsAttention: { type: 'final' },
    },
  });
}
