import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach } from 'vitest';
import { BIN, ROOT, runCli, shippedConfig, tempDir, type CliProcess, type CliResult, type SimProcess } from './cli.js';

/** Shared pieces of the end-to-end tests that drive real CLI processes against real drones. */

export const FILE = 'aim_lock_config.conf';

export interface ConfigView {
  readonly version: string;
  readonly sha256: string;
  readonly lock: 'free' | 'HOT';
  readonly fence: number;
}

export interface Health {
  readonly id: string;
  readonly state: 'active' | 'paused';
  readonly configs: Readonly<Record<string, ConfigView>>;
}

export interface RunReport {
  readonly id: string;
  readonly result: string;
  readonly exitCode: number;
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
  readonly drones: Readonly<Record<string, { readonly state: string; readonly version: string | null }>>;
  /** Above 10,000 drones: the counts, and `drones` lists only those outside the common outcome. */
  readonly droneSummary?: {
    readonly total: number;
    readonly states: Readonly<Record<string, number>>;
    readonly versions: Readonly<Record<string, number>>;
  };
  readonly hot: readonly string[];
  readonly attention: readonly string[];
  readonly reason: string;
  readonly verdicts: readonly { readonly step: string; readonly verdict: string; readonly summary: string }[];
  readonly notifications?: { readonly sent: number; readonly failed: number };
  readonly webhooks?: readonly {
    readonly name: string;
    readonly type: string;
    readonly ok: boolean;
    readonly error?: string;
  }[];
}

/** One row of `rollout lock ls --output json`. */
export interface LockRow {
  readonly key: string;
  readonly owner: { readonly host: string; readonly pid: number; readonly rollout: string; readonly bootId: string };
  readonly fence: number;
  readonly acquiredAt: number;
  readonly heartbeatAt: number;
  readonly ttlMs: number;
  readonly state: 'held' | 'stale';
  readonly staleReason?: string;
}

export function droneUrl(sim: SimProcess, id: string): string {
  return `${sim.url}/d/${id}`;
}

export function droneIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `drone-${i + 1}`);
}

export async function health(base: string): Promise<Health> {
  const response = await fetch(`${base}/v1/health`);
  if (!response.ok) throw new Error(`GET ${base}/v1/health answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Health;
}

export async function fleetHealth(sim: SimProcess, drones: number): Promise<Record<string, Health>> {
  const ids = droneIds(drones);
  const answers = await Promise.all(ids.map((id) => health(droneUrl(sim, id))));
  return Object.fromEntries(
    ids.map((id, i) => [id, answers[i]]).filter((entry): entry is [string, Health] => entry[1] !== undefined),
  );
}

/** The highest fence each drone accepted for FILE. */
export async function fleetFences(sim: SimProcess, drones: number): Promise<Record<string, number>> {
  const fleet = await fleetHealth(sim, drones);
  return Object.fromEntries(Object.entries(fleet).map(([id, drone]) => [id, drone.configs[FILE]?.fence ?? 0]));
}

/** A request to an agent, its body sent as JSON and a bearer `token` when one is given; its status and body text. */
export async function sendText(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, text: await response.text() };
}

/** `sendText`, its answer parsed as JSON: it throws when the body is not JSON. */
export async function sendJson(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await sendText(url, method, path, body, token);
  return { status, body: JSON.parse(text) as Record<string, unknown> };
}

/** Lifts a pause hold by hand (`{"rollout"}`), or every hold (`{"all": true}`), on each drone. */
export async function resumeFleet(
  sim: SimProcess,
  drones: number,
  body: { readonly rollout: string; readonly all?: true },
): Promise<void> {
  for (const id of droneIds(drones)) {
    const response = await fetch(`${droneUrl(sim, id)}/v1/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`resume of ${id} answered ${response.status}: ${await response.text()}`);
  }
}

export interface SpecOptions {
  /** The config's content; a `# <version>` line keeps each version's sha256 apart. @default the shipped v43 */
  readonly version?: string;
  /** A shipped config (rollouts/configs/<name>) as the source instead of the written one, still called `version`. */
  readonly shipped?: string;
  readonly bake?: string;
  readonly ttl?: string;
  readonly wait?: string;
  readonly concurrency?: number;
  readonly canary?: number;
  /** `fleet.mixed_versions`. @default unset (refuse) */
  readonly mixedVersions?: 'refuse' | 'adopt';
  /** `analysis.interval`. @default 500ms */
  readonly interval?: string;
  /** `analysis.min_samples`. @default 2 */
  readonly minSamples?: number;
  /** The `waves:` entries. @default one wave to 100 % with no bake */
  readonly waves?: readonly string[];
  /** `push.retries`. @default 1 */
  readonly retries?: number;
  /** `push.confirm_within`. @default unset (pushes are for good) */
  readonly confirmWithin?: string;
  /** The `analysis.metrics` entries, as YAML flow mappings. @default heart_rate max 120, trajectory_error max_increase 25% */
  readonly metrics?: readonly string[];
  /** More top-level YAML, appended as it is. */
  readonly extra?: string;
}

/**
 * A spec (and its config) in `dir`: the shipped good config, a canary of 3, one wave to 100 % with no
 * bake. The inventory always comes from `--inventory`.
 */
export async function writeSpec(dir: string, name: string, options: SpecOptions = {}): Promise<string> {
  const version = options.version ?? 'v43';
  const source =
    options.shipped === undefined ? await writeConfig(dir, name, version) : await shippedConfig(dir, options.shipped);
  const path = join(dir, `${name}.yaml`);
  await writeFile(
    path,
    [
      `name: ${name}`,
      'config:',
      `  file: ${FILE}`,
      `  source: ${source}`,
      `  version: ${version}`,
      'fleet:',
      `  inventory: ${join(dir, 'unused-fleet.yaml')}`,
      ...(options.mixedVersions ? [`  mixed_versions: ${options.mixedVersions}`] : []),
      `lock: { ttl: ${options.ttl ?? '15s'}, wait: ${options.wait ?? '0s'} }`,
      'canary:',
      `  drones: ${options.canary ?? 3}`,
      `  bake: ${options.bake ?? '1s'}`,
      'analysis:',
      `  interval: ${options.interval ?? '500ms'}`,
      `  min_samples: ${options.minSamples ?? 2}`,
      '  metrics:',
      ...(options.metrics ?? ['{ name: heart_rate, max: 120 }', '{ name: trajectory_error, max_increase: 25% }']).map(
        (metric) => `    - ${metric}`,
      ),
      'waves:',
      ...(options.waves ?? ['{ percent: 100, bake: 0s }']).map((wave) => `  - ${wave}`),
      `push: { concurrency: ${options.concurrency ?? 8}, timeout: 5s, retries: ${options.retries ?? 1}${options.confirmWithin === undefined ? '' : `, confirm_within: ${options.confirmWithin}`} }`,
      ...(options.extra === undefined ? [] : [options.extra]),
      '',
    ].join('\n'),
  );
  return path;
}

/** The shipped good config as `<dir>/<name>.conf`, its first line naming `version`. */
async function writeConfig(dir: string, name: string, version: string): Promise<string> {
  const path = join(dir, `${name}.conf`);
  await writeFile(
    path,
    `# aim lock config ${version}\naim_sensitivity = 0.85\nsafety_threshold = 0.95\nmax_turn_rate = 30\n`,
  );
  return path;
}

export function runArgs(spec: string, sim: SimProcess, stateDir: string): string[] {
  return ['run', spec, '--inventory', sim.inventory, '--output', 'json', '--state-dir', stateDir];
}

export function parseReport(result: CliResult): RunReport {
  try {
    return JSON.parse(result.stdout.trim()) as RunReport;
  } catch {
    throw new Error(
      `not one JSON report on stdout (exit ${result.code}, ${result.signal ?? 'no signal'}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

export async function lockTable(stateDir: string): Promise<LockRow[]> {
  const listed = await runCli(['lock', 'ls', '--output', 'json', '--state-dir', stateDir]);
  if (listed.code !== 0) throw new Error(`rollout lock ls exited ${listed.code}: ${listed.stderr}`);
  return JSON.parse(listed.stdout) as LockRow[];
}

/** Rejects when `done` has not settled within `ms`: a process that hangs fails its test instead of the run. */
export async function within<T>(done: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once a CLI run started with `--log-level info` has logged the stage `stage` (e.g. `canary: baking`). */
export function untilStage(run: CliProcess, stage: string, ms: number): Promise<void> {
  return within(
    (async () => {
      while (!run.output().stderr.includes(stage)) await new Promise((r) => setTimeout(r, 50));
    })(),
    ms,
    `the stage ${stage}`,
  );
}

/**
 * Children a test started; `reap()` (in afterEach) wakes stopped ones and SIGKILLs whatever still runs,
 * so a failing test leaves no process behind.
 */
export class Children {
  readonly #children = new Set<ChildProcess>();

  track<T extends { readonly child: ChildProcess }>(started: T): T {
    this.#children.add(started.child);
    return started;
  }

  async reap(): Promise<void> {
    const running = [...this.#children].filter((child) => child.exitCode === null && child.signalCode === null);
    this.#children.clear();
    await Promise.all(
      running.map(async (child) => {
        const exited = new Promise<void>((done) => child.once('exit', () => done()));
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }),
    );
  }
}

/**
 * A fresh temp dir (its name starting with `prefix`) for each test of the calling describe block; after
 * each test the children it started are reaped, then the dir is removed.
 */
export function tempDirPerTest(prefix: string, children: Children): { readonly path: string } {
  let dir: { path: string; remove(): Promise<void> } | undefined;
  beforeEach(async () => {
    dir = await tempDir(prefix);
  });
  afterEach(async () => {
    await children.reap();
    await dir?.remove();
    dir = undefined;
  });
  return {
    get path() {
      if (dir === undefined)
        throw new Error('tempDirPerTest: the dir exists from beforeEach to afterEach; read it in a test');
      return dir.path;
    },
  };
}

export interface AgentProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far (its logs). */
  readonly stderr: () => string;
  /** Its exit code once it is gone. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, and the exit code once it is gone. */
  stop(): Promise<number | null>;
}

/** `rollout agent --port 0 --output json` in its own process; the URL comes from its `{"id","url"}` line. */
export async function startAgentProcess(
  args: readonly string[],
  options: { readonly env?: NodeJS.ProcessEnv } = {},
): Promise<AgentProcess> {
  const child = spawn(process.execPath, [BIN, 'agent', '--port', '0', '--output', 'json', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout }).once('line', (line) => done((JSON.parse(line) as { url: string }).url));
    void exited.then((code) => fail(new Error(`rollout agent exited with ${code} before it was ready: ${stderr}`)));
  });
  return {
    url,
    child,
    stderr: () => stderr,
    exited,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
