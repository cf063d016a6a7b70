import { closestKey } from '../spec/did-you-mean.js';
import type { Drone, Plan } from '../spec/types.js';
import { isHot, type AgentFeature } from '../protocol/v1.js';
import { compilePushGate } from '../spec/push-gate.js';
import { listIds } from '../wording.js';
import { DroneClient, misconfiguration } from './drone-client.js';
import type { DroneTls } from './drone-tls.js';
import { forEachDrone, spread } from './for-each-drone.js';

/** One drone's answer to the preflight's health check. */
export interface DroneCheck {
  readonly id: string;
  readonly state?: string;
  readonly version?: string;
  readonly sha256?: string;
  readonly lock?: string;
  readonly fence?: number;
  /** No answer, or an answer that is not the protocol. */
  readonly error?: string;
  /** An answer that says the rollout is set up wrong (401, 404, a certificate that does not verify), with what to check. */
  readonly misconfigured?: string;
  /** What the drone's agent can do beyond the first protocol (`pause_hold`); empty for an older agent. */
  readonly features?: readonly string[];
  /** The vehicle's operational state as sent, from an agent with `operational_state` (the gate checks it). */
  readonly operational?: unknown;
}

export interface Preflight {
  readonly checks: readonly DroneCheck[];
  /** Drones already HOT on the plan's config file: a run would abort. */
  readonly hot: readonly string[];
  /** Telemetry samples per second of one reachable drone, or null if it held too few to tell. */
  readonly samplesPerSecond: number | null;
  /** Metrics the spec judges that no sampled drone reports, each with a did-you-mean. */
  readonly unknownMetrics: readonly string[];
}

/** How long the preflight waits for a drone that has just booted to hold two telemetry samples. */
const RATE_WAIT_MS = 2_000;
const RATE_POLL_MS = 250;
/** Drones whose telemetry the preflight reads for the metric names they report. */
const METRIC_DRONES = 8;

/**
 * Reaches every targeted drone's /v1/health and a few drones' telemetry, and writes nothing to any
 * drone: what `rollout plan` reports before a run. `tls` is for `https://` drones (loadDroneTls).
 */
export async function preflight(plan: Plan, token: string | undefined, tls?: DroneTls): Promise<Preflight> {
  const client = new DroneClient({
    timeoutMs: plan.spec.push.timeoutMs,
    retries: 0,
    maxSockets: plan.spec.push.concurrency,
    ...(token === undefined ? {} : { token }),
    ...(tls === undefined ? {} : { tls }),
  });
  const checks: DroneCheck[] = [];
  const hot: string[] = [];
  try {
    await forEachDrone(
      plan.drones,
      { concurrency: plan.spec.push.concurrency, signal: new AbortController().signal },
      async (drone) => {
        const reply = await client.health(drone);
        if (!reply.ok) {
          const misconfigured = misconfiguration(reply);
          checks.push({
            id: drone.id,
            error: reply.message,
            ...(misconfigured === undefined ? {} : { misconfigured }),
          });
          return 'continue';
        }
        const config = reply.body.configs[plan.config.file];
        if (isHot(reply.body.configs, plan.config.file)) hot.push(drone.id);
        checks.push({
          id: drone.id,
          state: reply.body.state,
          features: reply.body.features ?? [],
          ...(reply.body.operational === undefined ? {} : { operational: reply.body.operational }),
          ...(config ? { version: config.version, sha256: config.sha256, lock: config.lock, fence: config.fence } : {}),
        });
        return 'continue';
      },
    );
    // In the inventory's order, not the order the answers came in: plan's output is the same every time.
    const order = new Map(plan.drones.map((drone, index) => [drone.id, index]));
    checks.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    hot.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
    const healthy = new Set(checks.filter((c) => c.error === undefined).map((c) => c.id));
    const reachable = plan.drones.filter((d) => healthy.has(d.id));
    const samplesPerSecond = await sampleRate(client, reachable[0]);
    const metrics = await reportedMetrics(client, spread(reachable, METRIC_DRONES));
    return { checks, hot, samplesPerSecond, unknownMetrics: unknownMetrics(plan, metrics) };
  } finally {
    client.close();
  }
}

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
  // Set in the callback below, which TypeScript's narrowing does not follow: `as boolean` keeps it from
  // taking this for always false.
  let read = false as boolean;
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
    // A provider's metric comes from the provider; `plan` checks its query there.
    if (metric.provider !== undefined || reported.has(metric.name)) return [];
    const guess = closestKey(metric.name, known);
    return [
      `analysis.metrics[${index}].name: no drone reports ${JSON.stringify(metric.name)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}; ` +
        `the drones report: ${known.join(', ') || 'no metrics'}`,
    ];
  });
}

/** What each agent feature protects, for the warning about drones whose agent lacks it. */
const FEATURE_PROTECTS: Readonly<Record<AgentFeature, string>> = {
  pause_hold: 'pause holds that lapse: if this rollout dies, such a drone stays paused until `rollout resume`',
  trial_config: 'trial configs (push.confirm_within): a push to such a drone stays until rolled back',
  operational_state:
    'an operational state (gates.push_when): the gate holds such a drone back until gates.wait runs out, since it cannot tell whether the drone flies',
  signed_config: 'signature checks (--trust-key): such a drone takes any push, signed (config.sign) or not',
};

/** The agent features a run of this plan relies on. */
function featuresUsed(plan: Plan): AgentFeature[] {
  return [
    ...(plan.spec.pause.fleet ? (['pause_hold'] as const) : []),
    ...(plan.spec.push.confirmWithinMs === undefined ? [] : (['trial_config'] as const)),
    ...(plan.spec.gates === undefined ? [] : (['operational_state'] as const)),
    ...(plan.spec.config.sign === undefined ? [] : (['signed_config'] as const)),
  ];
}

/** A drone the operational gate would hold back if its push came now, and why. */
export interface HeldBack {
  readonly id: string;
  readonly reason: string;
}

/** The reachable drones `gates.push_when` holds back as they answered the preflight; empty without a gate. */
export function heldBackNow(plan: Plan, checks: readonly DroneCheck[]): HeldBack[] {
  if (plan.spec.gates === undefined) return [];
  const gate = compilePushGate(plan.spec.gates.pushWhen);
  const byId = new Map(plan.drones.map((drone) => [drone.id, drone]));
  return checks.flatMap((check) => {
    const drone = byId.get(check.id);
    if (drone === undefined || check.error !== undefined) return [];
    const answer = gate.check({ id: drone.id, labels: drone.labels, operational: check.operational });
    return answer.pass ? [] : [{ id: drone.id, reason: answer.reason }];
  });
}

/** A warning per agent feature the plan relies on that some reachable drones lack, naming them: their agent predates it. */
export function missingFeatures(plan: Plan, checks: readonly DroneCheck[]): string[] {
  return featuresUsed(plan).flatMap((feature) => {
    const lacking = checks.filter((check) => check.features !== undefined && !check.features.includes(feature));
    if (lacking.length === 0) return [];
    const ids = listIds(lacking.map((check) => check.id));
    return [`${ids} ${lacking.length === 1 ? 'runs an agent' : 'run agents'} without ${FEATURE_PROTECTS[feature]}`];
  });
}
