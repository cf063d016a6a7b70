import type { Logger } from 'pino';
import type { DroneAgent } from './drone-agent.js';

export interface LockCollectorOptions {
  /** How often to sweep; a third of the lock TTL, so a stale lock never outlives its TTL by much. */
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Runs first in every sweep; the simulator refreshes the heartbeats of its planted HOT locks here. */
  readonly beforeSweep?: () => Promise<void>;
}

/**
 * Reclaims stale local locks on an interval: ONE timer per server, however many drones it serves.
 * It only visits drones known to have lock files (they report themselves when one appears), so a
 * sweep of an idle 10,000-drone fleet costs nothing; a drone whose lock files are all gone drops out.
 */
export class LockCollector {
  readonly #options: LockCollectorOptions;
  readonly #watched = new Set<DroneAgent>();
  /** Swept every time, lock files or not: a real agent's dir can gain locks from other processes. */
  readonly #pinned = new Set<DroneAgent>();
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(options: LockCollectorOptions) {
    this.#options = options;
  }

  watch(agent: DroneAgent): void {
    this.#watched.add(agent);
  }

  pin(agent: DroneAgent): void {
    this.#pinned.add(agent);
    this.#watched.add(agent);
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.sweep(), this.#options.intervalMs);
    // A collector must never be what keeps a process alive.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }

  /** One pass; a pass still running when the timer fires again is joined, not doubled. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#run().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #run(): Promise<void> {
    try {
      await this.#options.beforeSweep?.();
    } catch (error) {
      this.#options.logger.error({ err: error }, 'lock collector: the pre-sweep step failed');
    }
    for (const agent of [...this.#watched]) {
      try {
        const live = await agent.collectStaleLocks();
        if (live === 0 && !this.#pinned.has(agent)) this.#watched.delete(agent);
      } catch (error) {
        this.#options.logger.error(
          { err: error, drone: agent.id },
          'lock collector: could not sweep this drone; will retry next interval',
        );
      }
    }
  }
}
