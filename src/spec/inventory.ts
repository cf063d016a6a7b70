import { z } from 'zod';
import { mustBe } from './describe-value.js';
import { SpecError, sortIssues, type SpecIssue } from './spec-error.js';
import { checkWithSchema } from './schema-issues.js';
import { hasDuplicateKeys } from './json-duplicate-keys.js';
import { labels } from './spec-fields.js';
import type { Drone } from './types.js';
import { parseYamlSource, type PathProblem } from './yaml-source.js';

/** Ids go into URLs (`/d/<id>`), lock tables and file names, so they stay plain. */
export const DRONE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const idMessage = mustBe('an id of letters, digits, ".", "_" or "-"');
const urlMessage = mustBe('an http:// or https:// URL');

const droneSchema = z.strictObject(
  {
    id: z.string({ error: idMessage }).regex(DRONE_ID_PATTERN, { error: idMessage }),
    url: z.string({ error: urlMessage }).refine(isHttpUrl, { error: urlMessage }),
    labels: labels.default({}),
  },
  { error: mustBe('a drone mapping {id, url, labels}') },
);

export const inventorySchema = z.strictObject(
  {
    drones: z
      .array(droneSchema, { error: mustBe('a list of drones') })
      .min(1, { error: 'must list at least one drone' }),
  },
  { error: mustBe('a mapping with a drones list') },
);

/** The outcome of checking inventory text: the drones when valid, every issue either way. */
export interface InventoryCheck {
  readonly drones: readonly Drone[] | undefined;
  readonly issues: readonly SpecIssue[];
}

/** Checks an inventory file's text; issues name the inventory's own lines and columns. */
export function checkInventoryText(text: string, file: string): InventoryCheck {
  const fast = checkJsonInventory(text);
  if (fast !== undefined) return { drones: fast, issues: [] };
  const source = parseYamlSource(text, file);
  if (source.syntaxIssues.length > 0) return { drones: undefined, issues: source.syntaxIssues };
  const result = checkWithSchema(inventorySchema, source.data);
  if ('problems' in result) return { drones: undefined, issues: sortIssues(result.problems.map(source.pin)) };

  const drones = dronesOf(result.output);
  const duplicates = duplicateIds(drones);
  if (duplicates.length > 0) return { drones: undefined, issues: duplicates.map(source.pin) };
  return { drones, issues: [] };
}

/**
 * JSON is YAML too, and a 10,000-drone inventory parses in about 10 ms as JSON against most of a second
 * and tens of megabytes as a YAML document. So JSON text that is a valid inventory skips the YAML parser;
 * anything else, invalid JSON inventories and JSON repeating a key included, goes the YAML way, whose
 * issues carry positions.
 */
function checkJsonInventory(text: string): readonly Drone[] | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (hasDuplicateKeys(text)) return undefined;
  const result = checkWithSchema(inventorySchema, data);
  if ('problems' in result) return undefined;
  const drones = dronesOf(result.output);
  return duplicateIds(drones).length === 0 ? drones : undefined;
}

function dronesOf(inventory: z.output<typeof inventorySchema>): Drone[] {
  return inventory.drones.map((drone) => ({
    id: drone.id,
    // A trailing slash would double up when `/v1/...` is appended.
    url: drone.url.replace(/\/+$/, ''),
    labels: drone.labels,
  }));
}

/** The drones of an inventory, or a SpecError naming every problem. */
export function parseInventoryText(text: string, file: string): readonly Drone[] {
  const { drones, issues } = checkInventoryText(text, file);
  if (drones === undefined) throw new SpecError(issues);
  return drones;
}

function duplicateIds(drones: readonly Drone[]): PathProblem[] {
  const firstIndex = new Map<string, number>();
  const problems: PathProblem[] = [];
  drones.forEach((drone, index) => {
    const first = firstIndex.get(drone.id);
    if (first === undefined) firstIndex.set(drone.id, index);
    else problems.push({ path: ['drones', index, 'id'], message: `duplicate drone id "${drone.id}" (also drones[${first}])` });
  });
  return problems;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== '';
  } catch {
    return false;
  }
}
