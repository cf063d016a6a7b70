import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from './agent-files.js';

/** How many rollouts that resumed this drone are remembered, newest kept. */
const RELEASED_KEPT = 64;
/** How many holds that lapsed are remembered (and reported), newest kept. */
const LAPSED_KEPT = 16;

/** One rollout's hold on the drone; `until` is epoch ms on the drone's clock, null for a hold that never lapses. */
export interface PauseHold {
  readonly rollout: string;
  readonly until: number | null;
}

/** A hold that ran out without being renewed or released: its rollout stopped renewing it (it died). */
export interface LapsedHold {
  readonly rollout: string;
  /** When it lapsed: epoch ms on the drone's clock. */
  readonly at: number;
}

interface Saved {
  readonly holds: readonly PauseHold[];
  readonly released: readonly string[];
  readonly lapsed: readonly LapsedHold[];
}

/**
 * The rollouts that asked a drone to pause. A drone is paused while any of them still holds it, so
 * two overlapping rollouts cannot resume each other's pause; the set lives in `<dir>/.agent/pause.json`
 * so an agent restart does not silently un-pause a drone mid-rollout.
 *
 * A hold given with a hold time lapses unless its rollout renews it (by pausing again) in time: a
 * drone whose holds have all lapsed is active again by itself, with nobody to resume it. Deadlines are
 * kept on disk as times on the drone's clock, so they survive an agent restart. A hold without a hold
 * time (an orchestrator that predates them) never lapses.
 *
 * It also remembers the latest rollouts that resumed it: a pause from one of those arrives late (a
 * request of a killed process, delivered after its resumed successor already resumed the fleet) and
 * must not pause the drone again, since nobody would ever resume it. A lapsed hold is not such a
 * release: its rollout, resumed by `rollout resume`, may pause the drone again.
 */
export class PauseHolds {
  readonly #path: string;
  #saved: Saved;

  private constructor(path: string, saved: Saved) {
    this.#path = path;
    this.#saved = saved;
  }

  static async load(dir: string): Promise<PauseHolds> {
    const path = join(dir, '.agent', 'pause.json');
    const saved = parseSaved(await readJsonFile(path));
    if (saved === 'damaged') {
      throw new Error(
        `${path} is damaged: expected {"holds": [{"rollout", "until"}], "released": [rollout ids], "lapsed": [{"rollout", "at"}]}; fix or delete it (deleting resumes the drone)`,
      );
    }
    return new PauseHolds(path, saved);
  }

  /** Whether a hold still holds at `now`: one without a deadline, or one whose deadline is ahead. */
  pausedAt(now: number): boolean {
    return this.#saved.holds.some((hold) => hold.until === null || hold.until > now);
  }

  /** Every hold, lapsed ones included until `lapse` removes them. */
  get holds(): readonly PauseHold[] {
    return this.#saved.holds;
  }

  get holders(): readonly string[] {
    return this.#saved.holds.map((hold) => hold.rollout).sort();
  }

  /**
   * The holds that lapsed by `now`, oldest first: those `lapse` recorded, and those past their deadline
   * that it has not removed yet (its timer may fire late), so that a drone that reads active names why.
   */
  lapsedAt(now: number): readonly LapsedHold[] {
    const due = this.#saved.holds.flatMap((hold) =>
      hold.until !== null && hold.until <= now ? [{ rollout: hold.rollout, at: hold.until }] : [],
    );
    return due.length === 0 ? this.#saved.lapsed : [...this.#saved.lapsed, ...due].slice(-LAPSED_KEPT);
  }

  /** The earliest deadline of a hold, or undefined when none has one. */
  get nextDeadline(): number | undefined {
    const deadlines = this.#saved.holds.flatMap((hold) => (hold.until === null ? [] : [hold.until]));
    return deadlines.length === 0 ? undefined : Math.min(...deadlines);
  }

  /**
   * Adds or renews the rollout's hold, lapsing `holdMs` after `now` (never, without `holdMs`); answers
   * false (and holds nothing) if that rollout already resumed this drone.
   */
  async add(rollout: string, now: number, holdMs: number | undefined): Promise<boolean> {
    const { holds, released } = this.#saved;
    if (released.includes(rollout)) return false;
    const until = holdMs === undefined ? null : now + holdMs;
    const kept = holds.filter((hold) => hold.rollout !== rollout);
    await this.#save({ ...this.#saved, holds: sortHolds([...kept, { rollout, until }]) });
    return true;
  }

  async remove(rollout: string): Promise<void> {
    const { holds, released } = this.#saved;
    if (!holds.some((hold) => hold.rollout === rollout) && released.includes(rollout)) return;
    await this.#save({
      ...this.#saved,
      holds: holds.filter((hold) => hold.rollout !== rollout),
      released: [...released.filter((id) => id !== rollout), rollout].slice(-RELEASED_KEPT),
    });
  }

  async clear(): Promise<void> {
    if (this.#saved.holds.length === 0) return;
    await this.#save({ ...this.#saved, holds: [] });
  }

  /** Removes the holds whose deadline has passed at `now` and remembers them as lapsed; returns them. */
  async lapse(now: number): Promise<readonly LapsedHold[]> {
    const due = this.#saved.holds.filter((hold) => hold.until !== null && hold.until <= now);
    if (due.length === 0) return [];
    const lapsed = due.map((hold) => ({ rollout: hold.rollout, at: hold.until ?? now }));
    await this.#save({
      ...this.#saved,
      holds: this.#saved.holds.filter((hold) => !due.includes(hold)),
      lapsed: [...this.#saved.lapsed, ...lapsed].slice(-LAPSED_KEPT),
    });
    return lapsed;
  }

  /** Disk first: if the write fails, memory still matches what a restart would load. */
  async #save(next: Saved): Promise<void> {
    await writeJsonAtomic(this.#path, next);
    this.#saved = next;
  }
}

function sortHolds(holds: readonly PauseHold[]): PauseHold[] {
  return [...holds].sort((a, b) => a.rollout.localeCompare(b.rollout));
}

/**
 * The saved state, `'damaged'` when it is not one. A hold saved as a bare rollout id (by an agent that
 * predates hold times) is a hold that never lapses.
 */
function parseSaved(value: unknown): Saved | 'damaged' {
  if (value === undefined) return { holds: [], released: [], lapsed: [] };
  if (typeof value !== 'object' || value === null) return 'damaged';
  const { holds, released = [], lapsed = [] } = value as Record<string, unknown>;
  if (!Array.isArray(holds) || !isIds(released) || !Array.isArray(lapsed)) return 'damaged';
  const parsedHolds: PauseHold[] = [];
  for (const hold of holds as unknown[]) {
    if (typeof hold === 'string') parsedHolds.push({ rollout: hold, until: null });
    else if (isHold(hold)) parsedHolds.push({ rollout: hold.rollout, until: hold.until });
    else return 'damaged';
  }
  if (!lapsed.every(isLapsed)) return 'damaged';
  return { holds: sortHolds(parsedHolds), released, lapsed };
}

function isIds(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string');
}

function isHold(value: unknown): value is PauseHold {
  if (typeof value !== 'object' || value === null) return false;
  const { rollout, until } = value as Record<string, unknown>;
  return typeof rollout === 'string' && (until === null || (typeof until === 'number' && Number.isFinite(until)));
}

function isLapsed(value: unknown): value is LapsedHold {
  if (typeof value !== 'object' || value === null) return false;
  const { rollout, at } = value as Record<string, unknown>;
  return typeof rollout === 'string' && typeof at === 'number' && Number.isFinite(at);
}
