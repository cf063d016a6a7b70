import type { KeyObject } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { sha256Hex } from '../agent/checksum.js';
import type { ConfigSeed } from '../agent/config-store.js';
import type { AuthMode } from '../protocol/v1.js';
import type { DroneMetrics } from '../protocol/metrics-text.js';
import { DroneAgent } from '../agent/drone-agent.js';
import type { OperationalSource } from '../agent/operational-source.js';
import type { DroneTarget } from '../agent/request-handler.js';
import {
  latestSample,
  type ConfigContent,
  type TelemetryClock,
  type TelemetrySourceFactory,
} from '../agent/telemetry-source.js';
import { isErrno } from '../infra/errno.js';
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
  /** Each drone's operational state: every simulated drone reports one. */
  readonly operational: (id: string) => OperationalSource;
  /**
   * The Ed25519 public keys every drone trusts: each refuses a push not signed by one of them (see
   * `DroneAgentOptions.trustedKeys`). @default none: unsigned pushes are accepted
   */
  readonly trustedKeys?: readonly KeyObject[];
}

/**
 * The drones of a simulated fleet, opened on first use: a drone costs nothing until its first
 * request, which seeds its dir (or loads it, if a previous run left one). So 10,000 drones start at
 * once and only the drones in use take memory and disk; every lookup is O(1).
 */
export class SimDrones {
  readonly #options: SimDronesOptions;
  readonly #opened = new Map<string, Promise<DroneAgent>>();
  /** The drones of `#opened` whose open has succeeded. */
  readonly #ready = new Map<string, DroneAgent>();
  /** Drones whose dir a previous run left in `root`: they may hold another config than the seed. */
  readonly #leftByEarlierRun = new Set<string>();
  /** What a drone never opened holds: the seed, as its telemetry source is told at boot. */
  readonly #seedConfigs: ReadonlyMap<string, ConfigContent>;
  readonly #hotLocks: HotLocks;

  constructor(options: SimDronesOptions) {
    this.#options = options;
    this.#seedConfigs = new Map([
      [options.seed.file, { sha256: sha256Hex(options.seed.content), content: options.seed.content }],
    ]);
    this.#hotLocks = new HotLocks({ file: options.seed.file, dirOf: (id) => this.dirOf(id), now: options.now });
  }
  /** Stops every opened drone's timers; their state stays on disk. */
  close(): void {
    for (const agent of this.#ready.values()) agent.close();
  }

  /** Notes which drones a previous run left a dir for in `root` (one readdir); call it once before serving. */
  async scanRoot(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#options.root);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return;
      throw error;
    }
    for (const name of names) if (droneNumber(name, this.#options.size) !== undefined) this.#leftByEarlierRun.add(name);
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
        operational: options.operational(id),
        ...(options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys }),
      });
      this.#opened.set(id, agent);
      agent.then(
        (opened) => this.#ready.set(id, opened),
        () => this.#opened.delete(id),
      );
    }
    return agent;
  }

  /**
   * Every drone's latest telemetry sample, drone-1 first: the simulator's `GET /metrics`, scraped every
   * second or so, so it reads one sample per drone. An opened drone answers from its own telemetry. A
   * drone never opened is on the seed config, so its sample (a pure function of its key, seq and model)
   * is computed from the seed without opening it: no dir is created and nothing is kept. A drone whose
   * dir an earlier run left may hold another config, so it is opened as a request would open it.
   */
  async latestMetrics(): Promise<DroneMetrics[]> {
    const options = this.#options;
    const nowMs = options.now();
    const found: (DroneMetrics | undefined)[] = [];
    const opening: Promise<void>[] = [];
    for (let number = 1; number <= options.size; number += 1) {
      const id = `drone-${number}`;
      const agent = this.#ready.get(id);
      if (agent !== undefined) {
        found.push(metricsOf(id, agent.latestSample()));
      } else if (this.#opened.has(id) || this.#leftByEarlierRun.has(id)) {
        const slot = found.push(undefined) - 1;
        opening.push(
          this.open(id).then(
            (opened) => void (found[slot] = metricsOf(id, opened.latestSample())),
            (error: unknown) =>
              options.logger.warn({ drone: id, err: error }, `/metrics left out ${id}: it did not open`),
          ),
        );
      } else {
        const preview = options.telemetry({ id, clock: options.clock, configs: this.#seedConfigs });
        found.push(metricsOf(id, latestSample(preview, nowMs)));
      }
    }
    await Promise.all(opening);
    return found.filter((drone) => drone !== undefined);
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

  /** Rewrites the heartbeat of this drone's HOT lock, if one is planted; before each request to it. */
  refreshHotLock(id: string): Promise<void> {
    return this.#hotLocks.refreshOne(id);
  }

  /** Rewrites the heartbeat of every HOT lock planted so far; the lock collector runs it before each sweep. */
  refreshHotLocks(): Promise<void> {
    return this.#hotLocks.refresh();
  }

  /** Routes `/d/<id>/...` to its drone. */
  async resolve(path: string): Promise<DroneTarget> {
    const { id, rest } = parseDronePath(path);
    const agent = await this.open(id);
    return { agent, path: rest };
  }
}

function metricsOf(
  id: string,
  sample: { readonly metrics: DroneMetrics['metrics'] } | undefined,
): DroneMetrics | undefined {
  return sample === undefined ? undefined : { id, metrics: sample.metrics };
}

/** `drone-7` → 7 for the ids of a fleet of `size` (no zero padding, within 1..size); undefined otherwise. */
export function droneNumber(id: string, size: number): number | undefined {
  const digits = /^drone-([1-9]\d*)$/u.exec(id)?.[1];
  const number = digits === undefined ? Number.NaN : Number(digits);
  return number >= 1 && number <= size ? number : undefined;
}

/** `/d/<id>/v1/...` → the drone's id and the path below its base URL; 404 `not_found` for any other path. */
export function parseDronePath(path: string): { readonly id: string; readonly rest: string } {
  const match = /^\/d\/([^/]+)(\/.*)?$/u.exec(path);
  if (match === null)
    throw new WireError(
      'not_found',
      `no endpoint ${path}: this simulated fleet serves each drone under /d/<id>/v1/..., e.g. /d/drone-1/v1/health`,
    );
  return { id: decodeSegment(match[1] ?? ''), rest: match[2] ?? '/' };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Not valid percent-encoding: no drone has such an id, and the lookup says so.
    return segment;
  }
}
