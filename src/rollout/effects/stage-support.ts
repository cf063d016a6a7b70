import { misconfiguration, type DroneFailure } from '../../fleet/drone-client.js';
import { TLS_REFUSED_STATUS } from '../../fleet/tls-failure.js';
import type { Drone } from '../../spec/types.js';
import { count } from '../../wording.js';
import { allowed, describeThreshold } from '../../spec/threshold.js';
import type { RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';

/** Counts a stage's failures against the spec's abort thresholds; the first breach is the reason to stop. */
export class FailureBudget {
  readonly hot: string[] = [];
  #refused = 0;
  #unreachable = 0;
  #reason: string | undefined;
  #invalid = false;
  /** The fence of a write stage that stopped because its lease may have lapsed. */
  #lapsedFence: number | undefined;

  constructor(
    private readonly runtime: RolloutRuntime,
    /** The audit event kind of this stage's requests. */
    private readonly kind: 'pause' | 'push' | 'confirm',
    /** How the stage reads in a reason: `pausing the fleet`, `pushing canary`. */
    private readonly stage: string,
  ) {}

  get reason(): string | undefined {
    return this.#reason;
  }

  /** Records one failed drone; returns true when the stage must stop. */
  record(drone: Drone, failure: DroneFailure): boolean {
    const { abort } = this.runtime.plan.spec;
    const total = this.runtime.plan.drones.length;
    this.runtime.ledger.edit(drone.id).lastError = failure.message;
    this.runtime.recorder.audit(this.kind, {
      drone: drone.id,
      ok: false,
      failure: failure.kind,
      error: failure.message,
    });
    this.runtime.logger.warn({ drone: drone.id, stage: this.stage, kind: failure.kind }, failure.message);
    if (failure.kind === 'hot') {
      this.hot.push(drone.id);
      return true;
    }
    if (failure.kind === 'stale') {
      // Never HOT: the drone has accepted a larger fence, so another rollout took the lock since.
      this.#reason ??= `${drone.id} refused this rollout's fence as stale while ${this.stage}: ${failure.message}`;
      return true;
    }
    const misconfigured = misconfiguration(failure);
    if (failure.kind === 'unreachable') {
      this.#unreachable += 1;
      if (this.#unreachable > allowed(abort.maxUnreachable, total)) {
        this.#reason ??= `${count(this.#unreachable, 'drone')} unreachable while ${this.stage} (max_unreachable ${describeThreshold(abort.maxUnreachable)}); last: ${drone.id}: ${failure.message}`;
        return true;
      }
    } else if (failure.kind === 'refused' && misconfigured !== undefined) {
      // Wrong credentials or a wrong URL are the rollout's configuration, not the drone's health.
      this.#invalid = true;
      const answered =
        failure.status === TLS_REFUSED_STATUS
          ? `failed TLS (${failure.code})`
          : `answered ${failure.status} ${failure.code}`;
      this.#reason ??= `${drone.id} ${answered} while ${this.stage}: ${failure.message}; ${misconfigured}`;
      return true;
    } else if (failure.kind === 'refused' || failure.kind === 'bad_answer') {
      this.#refused += 1;
      if (this.#refused > allowed(abort.maxPushFailures, total)) {
        const why = failure.kind === 'refused' ? `${failure.code}: ${failure.message}` : failure.message;
        this.#reason ??= `${count(this.#refused, 'drone')} failed while ${this.stage} (max_push_failures ${describeThreshold(abort.maxPushFailures)}); last: ${drone.id}: ${why}`;
        return true;
      }
    }
    return false;
  }

  /**
   * A write stage stopped before a write because its lease may have lapsed (LeaseKeeper.isFresh): no
   * more writes with `fence`. The stage ends on that unless a HOT answer or another stop came first.
   */
  leaseLapsed(fence: number): void {
    this.#lapsedFence ??= fence;
  }

  outcome(): StageOutcome {
    if (this.#reason === undefined && this.hot.length === 0 && this.#lapsedFence !== undefined) {
      const { config, spec } = this.runtime.plan;
      this.runtime.recorder.audit('lock.expired', { key: config.file, fence: this.#lapsedFence });
      return {
        hot: [],
        abortReason: `lease lost: not renewed within its TTL (${spec.lock.ttlMs} ms; was this process paused?), so no more writes with fence ${this.#lapsedFence} while ${this.stage}`,
      };
    }
    if (this.#reason === undefined) return { hot: this.hot };
    return this.#invalid
      ? { hot: this.hot, abortReason: this.#reason, endsAs: 'invalid' }
      : { hot: this.hot, abortReason: this.#reason };
  }
}

/** A drone that answered no did nothing; one that did not answer, was cancelled or said yes oddly may have acted. */
export function landedMaybe(failure: DroneFailure): boolean {
  return failure.kind === 'unreachable' || failure.kind === 'cancelled' || failure.kind === 'bad_answer';
}

/** How many drones a stage talks to at once. */
export function concurrency(runtime: RolloutRuntime): number {
  return runtime.plan.spec.push.concurrency;
}
