import { SAMPLED_DRONES, spread } from '../../fleet/for-each-drone.js';
import { heldBackNow, missingFeatures, preflight, type DroneCheck, type HeldBack } from '../../fleet/preflight.js';
import { EXIT_CODES } from '../../rollout/report.js';
import { planCanaryCoverage, type LabelCoverage } from '../../spec/canary-pick.js';
import { loadPlan } from '../../spec/load-plan.js';
import { checkProviderQueries } from '../../signals/metric-providers.js';
import { planWarnings } from '../../spec/plan-warnings.js';
import { allowed } from '../../spec/threshold.js';
import type { Plan } from '../../spec/types.js';
import type { DroneTls } from '../../fleet/drone-tls.js';
import { listIds } from '../../wording.js';
import { openLockStore, printJson, readDroneTls, readToken, type DroneTlsOptions } from '../common.js';
import { describePlan, planSummary, type ValidateOptions } from './validate.js';

export interface PlanOptions extends ValidateOptions, DroneTlsOptions {
  readonly tokenFile?: string;
}

/** Values listed per label and list before `…`: a label with a value per drone must not flood the terminal. */
const LISTED_VALUES = 8;

function listValues(values: readonly string[]): string {
  const shown = values.slice(0, LISTED_VALUES).join(', ');
  return values.length > LISTED_VALUES ? `${shown}, … ${values.length - LISTED_VALUES} more` : shown;
}

/** `canary label coverage: airframe 3 of 4 values (x4, x6, x8; missing: x9), site 2 of 2 values (north, south)` */
export function describeCoverage(coverage: Readonly<Record<string, LabelCoverage>>): string {
  const labels = Object.entries(coverage).map(([label, { covered, missing }]) => {
    const all = covered.length + missing.length;
    const lists = [listValues(covered), ...(missing.length > 0 ? [`missing: ${listValues(missing)}`] : [])];
    return `${label} ${covered.length} of ${all} ${all === 1 ? 'value' : 'values'} (${lists.join('; ')})`;
  });
  return `canary label coverage: ${labels.join(', ')}`;
}

/** How the canary was chosen, when the spec says more than its size: what `plan` prints and adds to its JSON. */
function canaryChoice(plan: Plan) {
  const coverage = planCanaryCoverage(plan);
  return {
    json: {
      ...(coverage === undefined ? {} : { canaryCoverage: coverage }),
      ...(plan.canarySeed === undefined ? {} : { canarySeed: plan.canarySeed }),
    },
    lines: [
      ...(coverage === undefined ? [] : [describeCoverage(coverage)]),
      // Each `plan` draws a new seed: this is one possible draw, not the one a run will make.
      ...(plan.canarySeed === undefined
        ? []
        : [`canary drawn at random, seed ${plan.canarySeed} (a run draws its own seed)`]),
    ],
  };
}

/** `gates.push_when holds back 2 of 20 drones now (...)`: each drone with why, a long list cut short. */
function describeHeldBack(heldBack: readonly HeldBack[], answered: number): string {
  if (heldBack.length === 0)
    return `gates.push_when holds back none of the ${answered} drones that answered, as they are now`;
  const shown = heldBack.slice(0, HELD_BACK_SHOWN).map((drone) => `    ${drone.id}: ${drone.reason}`);
  const more = heldBack.length - shown.length;
  return [
    `gates.push_when holds back ${heldBack.length} of the ${answered} drones that answered, as they are now (a run retries them within gates.wait):`,
    ...shown,
    ...(more > 0 ? [`    … and ${more} more (--output json lists them all)`] : []),
  ].join('\n');
}

/** Held-back drones `plan` lists one by one before it counts the rest. */
const HELD_BACK_SHOWN = 20;

/** Plain `http://` drones of a plan that sets up TLS: the CA and client certificate do nothing for them. */
function plainDrones(plan: Plan, tls: DroneTls | undefined): string[] {
  if (tls === undefined) return [];
  const plain = plan.drones.filter((drone) => drone.url.startsWith('http:')).map((drone) => drone.id);
  if (plain.length === 0) return [];
  return [
    `TLS is set up (fleet.tls or --ca-file/--client-cert), but ${listIds(plain)} ${plain.length === 1 ? 'has an http:// url' : 'have http:// urls'}: ` +
      'requests to them are neither encrypted nor checked; use https:// in the inventory',
  ];
}

/** A drone the preflight could not use: unreachable, or misconfigured (and then with what to check). */
type FailedCheck = DroneCheck & { readonly error: string };

/** The fence floor: drones that have accepted fences above what this lock store has handed out. */
async function fenceNote(
  options: PlanOptions,
  plan: Plan,
  checks: readonly DroneCheck[],
): Promise<{ drones: number; store: number } | null> {
  const drones = Math.max(0, ...checks.map((c) => c.fence ?? 0));
  const locks = await openLockStore(options);
  try {
    const store = await locks.highestFence(plan.config.file);
    return drones > store ? { drones, store } : null;
  } finally {
    await locks.close();
  }
}

/**
 * Validates the spec and reaches every targeted drone's /v1/health and a few drones' telemetry; writes
 * nothing to any drone. Exit 0 when a run could start (or has nothing to do), 4 when a drone is already
 * HOT, 2 when the spec, a metric name, the token or a drone's URL is wrong, or too many drones are
 * unreachable.
 */
export async function planCommand(options: PlanOptions): Promise<number> {
  const plan = await loadPlan(options.spec, options.inventory === undefined ? {} : { inventory: options.inventory });
  const token = await readToken(options.tokenFile);
  const tls = await readDroneTls(plan.spec.fleet.tls, options);
  const { checks, hot, samplesPerSecond: rate, unknownMetrics: unreported } = await preflight(plan, token, tls);
  const warnings = [...planWarnings(plan, rate), ...missingFeatures(plan, checks), ...plainDrones(plan, tls)];
  // Each provider query runs once, over the targeted drones a rollout would sample first.
  const queries = await checkProviderQueries(
    plan,
    spread(
      plan.drones.map((drone) => drone.id),
      SAMPLED_DRONES,
    ),
  );
  const badMetrics = [
    ...unreported,
    ...queries
      .filter((check) => check.failure.kind === 'rejected')
      .map((check) => `analysis.metrics[${check.index}].query: ${check.failure.error}`),
  ];
  for (const check of queries.filter((c) => c.failure.kind !== 'rejected')) {
    warnings.push(
      `analysis.metrics[${check.index}].query could not be checked: ${check.failure.error}; a run gives ${check.metric} no data while this lasts`,
    );
  }
  // The preflight gives a drone it finds misconfigured an error as well.
  const failed = checks.filter((c): c is FailedCheck => c.error !== undefined);
  const misconfigured = failed.filter(
    (c): c is FailedCheck & { readonly misconfigured: string } => c.misconfigured !== undefined,
  );
  const unreachable = failed.filter((c) => c.misconfigured === undefined);
  const tooManyUnreachable = unreachable.length > allowed(plan.spec.abort.maxUnreachable, plan.drones.length);
  const answered = checks.filter((c) => c.error === undefined);
  const upToDate = answered.length === plan.drones.length && answered.every((c) => c.sha256 === plan.config.sha256);
  const fence = await fenceNote(options, plan, checks);
  if (fence) {
    warnings.push(
      `drones have accepted fence ${fence.drones} for ${plan.config.file}, above the ${fence.store} this lock store has handed out: ` +
        "another state dir or store has driven this fleet (check that your team shares one); a run takes a fence above the fleet's",
    );
  }
  const invalid = tooManyUnreachable || misconfigured.length > 0 || badMetrics.length > 0;
  const exitCode = hot.length > 0 ? EXIT_CODES.aborted_hot : invalid ? EXIT_CODES.invalid : 0;
  const canary = canaryChoice(plan);
  const heldBack = heldBackNow(plan, checks);
  if (options.output === 'json') {
    printJson({
      ...planSummary(plan),
      ...canary.json,
      exitCode,
      hot,
      unreachable: unreachable.map((c) => ({ id: c.id, error: c.error })),
      misconfigured: misconfigured.map((c) => ({ id: c.id, error: c.error, check: c.misconfigured })),
      unknownMetrics: badMetrics,
      upToDate,
      samplesPerSecond: rate,
      ...(plan.spec.gates === undefined ? {} : { heldBack }),
      warnings,
    });
    return exitCode;
  }
  const versions = new Map<string, number>();
  for (const c of checks) if (c.version) versions.set(c.version, (versions.get(c.version) ?? 0) + 1);
  const lines = [
    describePlan(plan),
    ...canary.lines,
    `health: ${answered.length}/${plan.drones.length} drones answered; current ${plan.config.file}: ${[...versions].map(([v, n]) => `${v} ×${n}`).join(', ') || 'none'}`,
  ];
  for (const c of misconfigured) lines.push(`  error: ${c.id}: ${c.error}; ${c.misconfigured}`);
  for (const c of unreachable) lines.push(`  unreachable: ${c.id}: ${c.error}`);
  for (const metric of badMetrics) lines.push(`  error: ${metric}`);
  if (hot.length > 0) {
    lines.push(
      `  HOT: ${hot.join(', ')} ${hot.length === 1 ? 'holds' : 'hold'} a local lock on ${plan.config.file}; a run would abort. Check the drones' /v1/locks.`,
    );
  }
  if (tooManyUnreachable) lines.push('  too many drones unreachable for abort.max_unreachable: a run would abort.');
  if (plan.spec.gates !== undefined) lines.push(describeHeldBack(heldBack, answered.length));
  for (const warning of warnings) lines.push(`warning: ${warning}`);
  if (exitCode === 0)
    lines.push(
      upToDate ? `nothing to do: every targeted drone already runs ${plan.config.version}` : 'ready: a run can start',
    );
  process.stdout.write(`${lines.join('\n')}\n`);
  return exitCode;
}
