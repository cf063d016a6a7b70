import type {
  AnalysisOutcome,
  CleanupOutcome,
  IntervalVerdict,
  LockOutcome,
  RolloutEffects,
  StageOutcome,
  StepSchedule,
} from '../../src/rollout/machine-types.js';

/** Scripted effects for machine tests: each call is recorded, each answer comes from the script. */
export class FakeEffects implements RolloutEffects {
  readonly calls: string[] = [];
  pauseOutcome: StageOutcome = { hot: [] };
  lockOutcome: LockOutcome = { acquired: true, fence: 7 };
  /** By step index; missing steps push fine. */
  pushOutcomes = new Map<number, StageOutcome | Error>();
  /** Consumed in order; when empty every interval passes. */
  verdicts: (IntervalVerdict | 'hot' | Error)[] = [];
  verifyOutcome: CleanupOutcome = { incomplete: [] };
  rollbackOutcome: CleanupOutcome | Error = { incomplete: [] };
  resumeOutcome: CleanupOutcome | Error = { incomplete: [] };
  /** Bakes never end by themselves: the machine stays in `baking` until an event moves it on. */
  holdBakes = false;
  /** The waits asked for, in milliseconds. */
  readonly waits: number[] = [];
  leaseLost: ((reason: string) => void) | null = null;
  leaseStopped = false;

  async pauseFleet(): Promise<StageOutcome> {
    this.calls.push('pause');
    return this.pauseOutcome;
  }

  checkOutcome: StageOutcome = { hot: [] };

  async checkFleet(): Promise<StageOutcome> {
    this.calls.push('check');
    return this.checkOutcome;
  }

  gateOutcome: StageOutcome | Error = { hot: [] };

  async preRollout(): Promise<StageOutcome> {
    this.calls.push('gate');
    if (this.gateOutcome instanceof Error) throw this.gateOutcome;
    return this.gateOutcome;
  }

  /** By the step index about to be pushed; missing steps are confirmed. */
  confirmOutcomes = new Map<number, StageOutcome | Error>();

  async confirmPromotion(input: { stepIndex: number }): Promise<StageOutcome> {
    this.calls.push(`confirm:${input.stepIndex}`);
    const outcome = this.confirmOutcomes.get(input.stepIndex) ?? { hot: [] };
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  /** By the step index whose trial configs are confirmed; missing steps confirm. */
  trialOutcomes = new Map<number, StageOutcome | Error>();

  async confirmStep(input: { stepIndex: number }): Promise<StageOutcome> {
    this.calls.push(`trial:${input.stepIndex}`);
    const outcome = this.trialOutcomes.get(input.stepIndex) ?? { hot: [] };
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  async acquireLock(): Promise<LockOutcome> {
    this.calls.push('lock');
    return this.lockOutcome;
  }

  keepLease(fence: number, onLost: (reason: string) => void): () => void {
    this.calls.push(`lease:${fence}`);
    this.leaseLost = onLost;
    return () => {
      this.leaseStopped = true;
    };
  }

  async pushStep(input: { stepIndex: number; fence: number }): Promise<StageOutcome> {
    this.calls.push(`push:${input.stepIndex}:${input.fence}`);
    const outcome = this.pushOutcomes.get(input.stepIndex) ?? { hot: [] };
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  /** The outcome of pushing the drones the operational gate held back (machines with `pushGate`). */
  deferredOutcome: StageOutcome = { hot: [] };

  async pushDeferred(input: { fence: number }): Promise<StageOutcome> {
    this.calls.push(`pushDeferred:${input.fence}`);
    return this.deferredOutcome;
  }

  async analyseInterval(input: { stepIndex: number; interval: number }): Promise<AnalysisOutcome> {
    this.calls.push(`analyse:${input.stepIndex}:${input.interval}`);
    const next = this.verdicts.shift() ?? 'pass';
    if (next instanceof Error) throw next;
    if (next === 'hot') return { hot: ['drone-9'], verdict: 'fail', summary: 'HOT lock mismatch on drone-9' };
    return { hot: [], verdict: next, summary: `interval ${next}` };
  }

  waitInterval(input: { ms: number }, signal: AbortSignal): Promise<void> {
    this.waits.push(input.ms);
    if (!this.holdBakes) return Promise.resolve();
    return new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
    );
  }

  async verifyPromotion(): Promise<CleanupOutcome> {
    this.calls.push('verify');
    return this.verifyOutcome;
  }

  async rollBack(input: { fence: number }): Promise<CleanupOutcome> {
    this.calls.push(`rollback:${input.fence}`);
    if (this.rollbackOutcome instanceof Error) throw this.rollbackOutcome;
    return this.rollbackOutcome;
  }

  async resumeFleet(): Promise<CleanupOutcome> {
    this.calls.push('resume');
    if (this.resumeOutcome instanceof Error) throw this.resumeOutcome;
    return this.resumeOutcome;
  }

  async releaseLock(input: { fence: number }): Promise<void> {
    this.calls.push(`release:${input.fence}`);
  }
}

export function steps(...specs: [name: string, intervals: number, approval?: boolean][]): StepSchedule[] {
  return specs.map(([name, intervals, approval]) => ({
    name,
    droneCount: 3,
    intervals,
    intervalDelayMs: 1,
    approval: approval ?? false,
  }));
}
