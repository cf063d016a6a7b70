/**
 * The longest the timer sleeps before it looks at the clock again. Deadlines are times on the drone's
 * wall clock, timers count elapsed time: a clock set forward (NTP after a boot without a real-time
 * clock) brings a deadline closer than the timer knows, so it checks again at least this often.
 */
const RECHECK_MS = 30_000;

/**
 * One timer at the earliest of some deadlines (epoch ms on the agent's clock), which never keeps the
 * process alive. Whoever owns the deadlines calls `schedule` whenever they change; `close` stops the
 * timer for good.
 */
export class DeadlineTimer {
  readonly #now: () => number;
  readonly #fire: () => void;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** `fire` runs at the deadline; it must not throw, and should schedule the next deadline. */
  constructor(now: () => number, fire: () => void) {
    this.#now = now;
    this.#fire = fire;
  }

  /** Fires at `deadline` (at once if it has passed), replacing any earlier schedule; undefined: never. */
  schedule(deadline: number | undefined): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (deadline === undefined || this.#closed) return;
    const delay = Math.min(RECHECK_MS, Math.max(0, deadline - this.#now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#now() < deadline) this.schedule(deadline);
      else this.#fire();
    }, delay);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
