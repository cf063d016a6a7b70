/**
 * `npm run bench`: the orchestrator against the bare HTTP ceiling on the same simulated fleet, plus the
 * lock, state-store and judge figures. Prints a table and writes bench-results.json; asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, freemem, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { benchJudge } from '../../src/analysis/bench.js';
import { benchEmbeddedLock } from '../../src/lock/bench.js';
import { benchStateStore } from '../../src/store/bench.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'bin.js');
const FILE = 'aim_lock_config.conf';
const CONCURRENCY = 64;

interface Sim {
  readonly url: string;
  readonly inventory: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

async function startSim(drones: number, extra: readonly string[], work: string): Promise<Sim> {
  const inventory = join(work, `fleet-${drones}.yaml`);
  const child = spawn(process.execPath, [BIN, 'fleet', 'sim', '--drones', String(drones), '--port', '0', '--inventory-out', inventory, '--output', 'json', '--dir', join(work, `drones-${drones}-${Date.now()}`), ...extra], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  running.add(child);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout! }).once('line', (line) => done((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => fail(new Error(`fleet sim exited with ${code}`)));
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

/** The bare client: node:http with keep-alive, a pool of CONCURRENCY workers, nothing else. */
function bareClient() {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const send = (url: string, method: string, body: object) =>
    new Promise<number>((done, fail) => {
      const payload = JSON.stringify(body);
      const req = request(url, { method, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      });
      req.on('error', fail);
      req.end(payload);
    });
  const forAll = async (count: number, work: (i: number) => Promise<unknown>) => {
    let next = 1;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next <= count) await work(next++);
      }),
    );
  };
  return { send, forAll, close: () => agent.destroy() };
}

function content(tag: string): { content: string; sha256: string } {
  const text = `# aim lock config ${tag}\naim_sensitivity = 0.85\nsafety_threshold = 0.95\nmax_turn_rate = 30\n`;
  return { content: text, sha256: createHash('sha256').update(text).digest('hex') };
}

async function writeSpec(work: string, name: string, inventory: string, extra = ''): Promise<string> {
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

/** Runs the real CLI; answers its wall time, exit code, report and peak RSS (VmHWM, polled). */
async function runCli(args: readonly string[]) {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  running.add(child);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  let peakKb = 0;
  const poll = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then(
      (status) => {
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakKb = Math.max(peakKb, kb);
      },
      () => undefined,
    );
  }, 50);
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  clearInterval(poll);
  running.delete(child);
  return { ms: performance.now() - started, code, report: JSON.parse(stdout) as { id: string; result: string }, peakMb: peakKb / 1024 };
}

async function auditOf(stateDir: string, id: string): Promise<{ t: number; kind: string; ok?: boolean; failure?: string }[]> {
  const text = await readFile(join(stateDir, 'rollouts', id, 'audit.ndjson'), 'utf8');
  return text.trim().split('\n').map((line) => JSON.parse(line) as { t: number; kind: string });
}

async function fleetRound(drones: number, work: string) {
  const sim = await startSim(drones, [], work);
  const bare = bareClient();
  try {
    await bare.forAll(drones, (i) => bare.send(`${sim.url}/d/drone-${i}/v1/pause`, 'POST', { rollout: 'warm-up' }).then(() => bare.send(`${sim.url}/d/drone-${i}/v1/resume`, 'POST', { rollout: 'warm-up' })));
    const stateDir = join(work, `state-${drones}`);
    const spec = await writeSpec(work, `bench-${drones}`, sim.inventory);
    const rollout = await runCli(['run', spec, '--output', 'json', '--state-dir', stateDir]);
    const { content: text, sha256 } = content(`bare-${drones}`);
    const bareStart = performance.now();
    await bare.forAll(drones, async (i) => {
      const base = `${sim.url}/d/drone-${i}/v1`;
      await bare.send(`${base}/pause`, 'POST', { rollout: 'bare' });
      await bare.send(`${base}/configs/${FILE}`, 'PUT', { rollout: 'bare', version: 'bare', sha256, fence: 1_000_000, content: text });
      await bare.send(`${base}/resume`, 'POST', { rollout: 'bare' });
    });
    const bareMs = performance.now() - bareStart;
    const audit = await auditOf(stateDir, rollout.report.id);
    const auditBytes = (await readFile(join(stateDir, 'rollouts', rollout.report.id, 'audit.ndjson'))).length;
    const persistMs = audit.filter((e) => e.kind === 'transition').length;
    return { drones, result: rollout.report.result, rolloutMs: rollout.ms, bareMs, ratio: rollout.ms / bareMs, peakMb: rollout.peakMb, auditBytesPerDrone: auditBytes / drones, transitions: persistMs };
  } finally {
    bare.close();
    await sim.stop();
  }
}

/** A failing drone in the last wave: how many pushes land after the failure, and the rollback's cost. */
async function abortRound(drones: number, work: string) {
  const failing = `drone-${drones - 10}`;
  const sim = await startSim(drones, ['--fail', failing], work);
  const bare = bareClient();
  try {
    await bare.forAll(drones, (i) => bare.send(`${sim.url}/d/drone-${i}/v1/health`, 'GET', {}));
    const stateDir = join(work, `state-abort-${drones}`);
    const spec = await writeSpec(work, `abort-${drones}`, sim.inventory);
    const rollout = await runCli(['run', spec, '--output', 'json', '--state-dir', stateDir]);
    const audit = await auditOf(stateDir, rollout.report.id);
    const failure = audit.find((e) => e.kind === 'push' && e.ok === false);
    const ended = audit.find((e) => e.kind === 'ended');
    const after = failure ? audit.filter((e) => e.kind === 'push' && e.ok === true && e.t > failure.t).length : -1;
    const rolledBack = audit.filter((e) => e.kind === 'rollback' && e.ok === true).length;
    // The bare client first installs a config of its own on as many drones (not timed), so that its
    // rollbacks restore content as the rollout's did, instead of answering "nothing to restore".
    const { content: text, sha256 } = content(`bare-abort-${drones}`);
    await bare.forAll(rolledBack, (i) =>
      bare.send(`${sim.url}/d/drone-${i}/v1/configs/${FILE}`, 'PUT', { rollout: 'bare', version: 'bare', sha256, fence: 2_000_000, content: text }),
    );
    const bareStart = performance.now();
    await bare.forAll(drones, async (i) => {
      const base = `${sim.url}/d/drone-${i}/v1`;
      if (i <= rolledBack) await bare.send(`${base}/configs/${FILE}/rollback`, 'POST', { rollout: 'bare', fence: 2_000_000 });
      await bare.send(`${base}/resume`, 'POST', { rollout: 'bare' });
    });
    const bareMs = performance.now() - bareStart;
    return {
      drones,
      result: rollout.report.result,
      pushesAfterFailure: after,
      failureToEndedMs: failure && ended ? ended.t - failure.t : -1,
      rolledBack,
      bareRollbackMs: bareMs,
      ratio: failure && ended ? (ended.t - failure.t) / bareMs : -1,
    };
  } finally {
    bare.close();
    await sim.stop();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'fleet-bench-'));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), freeGb: Math.round(freemem() / 2 ** 30), node: process.version };
    out(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, node ${machine.node}`);
    const lock = await benchEmbeddedLock(join(work, 'lock'), 300);
    out(`lock (embedded): acquire p50 ${lock.acquireMs.p50.toFixed(2)} ms p95 ${lock.acquireMs.p95.toFixed(2)} ms; release p50 ${lock.releaseMs.p50.toFixed(2)} ms p95 ${lock.releaseMs.p95.toFixed(2)} ms`);
    const store = await benchStateStore(join(work, 'store'), 1_000);
    out(`state store, 1,000 drones: ${store.transitions} transitions in ${store.totalMs.toFixed(0)} ms (${store.perTransitionMs.toFixed(1)} ms each); audit ${store.auditBytesPerDrone.toFixed(0)} B per drone`);
    const judge = benchJudge();
    out(`judge: one interval of ${judge.samplesPerSide} samples per side × ${judge.metrics} metrics: median ${judge.medianMs} ms, slowest ${judge.maxMs} ms`);
    const fleet = [];
    for (const drones of [1_000, 10_000]) {
      const round = await fleetRound(drones, work);
      fleet.push(round);
      out(
        `fleet ${drones}: rollout ${round.result} in ${(round.rolloutMs / 1000).toFixed(2)} s (${(drones / (round.rolloutMs / 1000)).toFixed(0)} drones/s), ` +
          `bare client ${(round.bareMs / 1000).toFixed(2)} s (${(drones / (round.bareMs / 1000)).toFixed(0)} drones/s), b/a ${round.ratio.toFixed(2)}, ` +
          `peak RSS ${round.peakMb.toFixed(0)} MB, audit ${round.auditBytesPerDrone.toFixed(0)} B/drone`,
      );
    }
    const [small, large] = fleet;
    if (small && large) {
      out(`growth 1,000 → 10,000: time ×${(large.rolloutMs / small.rolloutMs).toFixed(1)}, peak RSS ×${(large.peakMb / small.peakMb).toFixed(1)}`);
      out(`persistence share of the 1,000-drone rollout: ${((store.totalMs / small.rolloutMs) * 100).toFixed(1)}% (store bench time / rollout wall time)`);
    }
    const abort = await abortRound(10_000, work);
    out(
      `abort at 10,000 (failing drone in the last wave): ${abort.result}; pushes that succeeded after the failure: ${abort.pushesAfterFailure} (concurrency ${CONCURRENCY}); ` +
        `failure → rolled back and resumed ${(abort.failureToEndedMs / 1000).toFixed(2)} s for ${abort.rolledBack} rollbacks; bare client ${(abort.bareRollbackMs / 1000).toFixed(2)} s; ratio ${abort.ratio.toFixed(2)}`,
    );
    await writeFile(join(ROOT, 'bench-results.json'), `${JSON.stringify({ at: new Date().toISOString(), machine, lock, store, judge, fleet, abort }, null, 2)}\n`);
    out('figures written to bench-results.json');
  } finally {
    for (const child of running) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
}

await main();
