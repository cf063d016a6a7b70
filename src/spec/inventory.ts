import { z } from 'zod';
import { mustBe } from './describe-value.js';
import { describeUrl, droneUrlProblem } from './drone-url.js';
import { pinJsonProblems, positionsIn, repeatedKeyIssue } from './json-positions.js';
import { scanJson, type JsonScan } from './json-scan.js';
import { formatBytes, MAX_INVENTORY_BYTES, MAX_REPORTED_ISSUES, MAX_YAML_INVENTORY_BYTES } from './limits.js';
import { SpecError, sortIssues, type SpecIssue } from './spec-error.js';
import { checkWithSchema } from './schema-issues.js';
import { labels } from './spec-fields.js';
import type { Drone, Labels } from './types.js';
import { parseYamlSource, type PathProblem } from './yaml-source.js';

/** Ids go into URLs (`/d/<id>`), lock tables and file names, so they stay plain. */
export const DRONE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const idMessage = mustBe('an id of letters, digits, ".", "_" or "-"');

export const droneSchema = z.strictObject(
  {
    id: z.string({ error: idMessage }).regex(DRONE_ID_PATTERN, { error: idMessage }),
    url: z
      .string({ error: (issue) => `must be an http:// or https:// URL, got ${describeUrl(issue.input)}` })
      .superRefine((text, ctx) => {
        const problem = droneUrlProblem(text);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    labels: labels.default({}),
  },
  { error: mustBe('a drone mapping {id, url, labels}') },
);

/** The outer shape only: each drone is checked on its own, so a huge bad inventory keeps few issues. */
const inventoryShape = z.strictObject(
  {
    drones: z
      .array(z.unknown(), { error: mustBe('a list of drones') })
      .min(1, { error: 'must list at least one drone' }),
  },
  { error: mustBe('a mapping with a drones list') },
);

/** The outcome of checking inventory text: the drones when valid, every issue either way. */
export interface InventoryCheck {
  readonly drones: readonly Drone[] | undefined;
  /** At most MAX_REPORTED_ISSUES; the rest are counted in `unlisted`. */
  readonly issues: readonly SpecIssue[];
  readonly unlisted?: number;
}

/**
 * Checks an inventory file's text; issues name the inventory's own lines and columns. JSON (which is YAML
 * too) is read natively: 100,000 drones in half a second, where the YAML document parser takes about a
 * second and 100 MB per MiB. So JSON is never handed to the YAML parser unless it is small and does not
 * parse as JSON (it may be YAML flow style), and YAML is held to MAX_YAML_INVENTORY_BYTES.
 */
export function checkInventoryText(text: string, file: string): InventoryCheck {
  const bytes = Buffer.byteLength(text);
  const whole = (message: string): InventoryCheck => ({
    drones: undefined,
    issues: [{ file, line: 1, column: 1, key: '', message }],
  });
  if (bytes > MAX_INVENTORY_BYTES) {
    return whole(`the inventory is ${formatBytes(bytes)}, over the limit of ${formatBytes(MAX_INVENTORY_BYTES)}`);
  }
  const small = bytes <= MAX_YAML_INVENTORY_BYTES;
  if (/^\uFEFF?\s*\{/.test(text)) {
    const scan = scanJson(text);
    if (scan.error === undefined) return checkJsonInventory(text, file, scan.repeated);
    if (!small) {
      const { offset, message } = scan.error;
      const why = `, and an inventory over ${formatBytes(MAX_YAML_INVENTORY_BYTES)} must be JSON`;
      const issue = { file, ...positionsIn(text)(offset), key: '', message: `invalid JSON: ${message}${why}` };
      return { drones: undefined, issues: [issue] };
    }
  } else if (!small) {
    return whole(
      `the inventory is ${formatBytes(bytes)} of YAML, over the limit of ${formatBytes(MAX_YAML_INVENTORY_BYTES)} ` +
        'for YAML; write it as JSON, one drone per line as `rollout fleet sim --inventory-out` does ' +
        `(up to ${formatBytes(MAX_INVENTORY_BYTES)})`,
    );
  }
  return checkYamlInventory(text, file);
}

function checkYamlInventory(text: string, file: string): InventoryCheck {
  const source = parseYamlSource(text, file);
  if (source.syntaxIssues.length > 0) return { drones: undefined, issues: source.syntaxIssues };
  const checked = checkDrones(source.data);
  if ('problems' in checked) {
    return { drones: undefined, issues: sortIssues(checked.problems.map(source.pin)), unlisted: checked.unlisted };
  }
  return { drones: checked.drones, issues: [] };
}

function checkJsonInventory(text: string, file: string, repeated: JsonScan['repeated']): InventoryCheck {
  if (repeated.length > 0) {
    // JSON.parse would keep the last of two equal keys, where YAML refuses them: refused here too.
    const position = positionsIn(text);
    const issues = repeated.slice(0, MAX_REPORTED_ISSUES).map((key) => repeatedKeyIssue(file, position, key));
    return { drones: undefined, issues: sortIssues(issues), unlisted: repeated.length - issues.length };
  }
  const checked = checkDrones(JSON.parse(text.replace(/^\uFEFF/, '')));
  if ('problems' in checked) {
    const issues = sortIssues(pinJsonProblems(text, file, checked.problems));
    return { drones: undefined, issues, unlisted: checked.unlisted };
  }
  return { drones: checked.drones, issues: [] };
}

const DRONE_KEYS: ReadonlySet<string> = new Set(['id', 'url', 'labels']);

/**
 * A drone in the usual shape, checked without zod, which took about a sixth of reading an inventory
 * of 100,000 drones (0.1 s of every command's start-up). Stricter than droneSchema (string labels
 * only, no key that could touch a prototype), it answers undefined for anything else, which the schema
 * then judges with its message; so no drone passes here that the schema refuses, and what passes is
 * what the schema gives.
 */
export function plainDrone(
  item: unknown,
): { readonly success: true; readonly data: z.output<typeof droneSchema> } | undefined {
  if (!isPlainObject(item)) return undefined;
  if (!Object.keys(item).every((key) => DRONE_KEYS.has(key))) return undefined;
  const { id, url, labels: given } = item;
  if (typeof id !== 'string' || !DRONE_ID_PATTERN.test(id)) return undefined;
  if (typeof url !== 'string' || droneUrlProblem(url) !== undefined) return undefined;
  if (given === undefined) return { success: true, data: { id, url, labels: {} } };
  // Not a Map, Set or Date (YAML's !!omap, !!set, !!timestamp): the schema refuses those.
  if (!isPlainObject(given)) return undefined;
  const entries = Object.entries(given);
  if (!entries.every(([key, value]) => key !== '__proto__' && typeof value === 'string')) return undefined;
  return { success: true, data: { id, url, labels: Object.fromEntries(entries) as Record<string, string> } };
}

/** An object literal's kind of object: its prototype is Object's, or none. */
function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

type DronesCheck = { readonly drones: Drone[] } | { readonly problems: PathProblem[]; readonly unlisted: number };

/** The drones, or the first MAX_REPORTED_ISSUES problems (by path) and how many more there were. */
function checkDrones(data: unknown): DronesCheck {
  const shape = checkWithSchema(inventoryShape, data);
  if ('problems' in shape) return { problems: [...shape.problems], unlisted: 0 };
  const problems: PathProblem[] = [];
  let unlisted = 0;
  const note = (problem: PathProblem): void => {
    if (problems.length < MAX_REPORTED_ISSUES) problems.push(problem);
    else unlisted += 1;
  };
  const drones: Drone[] = [];
  const firstIndex = new Map<string, number>();
  const labelSets = new Map<string, Labels>();
  shape.output.drones.forEach((item, index) => {
    // A plain check, then a bare safeParse: the messages are only needed for a drone that fails.
    const parsed = plainDrone(item) ?? droneSchema.safeParse(item);
    if (!parsed.success) {
      if (problems.length >= MAX_REPORTED_ISSUES) {
        // Past the listed ones, only the count is shown: no messages to build.
        for (const issue of parsed.error.issues) unlisted += issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
        return;
      }
      const result = checkWithSchema(droneSchema, item);
      for (const problem of 'problems' in result ? result.problems : []) {
        note({ ...problem, path: ['drones', index, ...problem.path] });
      }
      return;
    }
    const drone = parsed.data;
    const first = firstIndex.get(drone.id);
    if (first === undefined) firstIndex.set(drone.id, index);
    else note({ path: ['drones', index, 'id'], message: `duplicate drone id "${drone.id}" (also drones[${first}])` });
    // A trailing slash would double up when `/v1/...` is appended.
    drones.push({ id: drone.id, url: drone.url.replace(/\/+$/, ''), labels: shared(labelSets, drone.labels) });
  });
  return problems.length > 0 ? { problems, unlisted } : { drones };
}

/**
 * Past this many label combinations the labels are likely per drone (a serial number): sharing would
 * cost a key and a map entry per drone and save nothing.
 */
const MAX_SHARED_LABEL_SETS = 256;

/**
 * One frozen object for every drone with these labels: a fleet has a few combinations (group, zone), and
 * an object per drone held about 6 MB at 100,000 drones.
 */
function shared(labelSets: Map<string, Labels>, labels: Labels): Labels {
  if (labelSets.size >= MAX_SHARED_LABEL_SETS) return labels;
  const key = JSON.stringify(labels);
  let known = labelSets.get(key);
  if (known === undefined) {
    known = Object.freeze(labels);
    labelSets.set(key, known);
  }
  return known;
}

/** The drones of an inventory, or a SpecError naming every problem. */
export function parseInventoryText(text: string, file: string): readonly Drone[] {
  const { drones, issues, unlisted } = checkInventoryText(text, file);
  if (drones === undefined) throw new SpecError(issues, unlisted);
  return drones;
}
