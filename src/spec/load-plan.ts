import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { checkInventoryText } from './inventory.js';
import { valueAt } from './key-path.js';
import { checkFleetFit, planSteps } from './plan-steps.js';
import { selectDrones } from './select-drones.js';
import { SpecError, sortIssues, type SpecIssue } from './spec-error.js';
import { decodeUtf8, displayPath, readInputFile } from './spec-files.js';
import type { ConfigArtifact, Drone, Plan, RolloutSpec } from './types.js';
import { checkSpecText } from './validate-spec.js';
import type { YamlSource } from './yaml-source.js';

export interface LoadPlanOptions {
  /**
   * An inventory to use instead of the spec's `fleet.inventory` (relative to the working directory),
   * e.g. the one a simulated fleet just wrote. The spec must still name one.
   * @default the spec's fleet.inventory
   */
  readonly inventory?: string;
}

/**
 * Reads and validates a spec, its config and its inventory, and computes the canary and waves.
 * Throws a SpecError listing every problem found; nothing here talks to a drone.
 */
export async function loadPlan(specPath: string, options: LoadPlanOptions = {}): Promise<Plan> {
  const absolute = resolve(specPath);
  const file = displayPath(specPath);
  const read = await readInputFile(absolute);
  if ('problem' in read) {
    throw new SpecError([{ file, line: 1, column: 1, key: '', message: `cannot read the spec: ${read.problem}` }]);
  }
  const text = decodeUtf8(read.bytes);
  if (text === undefined) {
    throw new SpecError([{ file, line: 1, column: 1, key: '', message: 'the spec is not UTF-8 text' }]);
  }

  const baseDir = dirname(absolute);
  const check = checkSpecText(text, file, baseDir);
  const overridePath = options.inventory === undefined ? undefined : resolve(options.inventory);
  // The referenced files are checked even when the rest of the spec is invalid, so one run shows everything.
  const [content, inventory] = await Promise.all([
    readConfigContent(check.source, baseDir),
    overridePath === undefined ? readInventory(check.source, baseDir) : readInventoryOverride(overridePath),
  ]);
  const issues = [...check.issues, ...content.issues, ...inventory.issues];
  if (check.spec === undefined || content.text === undefined || inventory.drones === undefined || issues.length > 0) {
    throw new SpecError(sortIssues(issues));
  }
  const spec: RolloutSpec =
    overridePath === undefined ? check.spec : { ...check.spec, fleet: { ...check.spec.fleet, inventory: overridePath } };

  const targeted = selectDrones(inventory.drones, spec.fleet.selector);
  const fit = checkFleetFit(spec, inventory.drones, targeted, displayPath(spec.fleet.inventory));
  if (fit.length > 0) throw new SpecError(fit.map(check.source.pin));

  const sha256 = createHash('sha256').update(content.bytes).digest('hex');
  const config: ConfigArtifact = {
    file: spec.config.file,
    sourcePath: spec.config.source,
    content: content.text,
    sha256,
    version: spec.config.version ?? sha256.slice(0, 12),
  };
  return { specPath: absolute, spec, config, drones: targeted, steps: planSteps(spec, targeted) };
}

interface ConfigRead {
  readonly bytes: Buffer;
  readonly text: string | undefined;
  readonly issues: readonly SpecIssue[];
}

async function readConfigContent(source: YamlSource, baseDir: string): Promise<ConfigRead> {
  const empty = Buffer.alloc(0);
  const path = valueAt(source.data, ['config', 'source']);
  if (typeof path !== 'string' || path === '') return { bytes: empty, text: undefined, issues: [] };
  const read = await readInputFile(resolve(baseDir, path));
  if ('problem' in read) {
    return { bytes: empty, text: undefined, issues: [source.pin({ path: ['config', 'source'], message: read.problem })] };
  }
  const text = decodeUtf8(read.bytes);
  if (text === undefined) {
    // Drones receive the content as a JSON string; bytes that are not UTF-8 would arrive changed.
    const message = `must be UTF-8 text: ${displayPath(resolve(baseDir, path))}`;
    return { bytes: empty, text: undefined, issues: [source.pin({ path: ['config', 'source'], message })] };
  }
  return { bytes: read.bytes, text, issues: [] };
}

interface InventoryRead {
  readonly drones: readonly Drone[] | undefined;
  readonly issues: readonly SpecIssue[];
}

async function readInventory(source: YamlSource, baseDir: string): Promise<InventoryRead> {
  const path = valueAt(source.data, ['fleet', 'inventory']);
  if (typeof path !== 'string' || path === '') return { drones: undefined, issues: [] };
  const absolute = resolve(baseDir, path);
  const read = await readInputFile(absolute);
  if ('problem' in read) {
    return { drones: undefined, issues: [source.pin({ path: ['fleet', 'inventory'], message: read.problem })] };
  }
  return parseInventoryBytes(read.bytes, absolute);
}

/** An inventory named outside the spec (a command-line flag): no spec key to point at, so 1:1 of the file. */
async function readInventoryOverride(absolute: string): Promise<InventoryRead> {
  const read = await readInputFile(absolute);
  if ('problem' in read) {
    return { drones: undefined, issues: [{ file: displayPath(absolute), line: 1, column: 1, key: '', message: read.problem }] };
  }
  return parseInventoryBytes(read.bytes, absolute);
}

function parseInventoryBytes(bytes: Buffer, absolute: string): InventoryRead {
  const file = displayPath(absolute);
  const text = decodeUtf8(bytes);
  if (text === undefined) {
    return { drones: undefined, issues: [{ file, line: 1, column: 1, key: '', message: 'the inventory is not UTF-8 text' }] };
  }
  return checkInventoryText(text, file);
}
