/**
 * What the bench's rounds share: the simulated fleet in its own process, the bare node:http client,
 * specs, and the real CLI run with its peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { locksAnswerSchema, PATHS, type LocksAnswer } from '../src/protocol/v1.js';
import type { SimStatsView } from '../src/simulator/sim-stats.js';

// Compiled to dist-bench/bench/harness.js: the repository root is two folders up.
export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'bin.js');
export const FILE = 'aim_lock_config.conf';
export const CONCURRENCY = 64;

export interface Sim {
  readonly url: string;
  readonly inventory: string;
  stop(): Promise<void>;
}

export const running = new Set<ChildProcess>();

export async function startSim(drones: number, extra: readonly string[], work: string): Promise<Sim> {
  const inventory = join(work, `fleet-${drones}.yaml`);
  const child = spawn(
    process.execPath,
    [
      BIN,
      'fleet',
      'sim',
      '--drones',
      String(drones),
      '--port',
      '0',
      '--inventory-out',
      inventory,
      '--output',
      'json',
      // An in-memory fleet keeps no dir (`fleet sim --in-memory` refuses `--dir`).
      ...(extra.includes('--in-memory') ? [] : ['--dir', join(work, `drones-${drones}-${Date.now()}`)]),
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  running.add(child);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout }).once('line', (line) => done((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code, signal) =>
      fail(new Error(`fleet sim exited with ${code === null ? `signal ${signal ?? 'unknown'}` : `code ${code}`}`)),
    );
  });
  return {
    url,
    inventory,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}

/** PEM texts for a bare client over HTTPS: the CA to trust, and a client certificate for mutual TLS. */
export interface BareTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** An answer's body, read to its end as UTF-8 text. */
function textOf(res: IncomingMessage): Promise<string> {
  return new Promise((done, fail) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.on('end', () => done(text));
    res.on('error', fail);
  });
}

/** How long the reading client gives a request, as a rollout's `push.timeout` in the scale specs. */
const READING_TIMEOUT_MS = 10_000;

/**
 * The bare client: node:http (node:https with `tls`) with keep-alive, a pool of CONCURRENCY workers,
 * nothing else. With `reading`, it does what any orchestrator must do besides: it reads every answer and
 * parses its JSON, under a timer per request.
 */
export function bareClient(tls?: BareTls, reading = false) {
  const agent =
    tls === undefined
      ? new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
      : new HttpsAgent({ keepAlive: true, maxSockets: CONCURRENCY, ...tls });
  const send = (url: string, method: string, body: object) =>
    new Promise<number>((done, fail) => {
      const payload = JSON.stringify(body);
      const req = (tls === undefined ? request : httpsRequest)(
        url,
        {
          method,
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          if (!reading) {
            res.resume();
            res.on('end', () => done(res.statusCode ?? 0));
            return;
          }
          textOf(res).then((text) => {
            clearTimeout(timer);
            try {
              JSON.parse(text);
              done(res.statusCode ?? 0);
            } catch (error) {
              fail(new Error(`the answer from ${url} is not JSON`, { cause: error }));
            }
          }, fail);
        },
      );
      const timer = reading
        ? setTimeout(
            () => req.destroy(new Error(`no answer from ${url} in ${READING_TIMEOUT_MS} ms`)),
            READING_TIMEOUT_MS,
          )
        : undefined;
      req.on('error', (error) => {
        clearTimeout(timer);
        fail(error);
      });
      req.end(payload);
    });
  /** A GET whose answer is wanted (outside the timed requests): its status and text. */
  const read = (url: string) =>
    new Promise<{ status: number; text: string }>((done, fail) => {
      const req = (tls === undefined ? request : httpsRequest)(url, { agent }, (res) => {
        textOf(res).then((text) => done({ status: res.statusCode ?? 0, text }), fail);
      });
      req.on('error', fail);
      req.end();
    });
  const forAll = async (count: number, work: (i: number) => Promise<unknown>) => {
    let next = 1;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next <= count) await work(next++);
      }),
    );
  };
  return { send, read, forAll, close: () => agent.destroy() };
}

export type BareClient = ReturnType<typeof bareClient>;

/** Pauses and resumes every drone once, so both sides of a round meet a fleet with its sockets warm. */
export function warmUp(client: BareClient, url: string, drones: number): Promise<void> {
  return client.forAll(drones, (i) =>
    client
      .send(`${url}/d/drone-${i}/v1/pause`, 'POST', { rollout: 'warm-up' })
      .then(() => client.send(`${url}/d/drone-${i}/v1/resume`, 'POST', { rollout: 'warm-up' })),
  );
}

/**
 * The fence a bare rollout on this fleet must carry: one above the highest any drone has accepted
 * (`GET /v1/locks`, every drone: a rollout before it may have reached only some). Untimed.
 */
export async function nextFence(client: BareClient, url: string, drones: number): Promise<number> {
  let highest = 0;
  await client.forAll(drones, async (i) => {
    const where = `${url}/d/drone-${i}${PATHS.locks}`;
    const answer = await client.read(where);
    let locks: LocksAnswer;
    try {
      if (answer.status !== 200) throw new Error(`answered ${answer.status}`);
      locks = locksAnswerSchema.parse(JSON.parse(answer.text));
    } catch (error) {
      throw new Error(`reading the fences of ${where} for a bare rollout's fence failed`, { cause: error });
    }
    highest = Math.max(highest, locks.fences[FILE] ?? 0);
  });
  return highest + 1;
}

/**
 * The bare client's answers, each of which must be 200: a baseline whose requests were refused did less
 * than a rollout does, so its time is not a rollout's.
 */
export class AnswerCheck {
  readonly #who: string;
  readonly #refused: string[] = [];

  /** `who`: what made the requests, for the error (`the bare client's rollout bare-2000`). */
  constructor(who: string) {
    this.#who = who;
  }

  /** Notes `status`, the answer to `what` (`drone-7's push`). */
  readonly expectOk = (status: number, what: string): void => {
    if (status !== 200) this.#refused.push(`${status} to ${what}`);
  };

  /** Throws, naming the first three, if any answer was not 200. */
  assertAllOk(): void {
    const refused = this.#refused;
    if (refused.length === 0) return;
    throw new Error(
      `${this.#who} got ${refused.length} answers other than 200 (the first three: ${refused.slice(0, 3).join(', ')}); ` +
        "its time would not be a rollout's",
    );
  }
}

/** Who a bare rollout is and the fence it writes with: a new rollout each time, above every fence before it. */
export interface BareRun {
  readonly tag: string;
  readonly fence: number;
}

/**
 * The bare client's rollout: pause, push and resume per drone, nothing else; answers its wall time (ms).
 * Give each run a new `tag`: it is the rollout's id, and a drone ignores (with a 200) a pause that comes
 * after the same rollout's resume. Its fence must be above the fleet's (`nextFence`): a lower one is
 * refused. Any answer but 200 fails it: a baseline whose requests were refused did less than a rollout.
 */
export async function bareRollout(client: BareClient, url: string, drones: number, run: BareRun): Promise<number> {
  const { content: text, sha256 } = content(run.tag);
  const answers = new AnswerCheck(`the bare client's rollout ${run.tag}`);
  const { expectOk } = answers;
  const started = performance.now();
  await client.forAll(drones, async (i) => {
    const base = `${url}/d/drone-${i}/v1`;
    expectOk(await client.send(`${base}/pause`, 'POST', { rollout: run.tag }), `drone-${i}'s pause`);
    const push = { rollout: run.tag, version: run.tag, sha256, fence: run.fence, content: text };
    expectOk(await client.send(`${base}/configs/${FILE}`, 'PUT', push), `drone-${i}'s push`);
    expectOk(await client.send(`${base}/resume`, 'POST', { rollout: run.tag }), `drone-${i}'s resume`);
  });
  const ms = performance.now() - started;
  answers.assertAllOk();
  return ms;
}

/**
 * The bare client's rollout in a fresh process (bare-process.ts), timed from spawn to exit: node's
 * start-up and the client's first requests on code not yet optimized, as a `rollout run` pays them.
 * `reading`: the client reads and parses every answer (see bareClient).
 */
export async function bareInFreshProcess(url: string, drones: number, run: BareRun, reading = false): Promise<number> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist-bench', 'bench', 'bare-process.js'),
      url,
      String(drones),
      run.tag,
      String(run.fence),
      ...(reading ? ['reading'] : []),
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  running.add(child);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) =>
    child.once('exit', (c, s) => done([c, s])),
  );
  running.delete(child);
  if (code !== 0) {
    throw new Error(
      `the bare client's process exited with ${code === null ? `signal ${signal ?? 'unknown'}` : `code ${code}`}`,
    );
  }
  return performance.now() - started;
}

export function content(tag: string): { content: string; sha256: string } {
  const text = `# aim lock config ${tag}\naim_sensitivity = 0.85\nsafety_threshold = 0.95\nmax_turn_rate = 30\n`;
  return { content: text, sha256: createHash('sha256').update(text).digest('hex') };
}

export async function writeSpec(work: string, name: string, inventory: string, extra = ''): Promise<string> {
  const config = join(work, `${name}.conf`);
  await writeFile(config, content(name).content);
  const path = join(work, `${name}.yaml`);
  await writeFile(
    path,
    [
      `name: ${name}`,
      `config: { file: ${FILE}, source: ${config} }`,
      `fleet: { inventory: ${inventory} }`,
      'canary: { percent: 1, bake: 0s }',
      'waves: [{ percent: 50, bake: 0s }, { percent: 100, bake: 0s }]',
      `push: { concurrency: ${CONCURRENCY}, timeout: 10s, retries: 1 }`,
      extra,
    ].join('\n'),
  );
  return path;
}

/**
 * Runs the real CLI; answers its wall time, when it was spawned and exited (epoch ms), its exit code,
 * report and peak RSS (VmHWM, polled), and the NDJSON log lines on its stderr when `logs` is set.
 */
export async function runCli(args: readonly string[], logs = false) {
  const spawnedAt = Date.now();
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', logs ? 'pipe' : 'ignore'] });
  running.add(child);
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const logLines: string[] = [];
  if (child.stderr !== null) createInterface({ input: child.stderr }).on('line', (line) => logLines.push(line));
  let peakKb = 0;
  const poll = setInterval(() => {
    const pid = child.pid;
    if (pid === undefined) return; // the spawn failed: no process to measure
    readFile(`/proc/${pid}/status`, 'utf8').then(
      (status) => {
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakKb = Math.max(peakKb, kb);
      },
      () => undefined,
    );
  }, 50);
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  const exitedAt = Date.now();
  clearInterval(poll);
  running.delete(child);
  return {
    ms: performance.now() - started,
    spawnedAt,
    exitedAt,
    code,
    stdoutBytes: Buffer.byteLength(stdout),
    report: JSON.parse(stdout) as { id: string; result: string; drones?: Record<string, { state: string }> },
    peakMb: peakKb / 1024,
    logLines,
  };
}

export async function auditOf(
  stateDir: string,
  id: string,
): Promise<{ t: number; kind: string; ok?: boolean; failure?: string }[]> {
  const text = await readFile(join(stateDir, 'rollouts', id, 'audit.ndjson'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { t: number; kind: string });
}

/** `GET /sim/stats`: what the simulator's drones saw (see SimStatsView in src/simulator/sim-stats.ts). */
export async function simStats(url: string): Promise<SimStatsView> {
  const response = await fetch(`${url}/sim/stats`);
  if (!response.ok) throw new Error(`GET ${url}/sim/stats answered ${response.status}`);
  return (await response.json()) as SimStatsView;
}
