import { z } from 'zod';
import { issueText, OPERATIONAL_RULES, shownValue, type OperationalSource } from '../agent/operational-source.js';
import { MAX_MISSION_LENGTH, operationalSchema, type Operational } from '../protocol/v1.js';
import { WireError } from '../protocol/wire-errors.js';

/** Where a simulated fleet's operational states are set while it runs. */
export const SIM_OPERATIONAL_PATH = '/sim/operational';

/** What every simulated drone reports until told otherwise: on the ground, charged, on no mission. */
export const SIM_DEFAULT_OPERATIONAL: Readonly<Operational> = { flight: 'grounded', battery: 100, mission: null };

/** The operational states a simulated fleet starts with, by drone id; every other drone is on the default. */
export interface SimOperationalLists {
  /** Drones in flight. */
  readonly airborne?: readonly string[];
  /** Battery in percent (0 to 100), by drone. */
  readonly battery?: Readonly<Record<string, number>>;
  /** The mission id each drone is on, by drone. */
  readonly missions?: Readonly<Record<string, string>>;
}

/** The answer of `POST /sim/operational`: the drone's state after the change. */
export interface SimOperationalUpdate {
  readonly drone: string;
  readonly operational: Readonly<Operational>;
}

/** `POST /sim/operational`: the drone, and the members to replace; a member left out keeps its value. */
const updateSchema = z.strictObject({ drone: z.string().min(1), ...operationalSchema.partial().shape });

const UPDATE_RULES: Readonly<Record<string, string>> = {
  ...OPERATIONAL_RULES,
  drone: 'the id of a drone of this fleet, such as "drone-4"',
};

/**
 * The operational state of every drone of a simulated fleet, in memory: set at start from the lists,
 * changed while the fleet runs by `POST /sim/operational` (so a test or a demo can land a drone in the
 * middle of a rollout). A drone not opened yet reports its state once it is, since its source reads here.
 */
export class SimOperational {
  readonly #states = new Map<string, Readonly<Operational>>();
  readonly #isDrone: (id: string) => boolean;
  readonly #fleetSize: number;

  /** Throws a TypeError naming the list and the entry when an id is not a drone of the fleet or a value is out of range. */
  constructor(lists: SimOperationalLists, isDrone: (id: string) => boolean, fleetSize: number) {
    this.#isDrone = isDrone;
    this.#fleetSize = fleetSize;
    for (const id of lists.airborne ?? []) this.#set(this.#checkedId('airborne', id), { flight: 'airborne' });
    for (const [id, battery] of Object.entries(lists.battery ?? {})) {
      const drone = this.#checkedId('battery', id);
      if (!operationalSchema.shape.battery.safeParse(battery).success)
        throw new TypeError(
          `Expected \`battery\` of ${id} to be ${OPERATIONAL_RULES.battery}, got ${shownValue(battery)}`,
        );
      this.#set(drone, { battery });
    }
    for (const [id, mission] of Object.entries(lists.missions ?? {})) {
      const drone = this.#checkedId('missions', id);
      if (typeof mission !== 'string' || !operationalSchema.shape.mission.safeParse(mission).success)
        throw new TypeError(
          `Expected \`missions\` of ${id} to be a mission id of 1 to ${MAX_MISSION_LENGTH} characters, got ${shownValue(mission)}`,
        );
      this.#set(drone, { mission });
    }
  }

  /** The drone's state now. */
  stateOf(id: string): Readonly<Operational> {
    return this.#states.get(id) ?? SIM_DEFAULT_OPERATIONAL;
  }

  /** The drone's source for its agent: it reads the state at each answer, so a change shows at once. */
  sourceOf(id: string): OperationalSource {
    return { read: () => Promise.resolve(this.stateOf(id)) };
  }

  /** The drones off the default, for the start-up log. */
  changed(): Record<string, Readonly<Operational>> {
    return Object.fromEntries(this.#states);
  }

  /**
   * The body of `POST /sim/operational`, `{"drone", "flight"?, "battery"?, "mission"?}`, applied: a
   * WireError `bad_request` when it is not such an object, `unknown_drone` when the fleet has no such drone.
   */
  update(body: Buffer): SimOperationalUpdate {
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      throw new WireError(
        'bad_request',
        `bad request: the body is not JSON (${body.length} bytes); send {"drone": "drone-4", "flight": "grounded", "battery": 80, "mission": null}, every member but "drone" optional`,
      );
    }
    const parsed = updateSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path[0];
      throw new WireError('bad_request', `bad request: ${issueText(issue, value, UPDATE_RULES)}`, {
        ...(typeof field === 'string' ? { tail: { field } } : {}),
      });
    }
    const { drone, ...change } = parsed.data;
    if (!this.#isDrone(drone)) {
      throw new WireError(
        'unknown_drone',
        `no drone ${JSON.stringify(drone)} in this simulated fleet; its drones are drone-1 to drone-${this.#fleetSize}`,
      );
    }
    return { drone, operational: this.#set(drone, change) };
  }

  #set(id: string, change: Partial<Operational>): Readonly<Operational> {
    const next = { ...this.stateOf(id), ...change };
    this.#states.set(id, next);
    return next;
  }

  #checkedId(list: keyof SimOperationalLists, id: string): string {
    if (!this.#isDrone(id))
      throw new TypeError(
        `Expected \`${list}\` to name drones of this fleet (drone-1 to drone-${this.#fleetSize}), got ${JSON.stringify(id)}`,
      );
    return id;
  }
}
