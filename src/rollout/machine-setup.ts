import { assign, fromCallback, fromPromise, setup, type NonReducibleUnknown } from 'xstate';
import type {
  AnalysisOutcome,
  CleanupOutcome,
  LockOutcome,
  RolloutEvent,
  RolloutGates,
  RolloutInput,
  RolloutOutput,
  RolloutResult,
  StageMeta,
  StageOutcome,
  StepSchedule,
  VerdictRecord,
} from './machine-types.js';
import { listIds } from '../wording.js';

export interface RolloutContext {
  readonly rolloutId: string;
  readonly steps: readonly StepSchedule[];
  readonly failureLimit: number;
  readonly inconclusiveWaits: boolean;
  /** Absent in snapshots persisted before webhook gates existed: those rollouts have none. */
  readonly gates?: RolloutGates;
  /** Absent in snapshots persisted before trial configs existed: those rollouts push none. */
  readonly trials?: boolean;
  /** Absent in snapshots persisted before operational gates existed: those rollouts have none. */
  readonly pushGate?: boolean;
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

export function currentStep(context: RolloutContext): StepSchedule {
  const step = context.steps[context.stepIndex];
  if (!step) throw new RangeError(`step ${context.stepIndex} is not in the plan of ${context.steps.length} steps`);
  return step;
}

export function fenceOf(context: RolloutContext): number {
  if (context.fence === null) throw new Error('the rollout holds no fence: the machine left the locked states');
  return context.fence;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The first decision wins: a later abort never overwrites why the rollout ended. */
function decide(context: RolloutContext, result: RolloutResult, reason: string): Partial<RolloutContext> {
  return context.result === null ? { result, reason } : {};
}

function mergeIds(a: readonly string[], b: readonly string[]): readonly string[] {
  return b.length === 0 ? a : [...new Set([...a, ...b])];
}

export function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Why a rollout whose steps all passed still needs a human: drones not on the new config, and among them
 * those the operational gate held back until its wait ran out.
 */
export function unfinishedReason(outcome: CleanupOutcome): string {
  const deferred = outcome.deferred?.length ?? 0;
  const others = outcome.incomplete.length - deferred;
  return [
    ...(others > 0 ? [`${plural(others, 'targeted drone is', 'targeted drones are')} not on the new config`] : []),
    ...(deferred > 0
      ? [
          `${plural(deferred, 'drone was', 'drones were')} held back by gates.push_when until gates.wait ran out (deferred: ${listIds(outcome.deferred ?? [])}), still on the old config`,
        ]
      : []),
  ].join('; ');
}

/** A rollback or resume that left drones behind, or ran without the lock, overrides any other result. */
function resultAfterCleanup(context: RolloutContext, outcome: CleanupOutcome): RolloutResult | null {
  return outcome.notHeld !== undefined || outcome.incomplete.length > 0 ? 'needs_attention' : context.result;
}

/** An effect that stands in until `withEffects` binds the real one. */
function unbound<TOutput, TInput = NonReducibleUnknown>(name: string) {
  return fromPromise<TOutput, TInput>(() =>
    Promise.reject(new Error(`the rollout machine's ${name} effect is not bound: create it with withEffects()`)),
  );
}

/** The rollout machine's types, effects (unbound until `withEffects`), actions and guards. */
export const rolloutSetup = setup({
  types: {
    context: {} as RolloutContext,
    input: {} as RolloutInput,
    events: {} as RolloutEvent,
    output: {} as RolloutOutput,
    meta: {} as StageMeta,
  },
  actors: {
    pauseFleet: unbound<StageOutcome>('pauseFleet'),
    acquireLock: unbound<LockOutcome>('acquireLock'),
    checkFleet: unbound<StageOutcome>('checkFleet'),
    preRollout: unbound<StageOutcome>('preRollout'),
    confirmPromotion: unbound<StageOutcome, { stepIndex: number }>('confirmPromotion'),
    confirmStep: unbound<StageOutcome, { stepIndex: number; fence: number }>('confirmStep'),
    keepLease: fromCallback<RolloutEvent, { fence: number }>(() => {
      throw new Error("the rollout machine's keepLease effect is not bound: create it with withEffects()");
    }),
    pushStep: unbound<StageOutcome, { stepIndex: number; fence: number }>('pushStep'),
    pushDeferred: unbound<StageOutcome, { fence: number }>('pushDeferred'),
    // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- the same output type as the actor machine.ts binds here, whose effect returns Promise<void>
    waitInterval: unbound<void, { ms: number }>('waitInterval'),
    analyseInterval: unbound<AnalysisOutcome, { stepIndex: number; interval: number }>('analyseInterval'),
    verifyPromotion: unbound<CleanupOutcome>('verifyPromotion'),
    rollBack: unbound<CleanupOutcome, { fence: number }>('rollBack'),
    resumeFleet: unbound<CleanupOutcome>('resumeFleet'),
    // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- the same output type as the actor machine.ts binds here, whose effect returns Promise<void>
    releaseLock: unbound<void, { fence: number }>('releaseLock'),
  },
  actions: {
    /** Records how the rollout ends, unless something already decided it. */
    decide: assign(({ context }, decision: { result: RolloutResult; reason: string }) =>
      decide(context, decision.result, decision.reason),
    ),
    /** An abort rolls back; an interrupt (SIGINT, SIGTERM) cleans up the same way and ends `interrupted`. */
    recordOperatorStop: assign(({ context, event }) => {
      if (event.type === 'operator.abort')
        return decide(context, 'rolled_back', `aborted by ${event.by}${event.reason ? `: ${event.reason}` : ''}`);
      if (event.type === 'operator.interrupt') return decide(context, 'interrupted', `interrupted by ${event.signal}`);
      return {};
    }),
    /**
     * A stage stopped the rollout: HOT drones abort it (`aborted_hot`, naming them); any other stop is a
     * rollback unless the stage says how it ends, with the drones a human must look at.
     */
    recordStop: assign(({ context }, outcome: StageOutcome) => {
      if (outcome.hot.length > 0) {
        return {
          hot: mergeIds(context.hot, outcome.hot),
          ...decide(context, 'aborted_hot', `HOT lock mismatch on ${outcome.hot.join(', ')}`),
        };
      }
      return {
        attention: mergeIds(context.attention, outcome.attention ?? []),
        ...decide(context, outcome.endsAs ?? 'rolled_back', outcome.abortReason ?? ''),
      };
    }),
    recordFailure: assign(({ context }, failure: { what: string; error: unknown }) =>
      decide(context, 'rolled_back', `${failure.what} failed: ${errorText(failure.error)}`),
    ),
    recordVerdict: assign(({ context }, outcome: AnalysisOutcome) => ({
      verdicts: [
        ...context.verdicts,
        {
          step: currentStep(context).name,
          interval: context.interval + 1,
          verdict: outcome.verdict,
          summary: outcome.summary,
        },
      ].slice(-VERDICTS_KEPT),
      failedIntervals: context.failedIntervals + (outcome.verdict === 'fail' ? 1 : 0),
      passedIntervals: context.passedIntervals + (outcome.verdict === 'pass' ? 1 : 0),
    })),
    recordAttention: assign(({ context }, drones: readonly string[]) => ({
      attention: mergeIds(context.attention, drones),
    })),
    nextInterval: assign(({ context }) => ({ interval: context.interval + 1 })),
    /** A human judged an inconclusive interval good: it counts as a pass. */
    acceptInconclusive: assign(({ context }) => ({ passedIntervals: context.passedIntervals + 1 })),
    advanceStep: assign(({ context }) => ({
      stepIndex: context.stepIndex + 1,
      interval: 0,
      failedIntervals: 0,
      passedIntervals: 0,
    })),
    recordFence: assign((_, fence: number) => ({ fence })),
    forgetFence: assign({ fence: null }),
    /** A rollback or resume that left drones behind overrides any other result: a human must look. */
    recordIncomplete: assign(({ context }, outcome: CleanupOutcome) => {
      const hot = outcome.hot ?? [];
      const withHot = hot.length === 0 ? {} : { hot: mergeIds(context.hot, hot) };
      const result = resultAfterCleanup(context, outcome);
      if (outcome.notHeld !== undefined) {
        return {
          ...withHot,
          fence: null,
          attention: mergeIds(context.attention, outcome.incomplete),
          result,
          reason: `${context.reason}; ${outcome.notHeld}`,
        };
      }
      if (outcome.incomplete.length === 0) return withHot;
      const note =
        outcome.note ?? `${plural(outcome.incomplete.length, 'drone did', 'drones did')} not end where they should`;
      return {
        ...withHot,
        attention: mergeIds(context.attention, outcome.incomplete),
        result,
        reason: `${context.reason}; ${note}`,
      };
    }),
    recordCleanupError: assign(({ context }, failure: { stage: string; error: unknown }) => ({
      result: 'needs_attention' as const,
      reason: `${context.reason}; ${failure.stage} failed: ${errorText(failure.error)}`,
    })),
    recordReleaseError: assign(({ context }, error: unknown) => ({
      reason: `${context.reason}; releasing the lock failed (it expires after its TTL): ${errorText(error)}`,
    })),
  },
  guards: {
    isHot: (_, outcome: { hot: readonly string[] }) => outcome.hot.length > 0,
    stopsRollout: (_, outcome: StageOutcome) => outcome.hot.length > 0 || outcome.abortReason !== undefined,
    isAcquired: (_, outcome: LockOutcome) => outcome.acquired,
    exceedsFailureLimit: ({ context }, outcome: AnalysisOutcome) =>
      outcome.verdict === 'fail' && context.failedIntervals + 1 > context.failureLimit,
    isLastIntervalWithoutPass: ({ context }, outcome: AnalysisOutcome) =>
      context.interval + 1 >= currentStep(context).intervals &&
      context.passedIntervals === 0 &&
      outcome.verdict !== 'pass',
    hasMoreIntervals: ({ context }) => context.interval + 1 < currentStep(context).intervals,
    waitsForHuman: ({ context }, outcome: AnalysisOutcome) =>
      outcome.verdict === 'inconclusive' && context.inconclusiveWaits,
    stepHasBake: ({ context }) => currentStep(context).intervals > 0,
    awaitsApproval: ({ context }) => currentStep(context).approval,
    hasNextStep: ({ context }) => context.stepIndex + 1 < context.steps.length,
    hasPreRolloutGate: ({ context }) => context.gates?.preRollout === true,
    hasConfirmGate: ({ context }) => context.gates?.confirmPromotion === true,
    hasTrials: ({ context }) => context.trials === true,
    hasPushGate: ({ context }) => context.pushGate === true,
    holdsLock: ({ context }) => context.fence !== null,
    hasIncomplete: (_, outcome: CleanupOutcome) => outcome.incomplete.length > 0,
    /** Whether the rollout ends as `result`, once a clean-up's outcome (if any) is counted. */
    endsAs: ({ context }, params: { result: RolloutResult; cleanup?: CleanupOutcome }) =>
      (params.cleanup ? resultAfterCleanup(context, params.cleanup) : context.result) === params.result,
  },
});
