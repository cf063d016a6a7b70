import type { FleetCensus } from './memory-drones.js';
import { CONFIGS_PREFIX, isHotAnswer, PATHS, ROLLBACK_SUFFIX } from '../protocol/v1.js';

/** What a drone request does, as the simulator's counters tell them apart. */
export type SimRequestKind = 'push' | 'rollback' | 'resume' | 'other';

/** `path` is below the drone's base URL, e.g. `/v1/configs/aim_lock_config.conf`. */
export function simRequestKind(method: string, path: string): SimRequestKind {
  if (path.startsWith(CONFIGS_PREFIX)) {
    if (method === 'PUT') return 'push';
    if (method === 'POST' && path.endsWith(ROLLBACK_SUFFIX)) return 'rollback';
  }
  if (method === 'POST' && path === PATHS.resume) return 'resume';
  return 'other';
}

/**
 * The body of `GET /sim/stats` on the simulator's root: what its drones saw of a rollout, so a bench can
 * count the blast radius of an abort from the drones' side rather than from the orchestrator's log.
 * Times are epoch milliseconds on the simulator's clock (Date.now unless injected).
 */
export interface SimStatsView {
  /** Push requests (`PUT /v1/configs/<file>`) to any drone, counted as they arrive, before they are handled. */
  readonly pushes: number;
  /**
   * The first push answered 409 `lock_mismatch` HOT (the answer the orchestrator stops on): which drone,
   * and when the simulator sent that answer. Null until one is sent.
   */
  readonly firstHotAnswer: { readonly drone: string; readonly t: number } | null;
  /** Pushes that arrived after the first HOT answer was sent: what started after the HOT news was out. */
  readonly pushesAfterFirstHot: number;
  /** Rollback requests (`POST /v1/configs/<file>/rollback`), counted as they arrive. */
  readonly rollbacks: number;
  /** Resume requests (`POST /v1/resume`), counted as they arrive. */
  readonly resumes: number;
  /** When the latest answer to a rollback or a resume was sent: the fleet's cleanup as the drones saw it end. Null until one is. */
  readonly lastCleanupAnswerT: number | null;
  /** An in-memory fleet only (`--in-memory`): how many drones are paused, and how many run each version. */
  readonly fleet?: FleetCensus;
}

/** The counters behind `/sim/stats`: a handful of numbers, whatever the fleet's size or traffic. */
export class SimStats {
  readonly #now: () => number;
  #pushes = 0;
  #rollbacks = 0;
  #resumes = 0;
  #firstHotAnswer: { readonly drone: string; readonly t: number } | null = null;
  /** `#pushes` when the first HOT answer was sent. */
  #pushesAtFirstHot = 0;
  #lastCleanupAnswerT: number | null = null;

  constructor(now: () => number) {
    this.#now = now;
  }

  arrived(kind: SimRequestKind): void {
    if (kind === 'push') this.#pushes += 1;
    else if (kind === 'rollback') this.#rollbacks += 1;
    else if (kind === 'resume') this.#resumes += 1;
  }

  answered(kind: SimRequestKind, drone: string, status: number, body: unknown): void {
    if (kind === 'push') {
      if (this.#firstHotAnswer === null && isHotAnswer(status, body)) {
        this.#firstHotAnswer = { drone, t: this.#now() };
        this.#pushesAtFirstHot = this.#pushes;
      }
    } else if (kind === 'rollback' || kind === 'resume') {
      this.#lastCleanupAnswerT = this.#now();
    }
  }

  view(): SimStatsView {
    return {
      pushes: this.#pushes,
      firstHotAnswer: this.#firstHotAnswer,
      pushesAfterFirstHot: this.#firstHotAnswer === null ? 0 : this.#pushes - this.#pushesAtFirstHot,
      rollbacks: this.#rollbacks,
      resumes: this.#resumes,
      lastCleanupAnswerT: this.#lastCleanupAnswerT,
    };
  }
}
