import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ConfigSeed } from '../agent/config-store.js';
import type { AuthMode } from '../protocol/v1.js';
import { DroneAgent } from '../agent/drone-agent.js';
import type { DroneTarget } from '../agent/request-handler.js';
import type { TelemetryClock, TelemetrySourceFactory } from '../agent/telemetry-source.js';
import { failWrite, HotLocks, type SimFaults } from './sim-faults.js';
import { WireError } from '../protocol/wire-errors.js';

export interface SimDronesOptions {
  /** Drone `drone-<n>` lives in `<root>/drone-<n>/`. */
  readonly root: string;
  readonly size: number;
  readonly seed: ConfigSeed;
  readonly clock: TelemetryClock;
  /** Every drone's telemetry: the model, keyed per drone. */
  readonly telemetry: TelemetrySourceFactory;
  readonly lockTtlMs: number;
  readonly now: () => number;
  readonly logger: Logger;
  readonly faults: SimFaults;
  readonly onLockSeen: (agent: DroneAgent) => void;
  /** What the fleet's server checks, reported in each drone's health. */
  readonly auth: AuthMode;
}

/**
 * The drones of a simulated fleet, opened on first use: a drone costs nothing until its first
 * request, which seeds its dir (or loads it, if a previous run left one). So 10,000 drones start at
 * once and only the drones in use take memory and disk; every lookup is O(1).
 */
export class SimDrones {
  readonly #options: SimDronesOptions;
  readonly #opened = new Map<string, Promise<DroneAgent>>();
  readonly #hotLocks: HotLocks;

  constructor(options: SimDronesOptions) {
    this.#options = options;
    this.#hotLocks = new HotLocks({ file: options.seed.file, dirOf: (id) => this.dirOf(id), now: options.now });
  }

  dirOf(id: string): string {
    return join(this.#options.root, id);
  }

  /** The drone, opened once; a failed open is forgotten so the next request retries it. */
  open(id: string): Promise<DroneAgent> {
    const number = droneNumber(id, this.#options.size);
    if (number === undefined) {
      return Promise.reject(
        new WireError(
          'unknown_drone',
          `no drone ${JSON.stringify(id)} in this simulated fleet; its drones are drone-1 to drone-${this.#options.size}`,
        ),
      );
    }
    let agent = this.#opened.get(id);
    if (agent === undefined) {
      const options = this.#options;
      agent = DroneAgent.open({
        id,
        dir: this.dirOf(id),
        clock: options.clock,
        telemetry: options.telemetry,
        lockTtlMs: options.lockTtlMs,
        now: options.now,
        logger: options.logger,
        seed: options.seed,
        ...(options.faults.fail.has(id) ? { beforePushWrite: failWrite(id) } : {}),
        onLockSeen: options.onLockSeen,
        auth: options.auth,
      });
      this.#opened.set(id, agent);
      agent.catch(() => this.#opened.delete(id));
    }
    return agent;
  }

  /** Plants the live foreign lock of a `hot` drone; call it before the drone opens, so it boots HOT. */
  plantHot(id: string): Promise<void> {
    return this.#hotLocks.plant(id);
  }

  /** Runs as a push to `id` arrives, before it is handled: a `hotOnPush` drone turns HOT on its first. */
  async beforePush(id: string): Promise<void> {
    if (this.#options.faults.hotOnPush.has(id)) await this.#hotLocks.plant(id);
  }

  /** A `slow` drone: every answer waits `slowMs` first. */
  isSlow(id: string): boolean {
    return this.#options.faults.slow.has(id);
  }

  /** Rewrites the heartbeat of every HOT lock planted so far; the lock collector runs it before each sweep. */
  refreshHotLocks(): Promise<void> {
    return this.#hotLocks.refresh();
  }

  /** Routes `/d/<id>/...` to its drone. */
  async resolve(path: string): Promise<DroneTarget> {
    const match = /^\/d\/([^/]+)(\/.*)?$/u.exec(path);
    if (match === null)
      throw new WireError(
        'not_found',
        `no endpoint ${path}: this simulated fleet serves each drone under /d/<id>/v1/..., e.g. /d/drone-1/v1/health`,
      );
    const id = decodeSegment(match[1] ?? '');
    const agent = await this.open(id);
    return { agent, path: match[2] ?? '/' };
  }
}

/** `drone-7` → 7 for the ids of a fleet of `size` (no zero padding, within 1..size); undefined otherwise. */
export function droneNumber(id: string, size: number): number | undefined {
  const digits = /^drone-([1-9]\d*)$/u.exec(id)?.[1];
  const number = digits === undefined ? Number.NaN : Number(digits);
  return number >= 1 && number <= size ? number : undefined;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Not valid percent-encoding: no drone has such an id, and the lookup says so.
    return segment;
  }
}
