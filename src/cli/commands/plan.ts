import { DroneClient, misconfiguration } from '../../fleet/drone-client.js';
import { forEachDrone } from '../../fleet/for-each-drone.js';
import { isHot } from '../../protocol/v1.js';
import { allowed, spread } from '../../rollout/context.js';
import { EXIT_CODES } from '../../rollout/report.js';
import { closestKey } from '../../spec/did-you-mean.js';
import { loadPlan } from '../../spec/load-plan.js';
import { planWarnings } from '../../spec/plan-warnings.js';
import type { Drone, Plan } from '../../spec/types.js';
import { openLockStore, printJson, readToken } from '../common.js';
import { describePlan, planSummary, type ValidateOptions } from './validate.js';

export interface PlanOptions extends ValidateOptions {
  readonly tokenFile?: string;
}

interface DroneCheck {
  readonly id: string;
  readonly state?: string;
  readonly version?: string;
  readonly sha256?: string;
  readonly lock?: string;
  readonly fence?: number;
  /** No answer, or an answer that is not the protocol. */
  readonly error?: string;
  /** An answer that says the rollout is set up wrong (401, 404), with what to check. */
  readonly misconfigured?: string;
}

/** How long `plan` waits for a drone that has just booted to hold two telemetry samples. */
const RATE_WAIT_MS = 2_000;
const RATE_POLL_MS = 250;
/** Drones whose telemetry `plan` reads for the metric names they report. */
const METRIC_DRONES = 8;

/**
 * One drone's telemetry rate, from the timestamps of the samples it holds; null if it holds fewer than
 * two within RATE_WAIT_MS (a drone that booted a moment ago has had no time to sample).
 */
async function sampleRate(client: DroneClient, drone: Drone | undefined): Promise<number | null> {
  if (!drone) return null;
  const giveUpAt = performance.now() + RATE_WAIT_MS;
  for (;;) {
    const reply = await client.telemetry(drone, 0);
    if (!reply.ok) return null;
    const samples = reply.body.samples;
    const seconds = ((samples.at(-1)?.t ?? 0) - (samples[0]?.t ?? 0)) / 1000;
    if (samples.length >= 2 && seconds > 0) return (samples.length - 1) / seconds;
    if (performance.now() >= giveUpAt) return null;
    await new Promise((done) => setTimeout(done, RATE_POLL_MS));
  }
}

/** The metric names a few drones report, or null when none of them gave a sample to read them from. */
async function reportedMetrics(client: DroneClient, drones: readonly Drone[]): Promise<Set<string> | null> {
  const names = new Set<string>();
  let read = false;
  await forEachDrone(drones, { concurrency: METRIC_DRONES, signal: new AbortController().signal }, async (drone) => {
    const reply = await client.telemetry(drone, 0);
    if (!reply.ok) return 'continue';
    for (const sample of reply.body.samples) {
      read = true;
      for (const name of Object.keys(sample.metrics)) names.add(name);
    }
    return 'continue';
  });
  return read ? names : null;
}

/** Metrics the spec judges that no sampled drone reports: a typo reads like a bad config at run time. */
function unknownMetrics(plan: Plan, reported: ReadonlySet<string> | null): string[] {
  if (reported === null) return [];
  const known = [...reported].sort();
  return plan.spec.analysis.metrics.flatMap((metric, index) => {
    if (reported.has(metric.name)) return [];
    const guess = closestKey(metric.name, known);
    return [
      `analysis.metrics[${index}].name: no drone reports ${JSON.stringify(metric.name)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}; ` +
        `the drones report: ${known.join(', ') || 'no metrics'}`,
    ];
  });
}

/** The fence floor: drones that have accepted fences above what this lock store has handed out. */
async function fenceNote(options: PlanOptions, plan: Plan, checks: readonly DroneCheck[]): Promise<{ drones: number; store: number } | null> {
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
  const client = new DroneClient({
    timeoutMs: plan.spec.push.timeoutMs,
    retries: 0,
    maxSockets: plan.spec.push.concurrency,
    ...(token === undefined ? {} : { token }),
  });
  const checks: DroneCheck[] = [];
  const hot: string[] = [];
  let rate: number | null = null;
  let metrics: Set<string> | null = null;
  try {
    await forEachDrone(plan.drones, { concurrency: plan.spec.push.concurrency, signal: new AbortController().signal }, async (drone) => {
      const reply = await client.health(drone);
      if (!reply.ok) {
        const misconfigured = misconfiguration(reply);
        checks.push({ id: drone.id, error: reply.message, ...(misconfigured === undefined ? {} : { misconfigured }) });
        return 'continue';
      }
      const config = reply.body.configs[plan.config.file];
      if (isHot(reply.body.configs, plan.config.file)) hot.push(drone.id);
      checks.push({
        id: drone.id,
        state: reply.body.state,
        ...(config ? { version: config.version, sha256: config.sha256, lock: config.lock, fence: config.fence } : {}),
      });
      return 'continue';
    });
    const healthy = new Set(checks.filter((c) => c.error === undefined).map((c) => c.id));
    const reachable = plan.drones.filter((d) => healthy.has(d.id));
    rate = await sampleRate(client, reachable[0]);
    metrics = await reportedMetrics(client, spread(reachable, METRIC_DRONES));
  } finally {
    client.close();
  }
  const warnings = planWarnings(plan, rate);
  const misconfigured = checks.filter((c) => c.misconfigured !== undefined);
  const unreachable = checks.filter((c) => c.error !== undefined && c.misconfigured === undefined);
  const tooManyUnreachable = unreachable.length > allowed(plan.spec.abort.maxUnreachable, plan.drones.length);
  const badMetrics = unknownMetrics(plan, metrics);
  const answered = checks.filter((c) => c.error === undefined);
  const upToDate = answered.length === plan.drones.length && answered.every((c) => c.sha256 === plan.config.sha256);
  const fence = await fenceNote(options, plan, checks);
  if (fence) {
    warnings.push(
      `drones have accepted fence ${fence.drones} for ${plan.config.file}, above the ${fence.store} this lock store has handed out: ` +
        'another state dir or store has driven this fleet (check that your team shares one); a run takes a fence above the fleet\'s',
    );
  }
  const invalid = tooManyUnreachable || misconfigured.length > 0 || badMetrics.length > 0;
  const exitCode = hot.length > 0 ? EXIT_CODES.aborted_hot : invalid ? EXIT_CODES.invalid : 0;
  if (options.output === 'json') {
    printJson({
      ...planSummary(plan),
      exitCode,
      hot,
      unreachable: unreachable.map((c) => ({ id: c.id, error: c.error })),
      misconfigured: misconfigured.map((c) => ({ id: c.id, error: c.error, check: c.misconfigured })),
      unknownMetrics: badMetrics,
      upToDate,
      samplesPerSecond: rate,
      warnings,
    });
    return exitCode;
  }
  const versions = new Map<string, number>();
  for (const c of checks) if (c.version) versions.set(c.version, (versions.get(c.version) ?? 0) + 1);
  const lines = [
    describePlan(plan),
    `health: ${answered.length}/${plan.drones.length} drones answered; current ${plan.config.file}: ${[...versions].map(([v, n]) => `${v} ×${n}`).join(', ') || 'none'}`,
  ];
  for (const c of misconfigured) lines.push(`  error: ${c.id}: ${c.error}; ${c.misconfigured}`);
  for (const c of unreachable) lines.push(`  unreachable: ${c.id}: ${c.error}`);
  for (const metric of badMetrics) lines.push(`  error: ${metric}`);
  if (hot.length > 0) {
    lines.push(`  HOT: ${hot.join(', ')} ${hot.length === 1 ? 'holds' : 'hold'} a local lock on ${plan.config.file}; a run would abort. Check the drones' /v1/locks.`);
  }
  if (tooManyUnreachable) lines.push('  too many drones unreachable for abort.max_unreachable: a run would abort.');
  for (const warning of warnings) lines.push(`warning: ${warning}`);
  if (exitCode === 0) lines.push(upToDate ? `nothing to do: every targeted drone already runs ${plan.config.version}` : 'ready: a run can start');
  process.stdout.write(`${lines.join('\n')}\n`);
  return exitCode;
}
