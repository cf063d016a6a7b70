import { DroneClient } from '../../fleet/drone-client.js';
import { forEachDrone } from '../../fleet/for-each-drone.js';
import { allowed } from '../../runner/context.js';
import { EXIT_CODES } from '../../runner/report.js';
import { loadPlan } from '../../spec/load-plan.js';
import { planWarnings } from '../../spec/plan-warnings.js';
import type { Drone } from '../../spec/types.js';
import { printJson, readToken } from '../common.js';
import { describePlan, planSummary, type ValidateOptions } from './validate.js';

export interface PlanOptions extends ValidateOptions {
  readonly tokenFile?: string;
}

interface DroneCheck {
  readonly id: string;
  readonly ok: boolean;
  readonly state?: string;
  readonly version?: string;
  readonly lock?: string;
  readonly error?: string;
}

/** How long `plan` waits for a drone that has just booted to hold two telemetry samples. */
const RATE_WAIT_MS = 2_000;
const RATE_POLL_MS = 250;

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

/**
 * Validates the spec and reaches every targeted drone's /v1/health; writes nothing to any drone.
 * Exit 0 when a run could start, 4 when a drone is already HOT, 2 when too many drones are unreachable.
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
  let rate: number | null = null;
  try {
    await forEachDrone(plan.drones, { concurrency: plan.spec.push.concurrency, signal: new AbortController().signal }, async (drone) => {
      const reply = await client.health(drone);
      if (!reply.ok) {
        checks.push({ id: drone.id, ok: false, error: reply.message });
        return 'continue';
      }
      const config = reply.body.configs[plan.config.file];
      checks.push({
        id: drone.id,
        ok: config?.lock !== 'HOT',
        state: reply.body.state,
        ...(config ? { version: config.version, lock: config.lock } : {}),
      });
      return 'continue';
    });
    rate = await sampleRate(client, plan.drones.find((d) => checks.some((c) => c.id === d.id && c.error === undefined)));
  } finally {
    client.close();
  }
  const warnings = planWarnings(plan, rate);
  const hot = checks.filter((c) => c.lock === 'HOT').map((c) => c.id);
  const unreachable = checks.filter((c) => c.error !== undefined);
  const tooManyUnreachable = unreachable.length > allowed(plan.spec.abort.maxUnreachable, plan.drones.length);
  const exitCode = hot.length > 0 ? EXIT_CODES.aborted_hot : tooManyUnreachable ? EXIT_CODES.invalid : 0;
  if (options.output === 'json') {
    printJson({ ...planSummary(plan), exitCode, hot, unreachable: unreachable.map((c) => ({ id: c.id, error: c.error })), samplesPerSecond: rate, warnings });
    return exitCode;
  }
  const versions = new Map<string, number>();
  for (const c of checks) if (c.version) versions.set(c.version, (versions.get(c.version) ?? 0) + 1);
  const lines = [describePlan(plan), `health: ${checks.length - unreachable.length}/${plan.drones.length} drones answered; current ${plan.config.file}: ${[...versions].map(([v, n]) => `${v} ×${n}`).join(', ') || 'none'}`];
  for (const c of unreachable) lines.push(`  unreachable: ${c.id}: ${c.error}`);
  if (hot.length > 0) lines.push(`  HOT: ${hot.join(', ')} hold a local lock on ${plan.config.file}; a run would abort. Check those drones' /v1/locks.`);
  if (tooManyUnreachable) lines.push(`  too many drones unreachable for abort.max_unreachable: a run would abort.`);
  for (const warning of warnings) lines.push(`warning: ${warning}`);
  if (exitCode === 0) lines.push('ready: a run can start');
  process.stdout.write(`${lines.join('\n')}\n`);
  return exitCode;
}
