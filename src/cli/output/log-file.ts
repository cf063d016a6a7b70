import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DestinationStream } from 'pino';

/**
 * A rollout's NDJSON log file that never throws and never emits an error: the log is a record of the
 * run, not part of it, so a full disk, a read-only mount or a removed dir stops the file (said once,
 * through `warn`) and the rollout goes on. Writes are synchronous, so what was logged before a crash is
 * on disk.
 */
export class LogFile implements DestinationStream {
  readonly #path: string;
  readonly #warn: (text: string) => void;
  #fd: number | null = null;

  constructor(path: string, warn: (text: string) => void) {
    this.#path = path;
    this.#warn = warn;
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.#fd = openSync(path, 'a');
    } catch (error) {
      this.#stop(error);
    }
  }

  write(line: string): void {
    if (this.#fd === null) return;
    try {
      const bytes = Buffer.from(line);
      for (let written = 0; written < bytes.length;) written += writeSync(this.#fd, bytes, written);
    } catch (error) {
      this.#stop(error);
    }
  }

  #stop(error: unknown): void {
    if (this.#fd !== null) {
      try {
        closeSync(this.#fd);
      } catch {
        // Already failing: the warning below says what matters.
      }
      this.#fd = null;
    }
    const why = error instanceof Error ? error.message : String(error);
    this.#warn(`warning: the log file ${this.#path} cannot be written (${why}); logging to it stopped\n`);
  }
}
