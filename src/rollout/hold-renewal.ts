import type { DroneClient } from '../fleet/drone-client.js';
import { forEachDrone } from '../fleet/for-each-drone.js';
import { listIds } from '../wording.js';
import type { RolloutRuntime } from './context.js';
import type { StageKind } from './machine-types.js';

/**
 * The stages during which the rollout holds the drones it paused: from the pause until the fleet is
 * resumed. Renewals stop there, so none goes out after a resume (a late one is ignored by the drone).
 */
const HOLDING: ReadonlySet<StageKind> = new Set<StageKind>([
  'pausingFleet',
  'acquiringLock',
  'checkingFleet',
  'gatingRollout',
  'pushing',
  'baking',
  'awaitingJudgement',
  'awaitingApproval',
  'confirmingPromotion',
  'confirmingTrial',
  'pushingDeferred',
  'verifying',
  'rollingBack',
]);

/**
 * Renews the rollout's pause holds while it runs, every third of `pause.hold`, by pausing again every
 * drone it has paused, so a live rollout's drones stay paused and a dead one's resume by themselves.
 * A drone that misses a renewal is logged, not failed: its next renewal may reach it, and a drone whose
 * hold lapsed is only active, never on another config. Renewals go through their own client (a short
 * timeout, no retries), and each pass starts a third of the way further along the fleet, so drones that
 * do not answer slow one part of a pass, never the same drones' renewals every time.
 */
export class HoldRenewal {
  readonly #runtime: RolloutRuntime;
  readonly #client: DroneClient;
  #passes = 0;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #holding = false;

  constructor(runtime: RolloutRuntime, client: DroneClient) {
    this.#runtime = runtime;
    this.#client = client;
  }

  /** Renews every third of the hold from now on, whenever the rollout is in a stage that holds the fleet. */
  start(): void {
    const { pause } = this.#runtime.plan.spec;
    if (!pause.fleet) return;
    this.#timer = setInterval(() => void this.renew(), Math.max(1, Math.floor(pause.holdMs / 3)));
  }

  /** Told of every stage: renewals go out only in a stage that holds the fleet. */
  stage(kind: StageKind | null): void {
    this.#holding = kind !== null && HOLDING.has(kind);
  }

  /**
   * Pauses again every drone this rollout paused, when in a stage that holds the fleet. One renewal at a
   * time: one due while another still runs is skipped, and this returns the running one.
   */
  renew(): Promise<void> {
    if (this.#running !== undefined) return this.#running;
    if (!this.#runtime.plan.spec.pause.fleet || !this.#holding || this.#stop.signal.aborted) return Promise.resolve();
    this.#running = this.#renewAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops renewing and cancels a renewal in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stop.abort();
    await this.#running;
  }

  async #renewAll(): Promise<void> {
    const runtime = this.#runtime;
    const held = runtime.plan.drones.filter((drone) => runtime.ledger.get(drone.id).pauseSent);
    const start = held.length === 0 ? 0 : (this.#passes++ * Math.ceil(held.length / 3)) % held.length;
    const paused = [...held.slice(start), ...held.slice(0, start)];
    const missed: string[] = [];
    const { holdMs } = runtime.plan.spec.pause;
    await forEachDrone(
      paused,
      { concurrency: runtime.plan.spec.push.concurrency, signal: this.#stop.signal },
      async (drone, signal) => {
        if (!this.#holding) return 'stop';
        const reply = await this.#client.pause(drone, runtime.rolloutId, { holdMs, signal });
        if (!reply.ok && reply.kind !== 'cancelled') missed.push(drone.id);
        return 'continue';
      },
    );
    if (missed.length > 0) {
      runtime.logger.warn(
        { drones: missed.length, holdMs },
        `renewing pause holds: ${listIds(missed)} did not answer; each resumes by itself if no renewal reaches it within pause.hold`,
      );
    }
  }
}
