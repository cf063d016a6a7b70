import type { Logger } from 'pino';
import { sha256Hex } from './checksum.js';
import { ConfigStore, type ConfigMeta, type ConfigSeed } from './config-store.js';
import type {
  AuthMode,
  ConfigState,
  DroneState,
  HealthAnswer,
  LocksAnswer,
  LockView,
  PauseAnswer,
  PushAnswer,
  PushRequest,
  ResumeAnswer,
  RollbackAnswer,
  RollbackRequest,
  TelemetryAnswer,
  TelemetrySample,
} from '../protocol/v1.js';
import { KeyedQueue } from '../infra/keyed-queue.js';
import { assertFreshFence } from './fence-rule.js';
import { LocalLocks, type LocalLockStatus } from './local-lock.js';
import { removeInterruptedWrites } from './orphan-sweep.js';
import { PauseHolds } from './pause-holds.js';
import {
  latestSample,
  type ConfigContent,
  type TelemetryClock,
  type TelemetrySource,
  type TelemetrySourceFactory,
} from './telemetry-source.js';
import { lockMismatch, WireError } from '../protocol/wire-errors.js';

export interface DroneAgentOptions {
  readonly id: string;
  /** The drone's config dir; the agent's own state lives in `<dir>/.agent/`. */
  readonly dir: string;
  /** The sample clock, shared by every drone of one server. */
  readonly clock: TelemetryClock;
  /** Opens the drone's telemetry source once its configs are loaded; told of every config change after. */
  readonly telemetry: TelemetrySourceFactory;
  readonly lockTtlMs: number;
  readonly now: () => number;
  readonly logger: Logger;
  /** The config a brand-new drone starts with. */
  readonly seed?: ConfigSeed;
  /**
   * Runs when a push has passed the checksum, lock and fence checks and is about to change the file; a
   * WireError it throws is the push's answer. The simulator injects its write failures here.
   */
  readonly beforePushWrite?: (file: string) => void;
  /** Told when this drone may have lock files, so one collector per server knows whom to sweep. */
  readonly onLockSeen?: (agent: DroneAgent) => void;
  /** What the server in front of this drone checks; reported by health. @default 'none' */
  readonly auth?: AuthMode;
}

/** The answer of `GET /v1/telemetry`: the source's page, the drone's clock, state and configs. */
export type TelemetryView = Omit<TelemetryAnswer, 'samples'> & { readonly samples: readonly TelemetrySample[] };

/** The pause set is serialised like a config; no config name can start with a dot, so no clash. */
const PAUSE_KEY = '.pause';

/**
 * One drone: its configs, local locks, pause holds and telemetry, behind the operations of the
 * protocol. Writes to one config run one at a time, each under the drone's local lock file.
 */
export class DroneAgent {
  readonly id: string;
  readonly #configs: ConfigStore;
  readonly #holds: PauseHolds;
  readonly #locks: LocalLocks;
  readonly #telemetry: TelemetrySource;
  readonly #mutex = new KeyedQueue();
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #beforePushWrite: ((file: string) => void) | undefined;
  readonly #auth: AuthMode;
  /** file → the first telemetry seq under its current content, for installs this process made. */
  readonly #installSeqs = new Map<string, number>();

  private constructor(
    options: DroneAgentOptions,
    configs: ConfigStore,
    holds: PauseHolds,
    locks: LocalLocks,
    telemetry: TelemetrySource,
  ) {
    this.id = options.id;
    this.#configs = configs;
    this.#holds = holds;
    this.#locks = locks;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#beforePushWrite = options.beforePushWrite;
    this.#auth = options.auth ?? 'none';
    this.#telemetry = telemetry;
  }

  /**
   * Loads the drone from its dir and cleans up after a crash: temp files of interrupted writes, kept
   * contents nothing refers to, and the stale local locks a crashed writer left behind.
   */
  static async open(options: DroneAgentOptions): Promise<DroneAgent> {
    await removeInterruptedWrites(options.dir, options.id, options.logger);
    // The lock table reports lock files as soon as boot finds them, in reclaimStale() below: the agent
    // exists by then.
    const locks = new LocalLocks({
      dir: options.dir,
      droneId: options.id,
      ttlMs: options.lockTtlMs,
      now: options.now,
      logger: options.logger,
      onLockSeen: () => options.onLockSeen?.(agent),
    });
    const loaded = new Map<string, ConfigContent>();
    const configs = await ConfigStore.open({
      dir: options.dir,
      droneId: options.id,
      logger: options.logger,
      onLoaded: (file, config) => loaded.set(file, config),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    const telemetry = options.telemetry({ id: options.id, clock: options.clock, configs: loaded });
    const holds = await PauseHolds.load(options.dir);
    const agent = new DroneAgent(options, configs, holds, locks, telemetry);
    await locks.reclaimStale();
    return agent;
  }

  get state(): DroneState {
    return this.#holds.paused ? 'paused' : 'active';
  }

  async health(): Promise<HealthAnswer> {
    return { id: this.id, state: this.state, configs: await this.#configViews(), auth: this.#auth };
  }

  async pause(rollout: string): Promise<PauseAnswer> {
    const held = await this.#mutex.run(PAUSE_KEY, () => this.#holds.add(rollout));
    if (!held)
      this.#logger.warn({ drone: this.id, rollout }, 'ignored a late pause: this rollout already resumed this drone');
    return { state: this.state, configs: await this.#configViews() };
  }

  async resume(rollout: string, all: boolean): Promise<ResumeAnswer> {
    await this.#mutex.run(PAUSE_KEY, async () => {
      if (!all) return this.#holds.remove(rollout);
      if (this.#holds.paused)
        this.#logger.warn(
          { drone: this.id, rollout, cleared: this.#holds.holders },
          'every pause hold cleared by hand',
        );
      return this.#holds.clear();
    });
    return { state: this.state };
  }

  async push(file: string, request: PushRequest): Promise<PushAnswer> {
    const sha256 = sha256Hex(request.content);
    if (sha256 !== request.sha256.toLowerCase()) {
      throw new WireError(
        'checksum_mismatch',
        `checksum mismatch for ${file}: the content's sha256 is ${sha256}, the request says ${request.sha256}; send the sha256 of the exact UTF-8 bytes pushed`,
      );
    }
    return this.#underLocalLock(file, request.rollout, request.fence, async (meta) => {
      if (
        meta?.current?.sha256 === sha256 &&
        meta.installedBy?.action === 'push' &&
        meta.installedBy.rollout === request.rollout
      ) {
        if (meta.installedBy.fence !== request.fence) {
          // The same rollout resumed under a new lease re-pushes what it already installed: keep the
          // version it replaced as the one to roll back to, and only move the fence up.
          const next: ConfigMeta = {
            ...meta,
            installedBy: { ...meta.installedBy, fence: request.fence },
            highestFence: request.fence,
            fenceOwner: request.rollout,
          };
          await this.#writing(file, () => this.#configs.commit(file, next, request.content));
        }
        // Otherwise an HTTP client's retry of a push that already landed: answer exactly as the first time.
        return { version: meta.current.version, sha256, previous: meta.previous, seq: this.#installSeq(file) };
      }
      this.#beforePushWrite?.(file);
      const previous = await this.#writing(file, async () => {
        const kept = await this.#configs.keepForRollback(file);
        const next: ConfigMeta = {
          current: { version: request.version, sha256 },
          installedBy: { rollout: request.rollout, fence: request.fence, action: 'push' },
          previous: kept,
          highestFence: request.fence,
          fenceOwner: request.rollout,
          retired: meta?.retired ?? null,
        };
        await this.#configs.commit(file, next, request.content);
        return kept;
      });
      const seq = this.#installed(file, { sha256, content: request.content });
      this.#logger.info(
        {
          drone: this.id,
          file,
          rollout: request.rollout,
          fence: request.fence,
          version: request.version,
          previous: previous?.version ?? null,
          seq,
        },
        `installed ${file} ${request.version}`,
      );
      return { version: request.version, sha256, previous, seq };
    });
  }

  /** Restores what this rollout's push replaced; anything else is a no-op, so a retried rollback is harmless. */
  async rollback(file: string, request: RollbackRequest): Promise<RollbackAnswer> {
    if (this.#configs.get(file) === undefined) throw unknownConfig(this.id, file);
    return this.#underLocalLock(file, request.rollout, request.fence, async (meta) => {
      const current = meta?.current ?? null;
      if (meta === undefined || meta.installedBy?.action !== 'push' || meta.installedBy.rollout !== request.rollout) {
        // Nothing to restore, so the drone's bar stays where it was; but this rollout has moved on to
        // rolling back, so a push of its own with an older fence that lands late (an HTTP retry, a
        // request held in a network) must not install what it just rolled back.
        await this.#writing(file, () => this.#configs.retire(file, request.rollout, request.fence));
        return {
          version: current?.version ?? null,
          sha256: current?.sha256 ?? null,
          restored: false,
          seq: this.#installSeq(file),
        };
      }
      const previous = meta.previous;
      const content = previous === null ? null : await this.#configs.readKept(file, previous);
      const next: ConfigMeta = {
        current: previous,
        installedBy: { rollout: request.rollout, fence: request.fence, action: 'rollback' },
        previous: null,
        highestFence: request.fence,
        fenceOwner: request.rollout,
        retired: meta.retired,
      };
      await this.#writing(file, () => this.#configs.commit(file, next, content));
      const seq = this.#installed(
        file,
        previous === null || content === null ? null : { sha256: previous.sha256, content },
      );
      this.#logger.info(
        {
          drone: this.id,
          file,
          rollout: request.rollout,
          fence: request.fence,
          from: current?.version ?? null,
          to: previous?.version ?? null,
          seq,
        },
        `rolled ${file} back to ${previous?.version ?? 'no file'}`,
      );
      return { version: previous?.version ?? null, sha256: previous?.sha256 ?? null, restored: true, seq };
    });
  }

  async telemetry(since: number): Promise<TelemetryView> {
    const now = this.#now();
    const page = this.#telemetry.read(since, now);
    return { ...page, now, state: this.state, configs: await this.#configViews() };
  }

  /** The latest telemetry sample, undefined before the first: what `GET /metrics` exposes. */
  latestSample(): TelemetrySample | undefined {
    return latestSample(this.#telemetry, this.#now());
  }

  async locks(): Promise<LocksAnswer> {
    const locks = (await this.#locks.list()).map(lockView);
    const fences = Object.fromEntries(this.#configs.all().map(([file, entry]) => [file, entry.meta.highestFence]));
    return { locks, fences };
  }

  /** One pass of the lock collector; answers how many live locks remain. */
  async collectStaleLocks(): Promise<number> {
    return (await this.#locks.reclaimStale()).live;
  }

  /**
   * The write discipline: one request per file at a time in this process, the local lock file taken
   * (or 409 when a live foreign owner holds it), the fence checked, and the lock released whatever
   * happens.
   */
  async #underLocalLock<T>(
    file: string,
    rollout: string,
    fence: number,
    write: (meta: ConfigMeta | undefined) => Promise<T>,
  ): Promise<T> {
    return this.#mutex.run(file, async () => {
      const outcome = await this.#locks.acquire(file, rollout, fence);
      if (!outcome.acquired) {
        this.#logger.warn(
          { drone: this.id, file, rollout, holder: outcome.holder.owner },
          `refused a write to ${file}: its local lock is held`,
        );
        throw lockMismatch(file, outcome.holder.owner);
      }
      try {
        const meta = this.#configs.get(file)?.meta;
        try {
          assertFreshFence(file, rollout, fence, meta);
        } catch (error) {
          this.#logger.warn(
            { drone: this.id, file, rollout, fence, highestFence: meta?.highestFence ?? 0 },
            `refused a write to ${file}: stale fence`,
          );
          throw error;
        }
        return await write(meta);
      } finally {
        await this.#locks.release(file, outcome.token);
      }
    });
  }

  /** The config changed on disk (null: removed): telemetry follows it from the seq this answers. */
  #installed(file: string, config: ConfigContent | null): number {
    const seq = this.#telemetry.configChanged(file, config, this.#now());
    this.#installSeqs.set(file, seq);
    return seq;
  }

  /** The first seq under the file's current content: known if this process installed it, else the next one. */
  #installSeq(file: string): number {
    return this.#installSeqs.get(file) ?? this.#telemetry.nextSeq(this.#now());
  }

  /** Disk failures become the 500 a fleet client understands; refusals pass through as they are. */
  async #writing<T>(file: string, task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      if (error instanceof WireError) throw error;
      this.#logger.error({ drone: this.id, file, err: error }, `could not write ${file}`);
      throw new WireError(
        'config_write_failed',
        `could not write ${file} on ${this.id}: ${(error as Error).message}; check the drone's disk (space, permissions) and retry`,
      );
    }
  }

  async #configViews(): Promise<Record<string, ConfigState>> {
    const hot = new Set((await this.#locks.list()).filter(isForeignHold).map((status) => status.record.file));
    const views: Record<string, ConfigState> = {};
    for (const { file, current, entry } of this.#configs.live()) {
      views[file] = {
        version: current.version,
        sha256: current.sha256,
        lock: hot.has(file) ? 'HOT' : 'free',
        fence: entry.meta.highestFence,
      };
    }
    return views;
  }
}

/** HOT: a live owner other than one of our own writes in progress. */
function isForeignHold(status: LocalLockStatus): boolean {
  return status.state === 'held' && !status.ours;
}

function lockView(status: LocalLockStatus): LockView {
  const { record } = status;
  return {
    file: record.file,
    owner: record.owner,
    fence: record.fence,
    acquired: new Date(record.acquired).toISOString(),
    heartbeat: new Date(record.heartbeat).toISOString(),
    state: status.state,
    ...(status.staleReason === undefined ? {} : { reason: status.staleReason }),
  };
}

function unknownConfig(droneId: string, file: string): WireError {
  return new WireError(
    'unknown_config',
    `${droneId} has no config named ${file}; check the file name (GET /v1/health lists the drone's configs)`,
  );
}
