import { Writable } from 'node:stream';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { gaussian, seededRandom } from '../../src/analysis/noise.js';
import type { DroneClient, DroneReply } from '../../src/fleet/drone-client.js';
import type { TelemetryBody, TelemetrySample } from '../../src/protocol/v1.js';
import { AnalysisStage } from '../../src/rollout/effects/analysis.js';
import type { RolloutRuntime } from '../../src/rollout/context.js';
import { Ledger } from '../../src/rollout/ledger.js';
import type { Drone, MetricSpec, Plan, RolloutSpec } from '../../src/spec/types.js';
import { DEFAULT_ANALYSIS, fleetOf, specWithDefaults } from '../helpers/spec.js';

const FILE = 'aim_lock_config.conf';
const OLD = 'a'.repeat(64);
const GOOD = 'b'.repeat(64);
const BAD = 'c'.repeat(64);
const SAMPLE_MS = 200;
/** Mean trajectory error per config, as the simulator's model: the bad config is +90%. */
const TRAJECTORY: Readonly<Record<string, number>> = { [OLD]: 0.02, [GOOD]: 0.02, [BAD]: 0.038 };

const METRICS: MetricSpec[] = [
  { name: 'heart_rate', max: 120, direction: 'either' },
  { name: 'trajectory_error', maxIncrease: 0.25, direction: 'increase', allowedIncrease: 0.1 },
];

/** Drones on loopback in spirit: telemetry computed from the clock and the config each drone runs. */
class FakeFleet {
  now = 1_000_000;
  readonly unreachable = new Set<string>();
  readonly hot = new Set<string>();
  readonly requests: string[] = [];
  /** Per drone: [from t, sha256] in time order. */
  readonly #configs = new Map<string, [number, string][]>();

  constructor(ids: readonly string[]) {
    for (const id of ids) this.#configs.set(id, [[0, OLD]]);
  }

  /** As the agent: samples after this instant follow the new config. */
  install(id: string, sha256: string): void {
    this.#configs.get(id)?.push([this.now, sha256]);
  }

  #configAt(id: string, t: number): string {
    const history = this.#configs.get(id) ?? [];
    return history.filter(([from]) => from < t).at(-1)?.[1] ?? OLD;
  }

  telemetry = async (drone: Drone, since: number): Promise<DroneReply<TelemetryBody>> => {
    this.requests.push(drone.id);
    if (this.unreachable.has(drone.id)) return { ok: false, kind: 'unreachable', message: 'connect ECONNREFUSED' };
    if (this.hot.has(drone.id)) return { ok: false, kind: 'hot', message: `lock mismatch: ${FILE} HOT` };
    const latest = Math.floor(this.now / SAMPLE_MS);
    const samples: TelemetrySample[] = [];
    for (let seq = Math.max(since + 1, latest - 199); seq <= latest; seq += 1) {
      const t = seq * SAMPLE_MS;
      const random = seededRandom(Number(drone.id.slice(1)) * 1_000_003 + seq);
      const m = TRAJECTORY[this.#configAt(drone.id, t)] ?? 0.02;
      samples.push({
        seq,
        t,
        metrics: { heart_rate: gaussian(random, 72, 2.5), trajectory_error: gaussian(random, m, 0.1 * m) },
      });
    }
    const sha256 = this.#configAt(drone.id, this.now + 1);
    const configs = { [FILE]: { version: sha256.slice(0, 4), sha256, lock: 'free' as const, fence: 1 } };
    return { ok: true, body: { samples, next: latest, configs } };
  };
}

function specWith(analysis: Partial<RolloutSpec['analysis']> = {}): RolloutSpec {
  return specWithDefaults({
    config: { file: FILE, source: '/a/aim.conf', validate: [] },
    canary: { drones: 2, bakeMs: 3_000, approval: 'auto', random: false },
    analysis: { ...DEFAULT_ANALYSIS, intervalMs: 1_000, metrics: METRICS, ...analysis },
    waves: [
      { percent: 66, bakeMs: 1_000 },
      { percent: 100, bakeMs: 1_000 },
    ],
    push: { concurrency: 4, timeoutMs: 5_000, retries: 0 },
  });
}

interface Harness {
  readonly stage: AnalysisStage;
  readonly fleet: FakeFleet;
  readonly ledger: Ledger;
  readonly logs: Record<string, unknown>[];
  /** What the stage wrote to the audit log. */
  readonly audit: Record<string, unknown>[];
  /** Puts the step's drones on `sha256`, as the push stage would, and marks the push. */
  push(stepIndex: number, sha256: string): void;
  advance(ms: number): void;
}

function harness(options: { sha256?: string; analysis?: Partial<RolloutSpec['analysis']> } = {}): Harness {
  const drones = fleetOf(6);
  const sha256 = options.sha256 ?? GOOD;
  const plan: Plan = {
    specPath: '/a/rollout.yaml',
    spec: specWith(options.analysis),
    config: { file: FILE, sourcePath: '/a/aim.conf', content: 'aim_sensitivity = 0.85\n', sha256, version: 'v2' },
    drones,
    steps: [
      { index: 0, kind: 'canary', name: 'canary', percent: 33, drones: ['d1', 'd2'], bakeMs: 3_000 },
      { index: 1, kind: 'wave', name: 'wave 1', percent: 66, drones: ['d3', 'd4'], bakeMs: 1_000 },
      { index: 2, kind: 'wave', name: 'wave 2', percent: 100, drones: ['d5', 'd6'], bakeMs: 1_000 },
    ],
  };
  const fleet = new FakeFleet(drones.map((drone) => drone.id));
  const ledger = new Ledger();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const audit: Record<string, unknown>[] = [];
  // Only what the analysis stage uses; its audit events are kept for the tests to read.
  const runtime = {
    recorder: { audit: (kind: string, fields: Record<string, unknown>) => audit.push({ kind, ...fields }) },
    rolloutId: 'r1',
    plan,
    client: { telemetry: fleet.telemetry } as unknown as DroneClient,
    ledger,
    logger: pino({ level: 'info' }, sink),
    observer: { progress: () => undefined },
    now: () => fleet.now,
    drones: new Map(drones.map((d) => [d.id, d])),
    configSeq: new Map(),
  } as unknown as RolloutRuntime;
  const stage = new AnalysisStage(runtime);
  return {
    stage,
    fleet,
    ledger,
    logs,
    audit,
    push(stepIndex, pushed) {
      for (const id of plan.steps[stepIndex]?.drones ?? []) {
        fleet.install(id, pushed);
        const progress = ledger.edit(id);
        progress.pushSent = true;
        progress.now = { version: 'v2', sha256: pushed };
      }
      stage.markPushed();
    },
    advance(ms) {
      fleet.now += ms;
    },
  };
}

const signal = new AbortController().signal;

describe('AnalysisStage', () => {
  let h: Harness;

  beforeEach(() => {
    h = harness();
    h.advance(5_000);
  });

  it('judges the canary against the baseline drones and logs every input with the verdict', async () => {
    h.push(0, GOOD);
    h.advance(1_000);
    const outcome = await h.stage.analyse({ stepIndex: 0, interval: 0 }, signal);
    expect(outcome).toMatchObject({ hot: [], verdict: 'pass' });
    expect(outcome.summary).toMatch(
      /^score 100 ≥ 95; heart_rate pass: .*; trajectory_error pass: .* \[baseline: baseline drones\]$/,
    );
    const logged = h.logs.find((line) => line.msg === 'analysis interval judged');
    expect(logged).toMatchObject({
      step: 'canary',
      interval: 1,
      verdict: 'pass',
      score: 100,
      canaryDrones: 2,
      baselineDrones: 4,
    });
    const trajectory = (logged?.metrics as Record<string, unknown>[])[1];
    expect(trajectory).toMatchObject({
      metric: 'trajectory_error',
      verdict: 'pass',
      canarySamples: 10,
      baselineSamples: 20,
      canaryDrones: 2,
      test: 'exact',
      thresholds: { maxIncrease: 0.25, comparison: { direction: 'increase', confidence: 0.98, allowedIncrease: 0.1 } },
    });
    for (const key of ['canaryMedian', 'baselineMedian', 'effect', 'u', 'pValue'])
      expect(trajectory?.[key]).toEqual(expect.any(Number));
    // The same inputs go to the audit log, the answer to "why did it roll back?".
    expect(h.audit).toHaveLength(1);
    expect(h.audit[0]).toMatchObject({
      kind: 'judgement',
      step: 'canary',
      interval: 1,
      verdict: 'pass',
      score: 100,
      metrics: logged?.metrics,
    });
  });

  it('fails a canary whose trajectory error rose, and only counts samples taken after the push', async () => {
    h = harness({ sha256: BAD });
    h.advance(5_000);
    h.push(0, BAD);
    h.advance(1_000);
    const outcome = await h.stage.analyse({ stepIndex: 0, interval: 0 }, signal);
    expect(outcome.verdict).toBe('fail');
    expect(outcome.summary).toContain('trajectory_error high: ');
    const logged = h.logs.find((line) => line.msg === 'analysis interval judged');
    // Five samples a second from each of 2 canary drones: the 40 s of history before the push are left out.
    expect((logged?.metrics as { canarySamples: number }[])[1]?.canarySamples).toBe(10);
  });

  it('in the last wave, compares with the samples its drones gave just before their push', async () => {
    h = harness({ sha256: BAD });
    h.advance(5_000);
    h.push(0, BAD);
    h.push(1, BAD);
    h.advance(1_000);
    const capture = await h.stage.capturePrePush(2, signal);
    expect(capture).toEqual({ step: 'wave 2', drones: 2, reporting: 2, values: 2 * 5 * 2, hot: [], unreachable: [] });
    h.push(2, BAD);
    h.advance(1_000);
    const outcome = await h.stage.analyse({ stepIndex: 2, interval: 0 }, signal);
    expect(outcome.verdict).toBe('fail');
    expect(outcome.summary).toContain('[baseline: pre-push]');
    expect(outcome.summary).toContain('trajectory_error high: ');
  });

  it('passes a good last wave against its pre-push samples', async () => {
    h.push(0, GOOD);
    h.push(1, GOOD);
    h.advance(1_000);
    await h.stage.capturePrePush(2, signal);
    h.push(2, GOOD);
    h.advance(1_000);
    const outcome = await h.stage.analyse({ stepIndex: 2, interval: 0 }, signal);
    expect(outcome.verdict).toBe('pass');
    expect(outcome.summary).toContain('[baseline: pre-push]');
  });

  it('without a pre-push capture, falls back to the latest live baseline, and without one has no data', async () => {
    h.push(0, GOOD);
    h.advance(1_000);
    await h.stage.analyse({ stepIndex: 0, interval: 0 }, signal);
    h.push(1, GOOD);
    h.push(2, GOOD);
    h.advance(1_000);
    expect((await h.stage.analyse({ stepIndex: 2, interval: 0 }, signal)).summary).toContain(
      '[baseline: earlier baseline]',
    );

    const fresh = harness();
    fresh.advance(5_000);
    for (const step of [0, 1, 2]) fresh.push(step, GOOD);
    fresh.advance(1_000);
    const outcome = await fresh.stage.analyse({ stepIndex: 2, interval: 0 }, signal);
    expect(outcome.verdict).toBe('inconclusive');
    expect(outcome.summary).toContain('[baseline: none]');
  });

  it('keeps the first capture of a step and skips drones already pushed', async () => {
    h.push(0, GOOD);
    h.ledger.edit('d3').pushSent = true;
    const first = await h.stage.capturePrePush(1, signal);
    expect(first).toMatchObject({ drones: 1, reporting: 1 });
    h.fleet.requests.length = 0;
    expect(await h.stage.capturePrePush(1, signal)).toBe(first);
    expect(h.fleet.requests).toEqual([]);
  });

  it('skips a drone that already runs the new config when capturing', async () => {
    h.fleet.install('d5', GOOD);
    expect(await h.stage.capturePrePush(2, signal)).toMatchObject({ drones: 2, reporting: 1 });
  });

  it('never passes canary drones that stopped answering: no data, inconclusive, and says so', async () => {
    h.push(0, GOOD);
    h.advance(1_000);
    h.fleet.unreachable.add('d1').add('d2');
    const outcome = await h.stage.analyse({ stepIndex: 0, interval: 0 }, signal);
    expect(outcome.verdict).toBe('inconclusive');
    expect(outcome.summary).toContain('heart_rate nodata: 0 canary samples, need 3');
    expect(outcome.summary).toContain('2 of 2 canary drones gave no telemetry');
  });

  it('has no data with fewer reporting canary drones than min_reporting_drones', async () => {
    h = harness({ analysis: { minReportingDrones: 2 } });
    h.advance(5_000);
    h.push(0, GOOD);
    h.advance(1_000);
    h.fleet.unreachable.add('d2');
    const outcome = await h.stage.analyse({ stepIndex: 0, interval: 0 }, signal);
    expect(outcome.verdict).toBe('inconclusive');
    expect(outcome.summary).toContain('1 canary drones reporting, need 2');
  });

  it('reports HOT drones as a failed interval at once', async () => {
    h.push(0, GOOD);
    h.advance(1_000);
    h.fleet.hot.add('d1');
    await expect(h.stage.analyse({ stepIndex: 0, interval: 0 }, signal)).resolves.toMatchObject({
      hot: ['d1'],
      verdict: 'fail',
    });
  });
});
