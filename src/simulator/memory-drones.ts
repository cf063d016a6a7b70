import type { Logger } from 'pino';
import { sha256Hex } from '../agent/checksum.js';
import type { ConfigMeta, ConfigSeed } from '../agent/config-store.js';
import type { TelemetryView } from '../agent/drone-agent.js';
import { assertFreshFence } from '../agent/fence-rule.js';
import type { OperationalSource } from '../agent/operational-source.js';
import type { DroneTarget, ProtocolDrone } from '../agent/request-handler.js';
import {
  latestSample,
  type TelemetryClock,
  type TelemetrySource,
  type TelemetrySourceFactory,
} from '../agent/telemetry-source.js';
import type { DroneMetrics } from '../protocol/metrics-text.js';
import type {
  AuthMode,
  ConfigState,
  ConfirmAnswer,
  ConfirmRequest,
  DroneState,
  HealthAnswer,
  LocksAnswer,
  PauseAnswer,
  PushAnswer,
  PushRequest,
  ResumeAnswer,
  RollbackAnswer,
  RollbackRequest,
  TelemetrySample,
} from '../protocol/v1.js';
import { lockMismatch, WireError } from '../protocol/wire-errors.js';
import { failWrite, type SimFaults } from './sim-faults.js';
import { droneNumber, parseDronePath } from './sim-drones.js';

export interface MemoryDronesOptions {
  readonly size: number;
  readonly seed: ConfigSeed;
  readonly clock: TelemetryClock;
  readonly telemetry: TelemetrySourceFactory;
  readonly now: () => number;
  readonly logger: Logger;
  readonly faults: SimFaults;
  readonly auth: AuthMode;
  readonly operational: (id: string) => OperationalSource;
}

/** One content a drone may hold: the seed, or what a rollout pushed; shared by every drone that holds it. */
interface Version {
  readonly version: string;
  readonly sha256: string;
  readonly content: string;
}

/** An in-memory fleet as a whole, in `/sim/stats`: so a bench checks the end state without 100,000 health reads. */
export interface FleetCensus {
  readonly paused: number;
  /** Drones by the version they run. */
  readonly versions: Readonly<Record<string, number>>;
}

const NONE = -1;
const PUSH = 1;
const ROLLBACK = 2;
/** The owner of a HOT drone's lock: the same as the disk simulator plants (sim-faults.ts). */
const HOT_OWNER = { pid: process.pid, host: 'sim', rollout: 'sim-hot' };
/** Features of an in-memory drone: trials (`trialMs`) are ignored, as an agent that predates them would. */
const FEATURES = ['pause_hold', 'operational_state'];

/**
 * The drones of `fleet sim --in-memory`: the fleet's whole state in a few typed arrays indexed by drone
 * number (about 60 bytes a drone), contents shared by every drone holding them, nothing on disk and
 * no fsync. So a bench measures the orchestrator, not the fleet's disk, at 100,000 drones. Every write
 * keeps the agent's rules that a rollout's safety rests on: the fence rule (fence-rule.ts, the same
 * function), the 409 HOT of a drone whose lock another owner holds, the checksum, pause holds per
 * rollout (a late pause from a rollout that already resumed the drone is ignored) and a rollback
 * restoring what this rollout's push replaced. Left out: trials, signatures, the lock table's files.
 * Each request is handled whole in one turn of the event loop, so no per-drone mutex is needed.
 */
export class MemoryDrones {
  readonly #options: MemoryDronesOptions;
  readonly #file: string;
  readonly #versions: Version[] = [];
  readonly #versionIndex = new Map<string, number>();
  readonly #rollouts: string[] = [];
  readonly #rolloutIndex = new Map<string, number>();
  readonly #current: Int32Array;
  readonly #previous: Int32Array;
  readonly #highestFence: Float64Array;
  readonly #fenceOwner: Int32Array;
  readonly #installer: Int32Array;
  readonly #installerFence: Float64Array;
  readonly #installerAction: Uint8Array;
  readonly #retired: Int32Array;
  readonly #retiredFence: Float64Array;
  readonly #resumedBy: Int32Array;
  readonly #hot: Uint8Array;
  /** Paused drones only: rollout index → hold deadline (Infinity: until resumed). */
  readonly #holds = new Map<number, Map<number, number>>();
  /** Only drones whose telemetry was read: canaries and baselines. */
  readonly #telemetry = new Map<number, TelemetrySource>();

  constructor(options: MemoryDronesOptions) {
    this.#options = options;
    this.#file = options.seed.file;
    const size = options.size + 1;
    this.#current = new Int32Array(size);
    this.#previous = new Int32Array(size).fill(NONE);
    this.#highestFence = new Float64Array(size);
    this.#fenceOwner = new Int32Array(size).fill(NONE);
    this.#installer = new Int32Array(size).fill(NONE);
    this.#installerFence = new Float64Array(size);
    this.#installerAction = new Uint8Array(size);
    this.#retired = new Int32Array(size).fill(NONE);
    this.#retiredFence = new Float64Array(size);
    this.#resumedBy = new Int32Array(size).fill(NONE);
    this.#hot = new Uint8Array(size);
    const seed = options.seed;
    this.#current.fill(this.#versionOf(seed.version, sha256Hex(seed.content), seed.content));
    for (const id of options.faults.hot) this.#hot[this.#number(id)] = 1;
  }

  /** Routes `/d/<id>/...` to its drone: a view of one index, made per request. */
  resolve(path: string): DroneTarget {
    const { id, rest } = parseDronePath(path);
    return { agent: new MemoryDrone(this, this.#number(id), id), path: rest };
  }

  /** A `hotOnPush` drone turns HOT as its first push arrives. */
  beforePush(id: string): void {
    if (this.#options.faults.hotOnPush.has(id)) this.#hot[this.#number(id)] = 1;
  }

  isSlow(id: string): boolean {
    return this.#options.faults.slow.has(id);
  }

  /** Every drone's latest telemetry sample, drone-1 first, computed from the model as a disk drone would. */
  latestMetrics(): DroneMetrics[] {
    const found: DroneMetrics[] = [];
    for (let number = 1; number <= this.#options.size; number += 1) {
      const sample = this.latestSample(number);
      if (sample !== undefined) found.push({ id: `drone-${number}`, metrics: sample.metrics });
    }
    return found;
  }

  /** How many drones are paused, and how many hold each version: one pass over the arrays. */
  census(): FleetCensus {
    const counts = new Uint32Array(this.#versions.length);
    for (let n = 1; n <= this.#options.size; n += 1) {
      const current = this.#current[n] ?? NONE;
      if (current !== NONE) counts[current] = (counts[current] ?? 0) + 1;
    }
    const versions: Record<string, number> = {};
    this.#versions.forEach(({ version }, index) => {
      const count = counts[index] ?? 0;
      if (count > 0) versions[version] = (versions[version] ?? 0) + count;
    });
    let paused = 0;
    for (const n of this.#holds.keys()) if (this.state(n) === 'paused') paused += 1;
    return { paused, versions };
  }

  state(n: number): DroneState {
    const holds = this.#holds.get(n);
    if (holds === undefined) return 'active';
    const now = this.#options.now();
    for (const until of holds.values()) if (until > now) return 'paused';
    return 'active';
  }

  configs(n: number): Record<string, ConfigState> {
    const current = this.#versions[this.#current[n] ?? NONE];
    if (current === undefined) return {};
    return {
      [this.#file]: {
        version: current.version,
        sha256: current.sha256,
        lock: this.#hot[n] === 1 ? 'HOT' : 'free',
        fence: this.#highestFence[n] ?? 0,
      },
    };
  }

  async health(n: number, id: string): Promise<HealthAnswer> {
    return {
      id,
      state: this.state(n),
      configs: this.configs(n),
      auth: this.#options.auth,
      features: FEATURES,
      holds: this.#holdViews(n),
      lapsed: [],
      operational: await this.#options.operational(id).read(),
    };
  }

  async pause(n: number, id: string, rollout: string, holdMs: number | undefined): Promise<PauseAnswer> {
    const r = this.#rolloutOf(rollout);
    if (this.#resumedBy[n] === r) {
      this.#options.logger.warn(
        { drone: id, rollout },
        'ignored a late pause: this rollout already resumed this drone',
      );
    } else {
      let holds = this.#holds.get(n);
      if (holds === undefined) this.#holds.set(n, (holds = new Map<number, number>()));
      holds.set(r, holdMs === undefined ? Number.POSITIVE_INFINITY : this.#options.now() + holdMs);
    }
    return {
      state: this.state(n),
      configs: this.configs(n),
      holds: this.#holdViews(n),
      lapsed: [],
      operational: await this.#options.operational(id).read(),
    };
  }

  resume(n: number, rollout: string, all: boolean): ResumeAnswer {
    const r = this.#rolloutOf(rollout);
    const holds = this.#holds.get(n);
    if (all) this.#holds.delete(n);
    else holds?.delete(r);
    if (holds?.size === 0) this.#holds.delete(n);
    this.#resumedBy[n] = r;
    return { state: this.state(n) };
  }

  push(n: number, id: string, file: string, request: PushRequest): PushAnswer {
    const sha256 = sha256Hex(request.content);
    if (sha256 !== request.sha256.toLowerCase())
      throw new WireError('checksum_mismatch', `checksum mismatch for ${file}: the content's sha256 is ${sha256}`);
    const r = this.#checkWrite(n, file, request.rollout, request.fence);
    const seq = this.#seqAfterChange(n);
    const current = this.#versions[this.#current[n] ?? NONE];
    if (current?.sha256 === sha256 && this.#installerAction[n] === PUSH && this.#installer[n] === r) {
      // A retry, or the same rollout resumed under a new lease: keep what it replaced, raise the fence.
      this.#raise(n, r, request.fence);
      this.#installerFence[n] = request.fence;
      return { version: current.version, sha256, previous: this.#refOf(this.#previous[n]), seq };
    }
    if (this.#options.faults.fail.has(id)) failWrite(id)(file);
    this.#previous[n] = this.#current[n] ?? NONE;
    this.#current[n] = this.#versionOf(request.version, sha256, request.content);
    this.#install(n, r, request.fence, PUSH);
    this.#telemetry.get(n)?.configChanged(file, { sha256, content: request.content }, this.#options.now());
    return { version: request.version, sha256, previous: this.#refOf(this.#previous[n]), seq };
  }

  rollback(n: number, file: string, request: RollbackRequest): RollbackAnswer {
    const r = this.#checkWrite(n, file, request.rollout, request.fence);
    const seq = this.#seqAfterChange(n);
    if (this.#installerAction[n] !== PUSH || this.#installer[n] !== r) {
      // Nothing of this rollout's to restore: a late push of its own with an older fence must not land.
      this.#retired[n] = r;
      this.#retiredFence[n] = request.fence;
      const current = this.#refOf(this.#current[n]);
      return { version: current?.version ?? null, sha256: current?.sha256 ?? null, restored: false, seq };
    }
    this.#current[n] = this.#previous[n] ?? NONE;
    this.#previous[n] = NONE;
    this.#install(n, r, request.fence, ROLLBACK);
    const restored = this.#versions[this.#current[n] ?? NONE];
    this.#telemetry.get(n)?.configChanged(file, restored ?? null, this.#options.now());
    return { version: restored?.version ?? null, sha256: restored?.sha256 ?? null, restored: true, seq };
  }

  telemetry(n: number, id: string, since: number): TelemetryView {
    const now = this.#options.now();
    const page = this.#telemetryOf(n, id).read(since, now);
    return { ...page, now, state: this.state(n), configs: this.configs(n) };
  }

  latestSample(n: number): TelemetrySample | undefined {
    return latestSample(this.#telemetryOf(n, `drone-${n}`), this.#options.now());
  }

  locks(n: number): LocksAnswer {
    const now = new Date(this.#options.now()).toISOString();
    return {
      locks:
        this.#hot[n] === 1
          ? [{ file: this.#file, owner: HOT_OWNER, fence: 0, acquired: now, heartbeat: now, state: 'held' }]
          : [],
      fences: { [this.#file]: this.#highestFence[n] ?? 0 },
    };
  }

  /** The agent's write discipline in memory: the config known, not HOT, the fence fresh. Answers the rollout's index. */
  #checkWrite(n: number, file: string, rollout: string, fence: number): number {
    if (file !== this.#file)
      throw new WireError('unknown_config', `drone-${n} has no config ${file}; it holds ${this.#file}`);
    if (this.#hot[n] === 1) throw lockMismatch(file, HOT_OWNER);
    assertFreshFence(file, rollout, fence, this.#meta(n));
    return this.#rolloutOf(rollout);
  }

  /** The few ConfigMeta fields the fence rule reads, for one check. */
  #meta(n: number): ConfigMeta {
    const retired = this.#retired[n] ?? NONE;
    const installer = this.#installer[n] ?? NONE;
    const action = this.#installerAction[n];
    return {
      current: this.#refOf(this.#current[n]),
      installedBy:
        installer === NONE
          ? null
          : {
              rollout: this.#rollouts[installer] ?? '',
              fence: this.#installerFence[n] ?? 0,
              action: action === PUSH ? 'push' : 'rollback',
            },
      previous: this.#refOf(this.#previous[n]),
      highestFence: this.#highestFence[n] ?? 0,
      fenceOwner: this.#rollouts[this.#fenceOwner[n] ?? NONE] ?? null,
      retired: retired === NONE ? null : { rollout: this.#rollouts[retired] ?? '', fence: this.#retiredFence[n] ?? 0 },
      trial: null,
      reverted: null,
    };
  }

  #install(n: number, r: number, fence: number, action: number): void {
    this.#installer[n] = r;
    this.#installerFence[n] = fence;
    this.#installerAction[n] = action;
    this.#raise(n, r, fence);
  }

  #raise(n: number, r: number, fence: number): void {
    this.#highestFence[n] = fence;
    this.#fenceOwner[n] = r;
  }

  #seqAfterChange(n: number): number {
    const now = this.#options.now();
    return this.#telemetry.get(n)?.nextSeq(now) ?? Math.floor(now / this.#options.clock.intervalMs) + 1;
  }

  #holdViews(n: number): PauseAnswer['holds'] {
    const holds = this.#holds.get(n);
    if (holds === undefined) return [];
    const now = this.#options.now();
    return [...holds]
      .filter(([, until]) => until > now)
      .map(([r, until]) => ({
        rollout: this.#rollouts[r] ?? '',
        expiresInMs: until === Number.POSITIVE_INFINITY ? null : until - now,
      }));
  }

  #telemetryOf(n: number, id: string): TelemetrySource {
    let source = this.#telemetry.get(n);
    if (source === undefined) {
      const current = this.#versions[this.#current[n] ?? NONE];
      const configs = new Map(current === undefined ? [] : [[this.#file, current]]);
      source = this.#options.telemetry({ id, clock: this.#options.clock, configs });
      this.#telemetry.set(n, source);
    }
    return source;
  }

  #versionOf(version: string, sha256: string, content: string): number {
    const key = `${sha256}\n${version}`;
    let index = this.#versionIndex.get(key);
    if (index === undefined) {
      index = this.#versions.push({ version, sha256, content }) - 1;
      this.#versionIndex.set(key, index);
    }
    return index;
  }

  #refOf(index: number | undefined): { version: string; sha256: string } | null {
    const found = this.#versions[index ?? NONE];
    return found === undefined ? null : { version: found.version, sha256: found.sha256 };
  }

  #rolloutOf(rollout: string): number {
    let index = this.#rolloutIndex.get(rollout);
    if (index === undefined) {
      index = this.#rollouts.push(rollout) - 1;
      this.#rolloutIndex.set(rollout, index);
    }
    return index;
  }

  #number(id: string): number {
    const number = droneNumber(id, this.#options.size);
    if (number === undefined)
      throw new WireError(
        'unknown_drone',
        `no drone ${JSON.stringify(id)} in this simulated fleet; its drones are drone-1 to drone-${this.#options.size}`,
      );
    return number;
  }
}

/** One in-memory drone as the protocol's router sees it. */
class MemoryDrone implements ProtocolDrone {
  readonly #drones: MemoryDrones;
  readonly #n: number;
  readonly id: string;

  constructor(drones: MemoryDrones, n: number, id: string) {
    this.#drones = drones;
    this.#n = n;
    this.id = id;
  }

  health(): Promise<HealthAnswer> {
    return this.#drones.health(this.#n, this.id);
  }
  pause(rollout: string, holdMs?: number): Promise<PauseAnswer> {
    return this.#drones.pause(this.#n, this.id, rollout, holdMs);
  }
  async resume(rollout: string, all: boolean): Promise<ResumeAnswer> {
    return this.#drones.resume(this.#n, rollout, all);
  }
  async push(file: string, request: PushRequest): Promise<PushAnswer> {
    return this.#drones.push(this.#n, this.id, file, request);
  }
  async rollback(file: string, request: RollbackRequest): Promise<RollbackAnswer> {
    return this.#drones.rollback(this.#n, file, request);
  }
  confirm(file: string, request: ConfirmRequest): Promise<ConfirmAnswer> {
    return Promise.reject(
      new WireError(
        'bad_request',
        `${this.id} is an in-memory simulated drone without trials: nothing of ${file} to confirm for ${request.rollout}`,
      ),
    );
  }
  async telemetry(since: number): Promise<TelemetryView> {
    return this.#drones.telemetry(this.#n, this.id, since);
  }
  latestSample(): TelemetrySample | undefined {
    return this.#drones.latestSample(this.#n);
  }
  async locks(): Promise<LocksAnswer> {
    return this.#drones.locks(this.#n);
  }
}
