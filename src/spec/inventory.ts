import { z } from 'zod';
import { mustBe } from './describe-value.js';
import { SpecError, sortIssues, type SpecIssue } from './spec-error.js';
import { checkWithSchema } from './schema-issues.js';
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
  const source = parseYamlSource(text, file);
  if (source.syntaxIssues.length > 0) return { drones: undefined, issues: source.syntaxIssues };
  const result = checkWithSchema(inventorySchema, source.data);
  if ('problems' in result) return { drones: undefined, issues: sortIssues(result.problems.map(source.pin)) };

  const drones = result.output.drones.map((drone) => ({
    id: drone.id,
    // A trailing slash would double up when `/v1/...` is appended.
    url: drone.url.replace(/\/+$/, ''),
    labels: drone.labels,
  }));
  const duplicates = duplicateIds(drones);
  if (duplicates.length > 0) return { drones: undefined, issues: duplicates.map(source.pin) };
  return { drones, issues: [] };
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
