import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigStore, type ConfigSeed } from './config-store.js';
import { trialFields } from './config-trials.js';
import { ConfigWrites } from './config-writes.js';
import { DeadlineTimer } from './deadline-timer.js';
import {
  AGENT_FEATURES,
  type AuthMode,
  type ConfigState,
  type ConfirmAnswer,
  type ConfirmRequest,
  type DroneState,
  type HealthAnswer,
  type LocksAnswer,
  type LockView,
  type OperationalView,
  type PauseAnswer,
  type PushAnswer,
  type PushRequest,
  type ResumeAnswer,
  type RollbackAnswer,
  type RollbackRequest,
  type TelemetryAnswer,
  type TelemetrySample,
} from '../protocol/v1.js';
import { trustedKey, verifyPush, type TrustedKey } from '../protocol/push-signature.js';
import { WireError } from '../protocol/wire-errors.js';
import { KeyedQueue } from '../infra/keyed-queue.js';
import { LocalLocks, type LocalLockStatus } from './local-lock.js';
import type { OperationalSource } from './operational-source.js';
import { removeInterruptedWrites } from './orphan-sweep.js';
import { PauseHolds } from './pause-holds.js';
import {
  latestSample,
  type ConfigContent,
  type TelemetryClock,
  type TelemetrySource,
  type TelemetrySourceFactory,
} from './telemetry-source.js';

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
  /**
   * Where the vehicle's operational state comes from; health and pause answers carry it, read afresh
   * each time. Without one the agent has no `operational_state` feature and its answers no `operational`.
   */
  readonly operational?: OperationalSource;
  /**
   * Ed25519 public keys a push must be signed by (`rollout agent --trust-key`; several during a key
   * rotation). With any, a push without a valid signature by one of them is 403 `bad_signature`, checked
   * before anything else about it (checksum, local lock, fence), so it changes nothing and is never HOT;
   * health lists the `signed_config` feature. A rollback or a confirm needs no signature: it acts only on
   * configs the drone verified when they were pushed. A key that is not an Ed25519 public key is a
   * TypeError. @default none: unsigned pushes are accepted
   */
  readonly trustedKeys?: readonly KeyObject[];
}

/** The answer of `GET /v1/telemetry`: the source's page, the drone's clock, state and configs. */
export type TelemetryView = Omit<TelemetryAnswer, 'samples'> & { readonly samples: readonly TelemetrySample[] };

/** Pause and resume run one at a time. */
const PAUSE_KEY = 'pause';

/**
 * One drone: its configs, local locks, pause holds and telemetry, behind the operations of the
 * protocol. The writes to its configs (and trials that revert) are `ConfigWrites`.
 */
export class DroneAgent {
  readonly id: string;
  readonly #configs: ConfigStore;
  readonly #writes: ConfigWrites;
  readonly #holds: PauseHolds;
  readonly #locks: LocalLocks;
  readonly #telemetry: TelemetrySource;
  readonly #mutex = new KeyedQueue();
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #auth: AuthMode;
  readonly #operational: OperationalSource | undefined;
  readonly #features: readonly string[];
  readonly #trustedKeys: readonly TrustedKey[];
  /** Fires at the next pause hold's deadline. */
  readonly #lapseTimer: DeadlineTimer;

  private constructor(
    options: DroneAgentOptions,
    configs: ConfigStore,
    holds: PauseHolds,
    locks: LocalLocks,
    telemetry: TelemetrySource,
    trustedKeys: readonly TrustedKey[],
  ) {
    this.id = options.id;
    this.#configs = configs;
    this.#holds = holds;
    this.#locks = locks;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#auth = options.auth ?? 'none';
    this.#operational = options.operational;
    this.#trustedKeys = trustedKeys;
    this.#features = [
      ...AGENT_FEATURES.filter(
        (feature) =>
          (feature !== 'operational_state' || options.operational !== undefined) &&
          (feature !== 'signed_config' || trustedKeys.length > 0),
      ),
    ];
    this.#telemetry = telemetry;
    this.#writes = new ConfigWrites({
      droneId: options.id,
      configs,
      locks,
      telemetry,
      now: options.now,
      logger: options.logger,
      beforePushWrite: options.beforePushWrite,
    });
    this.#lapseTimer = new DeadlineTimer(options.now, () => {
      this.#lapseDue().catch((error: unknown) =>
        this.#logger.error(
          { drone: this.id, err: error },
          'recording lapsed pause holds failed; retried at the next pause or restart',
        ),
      );
    });
  }

  /**
   * Loads the drone from its dir and cleans up after a crash: temp files of interrupted writes, kept
   * contents nothing refers to, and the stale local locks a crashed writer left behind.
   */
  static async open(options: DroneAgentOptions): Promise<DroneAgent> {
    // A key the agent cannot use fails before anything on disk is touched.
    const trustedKeys = (options.trustedKeys ?? []).map(trustedKey);
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
    const agent = new DroneAgent(options, configs, holds, locks, telemetry, trustedKeys);
    await locks.reclaimStale();
    // Deadlines passed while the agent was down lapse now, and say so; so do trials.
    await agent.#lapseDue();
    await agent.#writes.revertDue();
    return agent;
  }

  /** Paused while a hold holds; a hold past its deadline no longer does, even before `#lapseDue` removes it. */
  get state(): DroneState {
    return this.#holds.pausedAt(this.#now()) ? 'paused' : 'active';
  }

  async health(): Promise<HealthAnswer> {
    return {
      id: this.id,
      state: this.state,
      configs: await this.#configViews(),
      auth: this.#auth,
      features: [...this.#features],
      ...this.#holdViews(),
      ...(await this.#operationalView()),
    };
  }

  /** Adds or renews the rollout's hold; with `holdMs` it lapses unless renewed within that long. */
  async pause(rollout: string, holdMs?: number): Promise<PauseAnswer> {
    const held = await this.#mutex.run(PAUSE_KEY, () => this.#holds.add(rollout, this.#now(), holdMs));
    if (!held)
      this.#logger.warn({ drone: this.id, rollout }, 'ignored a late pause: this rollout already resumed this drone');
    this.#scheduleLapse();
    return {
      state: this.state,
      configs: await this.#configViews(),
      ...this.#holdViews(),
      ...(await this.#operationalView()),
    };
  }

  async resume(rollout: string, all: boolean): Promise<ResumeAnswer> {
    await this.#mutex.run(PAUSE_KEY, async () => {
      if (!all) return this.#holds.remove(rollout);
      if (this.#holds.holds.length > 0)
        this.#logger.warn(
          { drone: this.id, rollout, cleared: this.#holds.holders },
          'every pause hold cleared by hand',
        );
      return this.#holds.clear();
    });
    this.#scheduleLapse();
    return { state: this.state };
  }

  /** Stops the timers; holds and trials stay on disk with their deadlines. */
  close(): void {
    this.#lapseTimer.close();
    this.#writes.close();
  }

  #holdViews(): Pick<PauseAnswer, 'holds' | 'lapsed'> {
    const now = this.#now();
    return {
      holds: this.#holds.holds
        .filter((hold) => hold.until === null || hold.until > now)
        .map((hold) => ({ rollout: hold.rollout, expiresInMs: hold.until === null ? null : hold.until - now })),
      lapsed: [...this.#holds.lapsedAt(now)],
    };
  }

  /** The vehicle's state for an answer; a source that throws makes it an error, not the request. */
  async #operationalView(): Promise<{ operational?: OperationalView }> {
    if (this.#operational === undefined) return {};
    try {
      return { operational: await this.#operational.read() };
    } catch (error) {
      return {
        operational: {
          error: `reading the operational state failed: ${error instanceof Error ? error.message : String(error)}`,
        },
      };
    }
  }

  /** Wakes at the next hold's deadline to remove what lapsed and say so in the log. */
  #scheduleLapse(): void {
    this.#lapseTimer.schedule(this.#holds.nextDeadline);
  }

  async #lapseDue(): Promise<void> {
    const lapsed = await this.#mutex.run(PAUSE_KEY, () => this.#holds.lapse(this.#now()));
    for (const hold of lapsed) {
      this.#logger.warn(
        { drone: this.id, rollout: hold.rollout, state: this.state },
        this.state === 'active'
          ? `the pause hold of rollout ${hold.rollout} lapsed unrenewed (its orchestrator stopped renewing it): resumed by itself`
          : `the pause hold of rollout ${hold.rollout} lapsed unrenewed; other holds keep the drone paused`,
      );
    }
    this.#scheduleLapse();
  }

  /** A drone with trusted keys first checks the push's signature: a refused push has touched nothing. */
  async push(file: string, request: PushRequest): Promise<PushAnswer> {
    this.#checkSignature(file, request);
    return this.#writes.push(file, request);
  }

  #checkSignature(file: string, request: PushRequest): void {
    if (this.#trustedKeys.length === 0) return;
    const check = verifyPush(this.#trustedKeys, { file, ...request }, request.signature);
    if (check.ok) return;
    this.#logger.warn(
      {
        drone: this.id,
        file,
        rollout: request.rollout,
        fence: request.fence,
        version: request.version,
        keyId: request.signature?.keyId ?? null,
      },
      `refused a push of ${file}: ${check.problem}`,
    );
    throw new WireError('bad_signature', check.problem);
  }

  /** Restores what this rollout's push replaced; anything else is a no-op, so a retried rollback is harmless. */
  async rollback(file: string, request: RollbackRequest): Promise<RollbackAnswer> {
    return this.#writes.rollback(file, request);
  }

  /** Keeps the config this rollout pushed on trial: the drone no longer reverts it. */
  async confirm(file: string, request: ConfirmRequest): Promise<ConfirmAnswer> {
    return this.#writes.confirm(file, request);
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

  async #configViews(): Promise<Record<string, ConfigState>> {
    const hot = new Set((await this.#locks.list()).filter(isForeignHold).map((status) => status.record.file));
    const now = this.#now();
    const views: Record<string, ConfigState> = {};
    for (const { file, current, entry } of this.#configs.live()) {
      views[file] = {
        version: current.version,
        sha256: current.sha256,
        lock: hot.has(file) ? 'HOT' : 'free',
        fence: entry.meta.highestFence,
        ...trialFields(entry.meta, now),
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
