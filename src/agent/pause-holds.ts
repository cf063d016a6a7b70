import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from './atomic-file.js';

/**
 * The rollouts that asked a drone to pause. A drone is paused while any of them still holds it, so
 * two overlapping rollouts cannot resume each other's pause; the set lives in `<dir>/.agent/pause.json`
 * so an agent restart does not silently un-pause a drone mid-rollout.
 */
export class PauseHolds {
  readonly #path: string;
  #holds: ReadonlySet<string>;

  private constructor(path: string, holds: ReadonlySet<string>) {
    this.#path = path;
    this.#holds = holds;
  }

  static async load(dir: string): Promise<PauseHolds> {
    const path = join(dir, '.agent', 'pause.json');
    const saved = (await readJsonFile(path)) as { holds?: unknown } | undefined;
    if (saved !== undefined && !(Array.isArray(saved.holds) && saved.holds.every((hold) => typeof hold === 'string'))) {
      throw new Error(`${path} is damaged: expected {"holds": [rollout ids]}; fix or delete it (deleting resumes the drone)`);
    }
    return new PauseHolds(path, new Set(saved?.holds as string[] | undefined));
  }

  get paused(): boolean {
    return this.#holds.size > 0;
  }

  get holders(): readonly string[] {
    return [...this.#holds].sort();
  }

  async add(rollout: string): Promise<void> {
    if (this.#holds.has(rollout)) return;
    await this.#save(new Set([...this.#holds, rollout]));
  }

  async remove(rollout: string): Promise<void> {
    if (!this.#holds.has(rollout)) return;
    await this.#save(new Set([...this.#holds].filter((hold) => hold !== rollout)));
  }

  async clear(): Promise<void> {
    if (this.#holds.size === 0) return;
    await this.#save(new Set());
  }

  /** Disk first: if the write fails, memory still matches what a restart would load. */
  async #save(holds: ReadonlySet<string>): Promise<void> {
    await writeJsonAtomic(this.#path, { holds: [...holds].sort() });
    this.#holds = holds;
  }
}
