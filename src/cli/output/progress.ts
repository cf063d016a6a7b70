import { count } from '../../wording.js';
import type { VerdictRecord } from '../../rollout/machine-types.js';
import type { RolloutObserver } from '../../rollout/context.js';

export interface ProgressOptions {
  readonly stream: { write(text: string): unknown };
  /** Update one line in place (a terminal), or print plain lines (CI, pipes, files). */
  readonly live: boolean;
}

/**
 * Human progress for `rollout run`: the stage, and drones done / total. On a terminal one line is
 * redrawn; otherwise a line per stage and per quarter of a fleet operation, so CI logs stay short.
 */
export class ProgressDisplay implements RolloutObserver {
  readonly #stream: { write(text: string): unknown };
  readonly #live: boolean;
  #lastQuarter = new Map<string, number>();
  #lastDraw = 0;

  constructor(options: ProgressOptions) {
    this.#stream = options.stream;
    this.#live = options.live;
  }

  stage(label: string): void {
    this.#lastQuarter.clear();
    this.#line(label, true);
  }

  progress(stage: string, done: number, total: number): void {
    const text = `  ${stage}: ${done}/${count(total, 'drone')}`;
    if (this.#live) {
      const now = Date.now();
      if (done === total || now - this.#lastDraw > 80) this.#line(text, false);
      this.#lastDraw = now;
      return;
    }
    // Plain output: one line per quarter done, so a 10,000-drone wave is four lines in a CI log.
    const quarter = Math.floor((done / total) * 4);
    if (quarter > (this.#lastQuarter.get(stage) ?? 0) || (done === total && !this.#lastQuarter.has(stage))) {
      this.#lastQuarter.set(stage, quarter);
      this.#line(text, true);
    }
  }

  verdict(record: VerdictRecord, intervals: number): void {
    this.#line(
      `  ${record.step} interval ${record.interval}/${intervals}: ${record.verdict} (${record.summary})`,
      true,
    );
  }

  note(text: string): void {
    this.#line(text, true);
  }

  /** Ends the live line so what follows starts on a fresh one. */
  finish(): void {
    if (this.#live) this.#stream.write('\n');
  }

  #line(text: string, keep: boolean): void {
    if (this.#live) {
      this.#stream.write(`\r\x1b[K${text}${keep ? '\n' : ''}`);
    } else {
      this.#stream.write(`${text}\n`);
    }
  }
}
