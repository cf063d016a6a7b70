import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from './agent-files.js';

/** How many rollouts that resumed this drone are remembered, newest kept. */
const RELEASED_KEPT = 64;

/**
 * The rollouts that asked a drone to pause. A drone is paused while any of them still holds it, so
 * two overlapping rollouts cannot resume each other's pause; the set lives in `<dir>/.agent/pause.json`
 * so an agent restart does not silently un-pause a drone mid-rollout.
 *
 * It also remembers the latest rollouts that resumed it: a pause from one of those arrives late (a
 * request of a killed process, delivered after its resumed successor already resumed the fleet) and
 * must not pause the drone again, since nobody would ever resume it.
 */
export class PauseHolds {
  readonly #path: string;
  #holds: ReadonlySet<string>;
  #released: readonly string[];

  private constructor(path: string, holds: ReadonlySet<string>, released: readonly string[]) {
    this.#path = path;
    this.#holds = holds;
    this.#released = released;
  }

  static async load(dir: string): Promise<PauseHolds> {
    const path = join(dir, '.agent', 'pause.json');
    const saved = (await readJsonFile(path)) as { holds?: unknown; released?: unknown } | undefined;
    const isIds = (value: unknown): value is string[] =>
      Array.isArray(value) && value.every((id) => typeof id === 'string');
    if (saved !== undefined && !(isIds(saved.holds) && (saved.released === undefined || isIds(saved.released)))) {
      throw new Error(
        `${path} is damaged: expected {"holds": [rollout ids], "released": [rollout ids]}; fix or delete it (deleting resumes the drone)`,
      );
    }
    return new PauseHolds(
      path,
      new Set(saved?.holds as string[] | undefined),
      (saved?.released as string[] | undefined) ?? [],
    );
  }

  get paused(): boolean {
    return this.#holds.size > 0;
  }

  get holders(): readonly string[] {
    return [...this.#holds].sort();
  }

  /** Adds the rollout's hold; answers false (and holds nothing) if that rollout already resumed this drone. */
  async add(rollout: string): Promise<boolean> {
    if (this.#released.includes(rollout)) return false;
    if (!this.#holds.has(rollout)) await this.#save(new Set([...this.#holds, rollout]), this.#released);
    return true;
  }

  async remove(rollout: string): Promise<void> {
    if (!this.#holds.has(rollout) && this.#released.includes(rollout)) return;
    const released = [...this.#released.filter((id) => id !== rollout), rollout].slice(-RELEASED_KEPT);
    await this.#save(new Set([...this.#holds].filter((hold) => hold !== rollout)), released);
  }

  async clear(): Promise<void> {
    if (this.#holds.size === 0) return;
    await this.#save(new Set(), this.#released);
  }

  /** Disk first: if the write fails, memory still matches what a restart would load. */
  async #save(holds: ReadonlySet<string>, released: readonly string[]): Promise<void> {
    await writeJsonAtomic(this.#path, { holds: [...holds].sort(), released });
    this.#holds = holds;
    this.#released = released;
  }
}
