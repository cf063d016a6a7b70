import { createHash, randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { runConfigValidators } from './config-validators.js';
import { MAX_SPEC_BYTES } from './limits.js';
import {
  checkSigningKey,
  pushSizeProblem,
  readConfigContent,
  readInventory,
  readInventoryOverride,
} from './plan-inputs.js';
import { checkFleetFit, planSteps } from './plan-steps.js';
import { selectDrones } from './select-drones.js';
import { SpecError, sortIssues } from './spec-error.js';
import { decodeUtf8, displayPath, readInputFile } from './spec-files.js';
import type { ConfigArtifact, Plan, RolloutSpec } from './types.js';
import { checkSpecText } from './validate-spec.js';

export interface LoadPlanOptions {
  /**
   * An inventory to use instead of the spec's `fleet.inventory` (relative to the working directory),
   * e.g. the one a simulated fleet just wrote. The spec must still name one.
   * @default the spec's fleet.inventory
   */
  readonly inventory?: string;
  /**
   * Whether to run the spec's config validators. `resume` does not: the config passed them when the
   * rollout started, and a validator that fails now must not keep a paused fleet from being finished.
   * @default true
   */
  readonly validators?: boolean;
  /**
   * The seed to draw a random canary (`canary.random`) from: `resume` passes the one its rollout recorded,
   * so it pushes to the same canary and waves. Ignored unless the spec asks for a random canary.
   * @default a new seed, 16 hex digits from crypto.randomBytes
   */
  readonly canarySeed?: string;
}

/** A fresh seed for a random canary: 64 bits, as 16 hex digits. */
export function newCanarySeed(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Reads and validates a spec, its config (with the spec's own validators), its inventory and its signing
 * key (whose path alone the plan keeps: plans are printed and logged), and computes the canary and waves
 * (a random canary from `options.canarySeed` or a new seed, returned as `plan.canarySeed`). Throws a
 * SpecError listing every problem found; nothing here talks to a drone.
 */
export async function loadPlan(specPath: string, options: LoadPlanOptions = {}): Promise<Plan> {
  const absolute = resolve(specPath);
  const file = displayPath(specPath);
  const read = await readInputFile(absolute, { what: 'a spec', limit: MAX_SPEC_BYTES });
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
  const [content, inventory, signing] = await Promise.all([
    readConfigContent(check.source, baseDir),
    overridePath === undefined ? readInventory(check.source, baseDir) : readInventoryOverride(overridePath),
    checkSigningKey(check.source, baseDir),
  ]);
  const issues = [...check.issues, ...content.issues, ...inventory.issues, ...signing];
  if (check.spec === undefined || content.text === undefined || inventory.drones === undefined || issues.length > 0) {
    throw new SpecError(sortIssues(issues), inventory.unlisted);
  }
  const spec: RolloutSpec =
    overridePath === undefined
      ? check.spec
      : { ...check.spec, fleet: { ...check.spec.fleet, inventory: overridePath } };

  const sha256 = createHash('sha256').update(content.bytes).digest('hex');
  const config: ConfigArtifact = {
    file: spec.config.file,
    sourcePath: spec.config.source,
    content: content.text,
    sha256,
    version: spec.config.version ?? sha256.slice(0, 12),
  };
  const tooLarge = pushSizeProblem(spec, config);
  if (tooLarge !== undefined) {
    throw new SpecError([check.source.pin({ path: ['config', 'source'], message: tooLarge })]);
  }
  if (options.validators !== false && spec.config.validate.length > 0) {
    const target = { path: spec.config.source, text: content.text, specDir: baseDir };
    const failed = await runConfigValidators(spec.config.validate, target, check.source.pin);
    if (failed.length > 0) throw new SpecError(failed);
  }

  const targeted = selectDrones(inventory.drones, spec.fleet.selector);
  const fit = checkFleetFit(spec, inventory.drones, targeted, displayPath(spec.fleet.inventory));
  if (fit.length > 0) throw new SpecError(fit.map(check.source.pin));
  // A random canary's seed goes into the plan, and from there into the record and the audit log.
  const seed = spec.canary.random ? { canarySeed: options.canarySeed ?? newCanarySeed() } : {};
  return { specPath: absolute, spec, config, drones: targeted, steps: planSteps(spec, targeted, seed), ...seed };
}
