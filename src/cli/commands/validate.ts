import { count } from '../../wording.js';
import { formatDuration } from '../../spec/duration.js';
import { loadPlan } from '../../spec/load-plan.js';
import type { Plan } from '../../spec/types.js';
import { printJson, type CommonOptions } from '../common.js';

export interface ValidateOptions extends CommonOptions {
  readonly spec: string;
  /** Replaces the spec's `fleet.inventory`. */
  readonly inventory?: string;
}

/** The plan as a short JSON-friendly object: what `validate` and `plan` print. */
export function planSummary(plan: Plan) {
  return {
    name: plan.spec.name,
    config: { file: plan.config.file, version: plan.config.version, sha256: plan.config.sha256 },
    drones: plan.drones.length,
    steps: plan.steps.map((s) => ({
      name: s.name,
      percent: s.percent,
      drones: s.drones.length,
      bakeMs: s.bakeMs,
      ids: s.drones,
    })),
  };
}

export function describePlan(plan: Plan): string {
  const lines = [
    `${plan.spec.name}: ${plan.config.file} → version ${plan.config.version} (sha256 ${plan.config.sha256.slice(0, 12)}…)`,
    count(plan.drones.length, 'targeted drone'),
  ];
  for (const step of plan.steps) {
    const ids =
      step.drones.length <= 6
        ? step.drones.join(', ')
        : `${step.drones.slice(0, 5).join(', ')}, … ${step.drones.at(-1) ?? ''}`;
    const drones = `${String(step.drones.length).padStart(5)} ${step.drones.length === 1 ? 'drone ' : 'drones'}`;
    lines.push(`  ${step.name.padEnd(8)} ${drones} → ${step.percent}%  bake ${formatDuration(step.bakeMs)}  [${ids}]`);
  }
  return lines.join('\n');
}

/** Offline validation: schema, files, inventory, plan. Writes nothing, reaches no drone. */
export async function validateCommand(options: ValidateOptions): Promise<number> {
  const plan = await loadPlan(options.spec, options.inventory === undefined ? {} : { inventory: options.inventory });
  if (options.output === 'json') printJson({ valid: true, ...planSummary(plan) });
  else process.stdout.write(`valid: ${describePlan(plan)}\n`);
  return 0;
}
