import type { Logger } from 'pino';
import { sha256Hex } from './checksum.js';
import type { ConfigMeta, ConfigStore } from './config-store.js';
import { dueTrials, judgeConfirm, nextTrialDeadline, revertedMeta, trialOf, trialView } from './config-trials.js';
import { DeadlineTimer } from './deadline-timer.js';
import { assertFreshFence } from './fence-rule.js';
import type { LocalLocks } from './local-lock.js';
import type { ConfigContent, TelemetrySource } from './telemetry-source.js';
import { KeyedQueue } from '../infra/keyed-queue.js';
import type {
  ConfirmAnswer,
  ConfirmRequest,
  PushAnswer,
  PushRequest,
  RollbackAnswer,
  RollbackRequest,
} from '../protocol/v1.js';
import { lockMismatch, WireError } from '../protocol/wire-errors.js';
import { formatDuration } from '../spec/duration.js';

export interface ConfigWritesOptions {
  readonly droneId: string;
  readonly configs: ConfigStore;
  readonly locks: LocalLocks;
  /** Told of every config change, so samples follow the config the drone runs. */
  readonly telemetry: TelemetrySource;
  readonly now: () => number;
  readonly logger: Logger;
  /** See `DroneAgentOptions.beforePushWrite`. */
  readonly beforePushWrite?: ((file: string) => void) | undefined;
}

/** A due trial whose file another owner holds (HOT) is tried again this much later. */
const REVERT_HOT_RETRY_MS = 1_000;
/** A due trial whose revert failed (its kept content missing, a disk fault) is tried again this much later. */
const REVERT_FAILED_RETRY_MS = 30_000;

/**
 * The writes to a drone's configs: push, rollback, confirm, and the reverts of trials nobody confirmed
 * in time. Writes to one config run one at a time, each under the drone's local lock file and its
 * fence rule; a trial's deadline is watched by one timer for every file.
 */
export class ConfigWrites {
  readonly #droneId: string;
  readonly #configs: ConfigStore;
  readonly #locks: LocalLocks;
  readonly #telemetry: TelemetrySource;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #beforePushWrite: ((file: string) => void) | undefined;
  readonly #mutex = new KeyedQueue();
  /** file → the first telemetry seq under its current content, for installs this process made. */
  readonly #installSeqs = new Map<string, number>();
  /** Fires at the next trial's deadline, or when a due trial that could not be reverted is tried again. */
  readonly #trialTimer: DeadlineTimer;
  /** Set while a due trial could not be reverted (HOT, a failed write): when to try again. */
  #revertRetryAt: number | undefined;

  constructor(options: ConfigWritesOptions) {
    this.#droneId = options.droneId;
    this.#configs = options.configs;
    this.#locks = options.locks;
    this.#telemetry = options.telemetry;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#beforePushWrite = options.beforePushWrite;
    this.#trialTimer = new DeadlineTimer(options.now, () => {
      this.revertDue().catch((error: unknown) =>
        this.#logger.error(
          { drone: this.#droneId, err: error },
          'reverting due trials failed; retried at the next write or restart',
        ),
      );
    });
  }

  async push(file: string, request: PushRequest): Promise<PushAnswer> {
    const sha256 = sha256Hex(request.content);
    if (sha256 !== request.sha256.toLowerCase()) {
      throw new WireError(
        'checksum_mismatch',
        `checksum mismatch for ${file}: the content's sha256 is ${sha256}, the request says ${request.sha256}; send the sha256 of the exact UTF-8 bytes pushed`,
      );
    }
    const answer = await this.#underLocalLock(file, request.rollout, request.fence, async (meta) => {
      if (
        meta?.current?.sha256 === sha256 &&
        meta.installedBy?.action === 'push' &&
        meta.installedBy.rollout === request.rollout
      ) {
        let trialNow = meta.trial;
        if (meta.installedBy.fence !== request.fence) {
          // The same rollout resumed under a new lease re-pushes what it already installed: keep the
          // version it replaced as the one to roll back to, and move the fence up. A trial moves to the
          // new fence and starts again: the resumed rollout bakes the step anew before it confirms.
          trialNow =
            meta.trial === null ? null : (trialOf(request, this.#now()) ?? { ...meta.trial, fence: request.fence });
          const next: ConfigMeta = {
            ...meta,
            installedBy: { ...meta.installedBy, fence: request.fence },
            highestFence: request.fence,
            fenceOwner: request.rollout,
            trial: trialNow,
          };
          await this.#writing(file, () => this.#configs.commit(file, next, request.content));
        }
        // Otherwise an HTTP client's retry of a push that already landed: answer exactly as the first time.
        // A retry neither starts nor extends a trial, and a confirmed one is not restarted.
        return {
          version: meta.current.version,
          sha256,
          previous: meta.previous,
          seq: this.#installSeq(file),
          ...trialView(trialNow, this.#now()),
        };
      }
      this.#beforePushWrite?.(file);
      const trial = trialOf(request, this.#now());
      // Another rollout's trial that nobody confirmed is not a version to go back to: what it replaced is.
      const onTrial =
        meta !== undefined && meta.trial !== null && meta.trial.rollout !== request.rollout ? meta : undefined;
      const previous = await this.#writing(file, async () => {
        const kept = onTrial === undefined ? await this.#configs.keepForRollback(file) : onTrial.previous;
        const next: ConfigMeta = {
          current: { version: request.version, sha256 },
          installedBy: { rollout: request.rollout, fence: request.fence, action: 'push' },
          previous: kept,
          highestFence: request.fence,
          fenceOwner: request.rollout,
          retired: meta?.retired ?? null,
          trial,
          reverted: null,
        };
        await this.#configs.commit(file, next, request.content);
        return kept;
      });
      const seq = this.#installed(file, { sha256, content: request.content });
      this.#logger.info(
        {
          drone: this.#droneId,
          file,
          rollout: request.rollout,
          fence: request.fence,
          version: request.version,
          previous: previous?.version ?? null,
          seq,
          ...(trial === null ? {} : { trialMs: trial.ms }),
        },
        trial === null
          ? `installed ${file} ${request.version}`
          : `installed ${file} ${request.version} on trial: reverted to ${previous?.version ?? 'no file'} unless confirmed within ${formatDuration(trial.ms)}`,
      );
      return { version: request.version, sha256, previous, seq, ...trialView(trial, this.#now()) };
    });
    this.#scheduleTrials();
    return answer;
  }

  /** Restores what this rollout's push replaced; anything else is a no-op, so a retried rollback is harmless. */
  async rollback(file: string, request: RollbackRequest): Promise<RollbackAnswer> {
    if (this.#configs.get(file) === undefined) throw unknownConfig(this.#droneId, file);
    const answer = await this.#underLocalLock(file, request.rollout, request.fence, async (meta) => {
      const current = meta?.current ?? null;
      if (meta === undefined || meta.installedBy?.action !== 'push' || meta.installedBy.rollout !== request.rollout) {
        // Nothing to restore (a trial the drone already reverted by itself included), so the drone's bar
        // stays where it was; but this rollout has moved on to rolling back, so a push of its own with an
        // older fence that lands late (an HTTP retry, a request held in a network) must not install what
        // it just rolled back.
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
        trial: null,
        reverted: null,
      };
      await this.#writing(file, () => this.#configs.commit(file, next, content));
      const seq = this.#installed(
        file,
        previous === null || content === null ? null : { sha256: previous.sha256, content },
      );
      this.#logger.info(
        {
          drone: this.#droneId,
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
    this.#scheduleTrials();
    return answer;
  }

  /**
   * Keeps the config this rollout pushed on trial: the drone no longer reverts it. Confirming a config
   * the drone keeps anyway is a no-op answering the same; one it reverted, or no longer runs, is a 409.
   */
  async confirm(file: string, request: ConfirmRequest): Promise<ConfirmAnswer> {
    if (this.#configs.get(file) === undefined) throw unknownConfig(this.#droneId, file);
    const answer = await this.#underLocalLock(file, request.rollout, request.fence, async (meta) => {
      const { action, current } = judgeConfirm(this.#droneId, file, meta, request);
      if (action === 'confirm' && meta !== undefined) {
        // A confirm acts on the config, so it raises the bar like a write.
        const next: ConfigMeta = { ...meta, trial: null, highestFence: request.fence, fenceOwner: request.rollout };
        await this.#writing(file, () => this.#configs.amend(file, next));
        this.#logger.info(
          { drone: this.#droneId, file, rollout: request.rollout, fence: request.fence, version: current.version },
          `confirmed the trial of ${file} ${current.version}: it stays`,
        );
      }
      return { version: current.version, sha256: current.sha256, confirmed: true as const };
    });
    this.#scheduleTrials();
    return answer;
  }

  /** Reverts every trial whose deadline has passed unconfirmed (on boot: while the agent was down), then schedules the next. */
  async revertDue(): Promise<void> {
    let retryInMs: number | undefined;
    for (const file of dueTrials(this.#configs.all(), this.#now())) {
      const wait = await this.#revertTrial(file);
      if (wait !== undefined) retryInMs = Math.min(wait, retryInMs ?? wait);
    }
    this.#revertRetryAt = retryInMs === undefined ? undefined : this.#now() + retryInMs;
    this.#scheduleTrials();
  }

  /** Stops the trial timer; trials stay on disk with their deadlines. */
  close(): void {
    this.#trialTimer.close();
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
    return this.#mutex.run(file, () =>
      this.#holdingLocalLock(file, rollout, fence, `refused a write to ${file}: its local lock is held`, async () => {
        // A trial past its deadline is reverted before anything else: a write never sees it as still on.
        await this.#revertIfDue(file).catch((error: unknown) => this.#revertFailed(file, error));
        const meta = this.#configs.get(file)?.meta;
        try {
          assertFreshFence(file, rollout, fence, meta);
        } catch (error) {
          this.#logger.warn(
            { drone: this.#droneId, file, rollout, fence, highestFence: meta?.highestFence ?? 0 },
            `refused a write to ${file}: stale fence`,
          );
          throw error;
        }
        return write(meta);
      }),
    );
  }

  /**
   * Runs `task` holding the drone's local lock file on `file`, released whatever happens; a live foreign
   * owner is the 409 HOT, logged as `refusal`. The caller holds the file's mutex.
   */
  async #holdingLocalLock<T>(
    file: string,
    rollout: string,
    fence: number,
    refusal: string,
    task: () => Promise<T>,
  ): Promise<T> {
    const outcome = await this.#locks.acquire(file, rollout, fence);
    if (!outcome.acquired) {
      this.#logger.warn({ drone: this.#droneId, file, rollout, holder: outcome.holder.owner }, refusal);
      throw lockMismatch(file, outcome.holder.owner);
    }
    try {
      return await task();
    } finally {
      await this.#locks.release(file, outcome.token);
    }
  }

  /**
   * Wakes at the next trial's deadline; while a due trial could not be reverted, at its retry instead
   * (or at a later trial's deadline, if sooner).
   */
  #scheduleTrials(): void {
    const retryAt = this.#revertRetryAt;
    const entries = this.#configs.all();
    if (retryAt === undefined) {
      this.#trialTimer.schedule(nextTrialDeadline(entries));
      return;
    }
    const later = nextTrialDeadline(entries, this.#now());
    this.#trialTimer.schedule(later === undefined ? retryAt : Math.min(retryAt, later));
  }

  /**
   * Reverts the trial of `file` if it is due, under the same mutex and local lock as any write (taken as
   * the trial's rollout). Answers when to try again if it could not, else undefined.
   */
  async #revertTrial(file: string): Promise<number | undefined> {
    const due = this.#configs.get(file)?.meta;
    if (due === undefined || due.trial === null) return undefined;
    const { rollout, fence } = due.trial;
    const version = due.current?.version ?? 'no file';
    try {
      await this.#mutex.run(file, () =>
        this.#holdingLocalLock(
          file,
          rollout,
          fence,
          `the trial of ${file} ${version} by rollout ${rollout} is due, but its local lock is held: tried again in ${REVERT_HOT_RETRY_MS} ms`,
          () => this.#revertIfDue(file),
        ),
      );
      return undefined;
    } catch (error) {
      if (error instanceof WireError && error.code === 'lock_mismatch') return REVERT_HOT_RETRY_MS;
      this.#revertFailed(file, error);
      return REVERT_FAILED_RETRY_MS;
    }
  }

  /**
   * Restores what the trial of `file` replaced if its deadline has passed unconfirmed, as a rollback by
   * the trial's rollout would. The caller holds the file's mutex and local lock.
   */
  async #revertIfDue(file: string): Promise<void> {
    const meta = this.#configs.get(file)?.meta;
    const trial = meta?.trial ?? null;
    // Confirmed, replaced or rolled back while this waited for the file; or not due yet.
    if (meta === undefined || trial === null || trial.until > this.#now()) return;
    const { current, previous } = meta;
    const content = previous === null ? null : await this.#configs.readKept(file, previous);
    await this.#writing(file, () => this.#configs.commit(file, revertedMeta(meta, trial, this.#now()), content));
    const seq = this.#installed(
      file,
      previous === null || content === null ? null : { sha256: previous.sha256, content },
    );
    this.#logger.warn(
      {
        drone: this.#droneId,
        file,
        rollout: trial.rollout,
        fence: trial.fence,
        from: current?.version ?? null,
        to: previous?.version ?? null,
        seq,
      },
      `the trial of ${file} ${current?.version ?? 'no file'} by rollout ${trial.rollout} was not confirmed in time: reverted to ${previous?.version ?? 'no file'} by itself`,
    );
  }

  #revertFailed(file: string, error: unknown): void {
    const trial = this.#configs.get(file)?.meta.trial;
    this.#logger.error(
      { drone: this.#droneId, file, rollout: trial?.rollout, err: error },
      `could not revert the due trial of ${file}: tried again in ${REVERT_FAILED_RETRY_MS} ms; until then the drone keeps running it`,
    );
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
      this.#logger.error({ drone: this.#droneId, file, err: error }, `could not write ${file}`);
      throw new WireError(
        'config_write_failed',
        `could not write ${file} on ${this.#droneId}: ${(error as Error).message}; check the drone's disk (space, permissions) and retry`,
      );
    }
  }
}

function unknownConfig(droneId: string, file: string): WireError {
  return new WireError(
    'unknown_config',
    `${droneId} has no config named ${file}; check the file name (GET /v1/health lists the drone's configs)`,
  );
}
