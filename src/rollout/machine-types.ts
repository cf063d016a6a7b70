/** What the rollout machine knows and what its effects must provide. Effects do all I/O. */

export type RolloutResult =
  | 'promoted'
  | 'rolled_back'
  | 'unchanged'
  | 'invalid'
  | 'aborted_hot'
  | 'lock_busy'
  | 'needs_attention'
  | 'interrupted';

export type IntervalVerdict = 'pass' | 'fail' | 'inconclusive';

/** One step as the machine sees it: counts and timings, never the drone list (kept small for snapshots). */
export interface StepSchedule {
  readonly name: string;
  readonly droneCount: number;
  /** Analysis intervals to run in this step's bake; 0 means no bake. */
  readonly intervals: number;
  readonly intervalDelayMs: number;
  /** A human must pass this gate (`rollout promote`) before the next step. */
  readonly approval: boolean;
}

export interface RolloutInput {
  readonly rolloutId: string;
  readonly steps: readonly StepSchedule[];
  /** Failed analysis intervals tolerated per step before rolling back. */
  readonly failureLimit: number;
  /** An inconclusive interval waits for a human (`operator.promote` counts it as a pass, `operator.abort` rolls back). */
  readonly inconclusiveWaits: boolean;
  /** Which webhook gates the spec has; a rollout without them never enters their states. */
  readonly gates?: RolloutGates;
  /** Pushes are trials (`push.confirm_within`): each step's drones are confirmed once the step has passed. */
  readonly trials?: boolean;
  /** The spec has an operational gate (`gates.push_when`): drones it held back are waited for after the last step. */
  readonly pushGate?: boolean;
}

export interface RolloutGates {
  /** Pre-rollout webhooks ask before the first push. */
  readonly preRollout: boolean;
  /** Confirm-promotion webhooks ask before each wave after the canary. */
  readonly confirmPromotion: boolean;
}

/** The outcome of a fleet-wide stage (pause, push): drones that answered HOT, and why to stop, if at all. */
export interface StageOutcome {
  readonly hot: readonly string[];
  readonly abortReason?: string;
  /**
   * How a stop for `abortReason` ends when it is not a rollback: `invalid` (the drones refused this
   * rollout's credentials or paths), `needs_attention` (the fleet is not in a state to roll out to),
   * `promoted` (every targeted drone already runs the new config: nothing to do), `unchanged` (a gate
   * refused the rollout before its first push).
   */
  readonly endsAs?: 'invalid' | 'needs_attention' | 'promoted' | 'unchanged';
  /** Drones a human must look at, with `endsAs: 'needs_attention'`. */
  readonly attention?: readonly string[];
}

export interface AnalysisOutcome {
  readonly hot: readonly string[];
  readonly verdict: IntervalVerdict;
  readonly summary: string;
}

/** Drones that did not end where they should (rollback or resume failed on them). */
export interface CleanupOutcome {
  readonly incomplete: readonly string[];
  /** What happened to the incomplete drones, for the reason: `rollback did not complete on 2 drones: …`. */
  readonly note?: string;
  /** Of `incomplete`, the drones the operational gate held back until its wait ran out (verify only). */
  readonly deferred?: readonly string[];
  /** Drones that answered HOT during the clean-up. */
  readonly hot?: readonly string[];
  /**
   * Set when the rollout no longer holds the config lock and sent nothing: why. The drones it changed are
   * in `incomplete`, left to the lock's holder.
   */
  readonly notHeld?: string;
}

export type LockOutcome =
  { readonly acquired: true; readonly fence: number } | { readonly acquired: false; readonly holder: string };

export interface VerdictRecord {
  readonly step: string;
  readonly interval: number;
  readonly verdict: IntervalVerdict;
  readonly summary: string;
}

/** The effects the machine invokes. Every one must be idempotent: a restored snapshot re-runs the step in flight. */
export interface RolloutEffects {
  pauseFleet(signal: AbortSignal): Promise<StageOutcome>;
  acquireLock(signal: AbortSignal): Promise<LockOutcome>;
  /**
   * With the lock held, before the first push: whether the fleet is one to roll out to (it may already run
   * the new config, or another rollout may have left it on a third version). `endsAs` stops the rollout.
   */
  checkFleet(signal: AbortSignal): Promise<StageOutcome>;
  /** With the lock held, before the first push: the pre-rollout webhooks; a refusal ends it `unchanged`. */
  preRollout(signal: AbortSignal): Promise<StageOutcome>;
  /**
   * Before pushing step `stepIndex` (a wave after the canary): asks the confirm-promotion webhooks until
   * they all say yes or their wait runs out (a stop: the rollout rolls back).
   */
  confirmPromotion(input: { readonly stepIndex: number }, signal: AbortSignal): Promise<StageOutcome>;
  /**
   * Step `stepIndex` has passed: confirms its drones' trial configs, so they keep the new config (before
   * any wait for a human, which may outlast a trial).
   */
  confirmStep(
    input: { readonly stepIndex: number; readonly fence: number },
    signal: AbortSignal,
  ): Promise<StageOutcome>;
  /** Keeps the lease alive; calls `onLost` once if it is lost. Returns a function that stops it. */
  keepLease(fence: number, onLost: (reason: string) => void): () => void;
  pushStep(input: { readonly stepIndex: number; readonly fence: number }, signal: AbortSignal): Promise<StageOutcome>;
  /**
   * Every step has passed: pushes the drones the operational gate held back as they come to satisfy it,
   * until none is left or their wait runs out (`gates.on_timeout: rollback` then stops the rollout).
   */
  pushDeferred(input: { readonly fence: number }, signal: AbortSignal): Promise<StageOutcome>;
  analyseInterval(
    input: { readonly stepIndex: number; readonly interval: number },
    signal: AbortSignal,
  ): Promise<AnalysisOutcome>;
  /** Drones targeted but not on the new config once every step is done. */
  verifyPromotion(signal: AbortSignal): Promise<CleanupOutcome>;
  rollBack(input: { readonly fence: number }, signal: AbortSignal): Promise<CleanupOutcome>;
  resumeFleet(signal: AbortSignal): Promise<CleanupOutcome>;
  releaseLock(input: { readonly fence: number }): Promise<void>;
  /**
   * The wait before each analysis interval. An effect rather than an `after` delay: a snapshot restored by
   * `rollout resume` restarts invoked actors, but not delayed events; and tests run it on no real time.
   */
  waitInterval(input: { readonly ms: number }, signal: AbortSignal): Promise<void>;
}

export type RolloutEvent =
  | { readonly type: 'operator.abort'; readonly by: string; readonly reason?: string }
  | { readonly type: 'operator.interrupt'; readonly signal: string }
  | { readonly type: 'operator.promote'; readonly by: string }
  | { readonly type: 'lease.lost'; readonly reason: string };

/** What a machine state is doing, named in its `meta`: how people and the state store see the stage. */
export type StageKind =
  | 'pausingFleet'
  | 'acquiringLock'
  | 'checkingFleet'
  | 'gatingRollout'
  | 'pushing'
  | 'baking'
  | 'awaitingJudgement'
  | 'awaitingApproval'
  | 'confirmingPromotion'
  | 'confirmingTrial'
  | 'pushingDeferred'
  | 'verifying'
  | 'rollingBack'
  | 'resumingFleet'
  | 'releasingLock';

export interface StageMeta {
  readonly stage: StageKind;
}

export interface RolloutOutput {
  readonly result: RolloutResult;
  readonly reason: string;
  readonly hot: readonly string[];
  readonly attention: readonly string[];
  readonly verdicts: readonly VerdictRecord[];
}
