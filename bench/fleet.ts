/**
 * `npm run bench`: the orchestrator against the bare HTTP ceiling on the same simulated fleet, HTTPS and
 * mutual TLS against plain HTTP, plus the lock, state-store and judge figures. Prints a table and writes bench-results.json; asserts nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { cpus, freemem, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { SimStatsView } from '../src/simulator/sim-stats.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { createTestPki } from '../test/helpers/tls.js';
import { benchJudge } from './analysis.js';
import { benchEmbeddedLock } from './lock.js';
import { benchEtcdLock } from './lock-etcd.js';
import { benchStateStore } from './store.js';
import { benchEtcdStateStore } from './store-etcd.js';

// Compiled to dist-bench/bench/fleet.js: the repository root is two folders up.
const ROOT = resolve(import.meta.dirname, '..', '..');
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
      '--dir',
      join(work, `drones-${drones}-${Date.now()}`),
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
interface BareTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * The bare client: node:http (node:https with `tls`) with keep-alive, a pool of CONCURRENCY workers,
 * nothing else.
 */
function bareClient(tls?: BareTls) {
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
          res.resume();
          res.on('end', () => done(res.statusCode ?? 0));
        },
      );
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
  clearInterval(poll);
  running.delete(child);
  return {
    ms: performance.now() - started,
    code,
    report: JSON.parse(stdout) as { id: string; result: string },
    peakMb: peakKb / 1024,
  };
}

async function auditOf(
  stateDir: string,
  id: string,
): Promise<{ t: number; kind: string; ok?: boolean; failure?: string }[]> {
  const text = await readFile(join(stateDir, 'rollouts', id, 'audit.ndjson'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { t: number; kind: string });
}

/**
 * A zero-bake rollout of `drones` through the real CLI against the bare client on the same (warmed-up)
 * fleet. `store` runs the rollout on that store (`etcd://...`); the audit figure is read from the
 * embedded store's files, so it is left out there.
 */
async function fleetRound(drones: number, work: string, store?: string) {
  const sim = await startSim(drones, [], work);
  const bare = bareClient();
  try {
    await bare.forAll(drones, (i) =>
      bare
        .send(`${sim.url}/d/drone-${i}/v1/pause`, 'POST', { rollout: 'warm-up' })
        .then(() => bare.send(`${sim.url}/d/drone-${i}/v1/resume`, 'POST', { rollout: 'warm-up' })),
    );
    const stateDir = join(work, `state-${drones}${store === undefined ? '' : '-etcd'}`);
    const spec = await writeSpec(work, `bench-${drones}`, sim.inventory);
    const rollout = await runCli([
      'run',
      spec,
      '--output',
      'json',
      '--state-dir',
      stateDir,
      ...(store === undefined ? [] : ['--store', store]),
    ]);
    const { content: text, sha256 } = content(`bare-${drones}`);
    const bareStart = performance.now();
    await bare.forAll(drones, async (i) => {
      const base = `${sim.url}/d/drone-${i}/v1`;
      await bare.send(`${base}/pause`, 'POST', { rollout: 'bare' });
      await bare.send(`${base}/configs/${FILE}`, 'PUT', {
        rollout: 'bare',
        version: 'bare',
        sha256,
        fence: 1_000_000,
        content: text,
      });
      await bare.send(`${base}/resume`, 'POST', { rollout: 'bare' });
    });
    const bareMs = performance.now() - bareStart;
    const auditBytesPerDrone =
      store === undefined
        ? (await readFile(join(stateDir, 'rollouts', rollout.report.id, 'audit.ndjson'))).length / drones
        : null;
    return {
      drones,
      store: store === undefined ? 'embedded' : 'etcd',
      result: rollout.report.result,
      rolloutMs: rollout.ms,
      bareMs,
      ratio: rollout.ms / bareMs,
      peakMb: rollout.peakMb,
      auditBytesPerDrone,
    };
  } finally {
    bare.close();
    await sim.stop();
  }
}

function describeFleet(round: Awaited<ReturnType<typeof fleetRound>>): string {
  const perSecond = (ms: number) => (round.drones / (ms / 1000)).toFixed(0);
  return (
    `fleet ${round.drones.toLocaleString('en')} (${round.store} store): rollout ${round.result} in ${(round.rolloutMs / 1000).toFixed(2)} s (${perSecond(round.rolloutMs)} drones/s), ` +
    `bare client ${(round.bareMs / 1000).toFixed(2)} s (${perSecond(round.bareMs)} drones/s), b/a ${round.ratio.toFixed(2)}, peak RSS ${round.peakMb.toFixed(0)} MB` +
    (round.auditBytesPerDrone === null ? '' : `, audit ${round.auditBytesPerDrone.toFixed(0)} B/drone`)
  );
}

/**
 * The same zero-bake rollout of `drones` through the real CLI over plain HTTP, over HTTPS (the simulator
 * serving a certificate from a CA generated for the round, which the rollout trusts with --ca-file) and
 * over mutual TLS (the simulator asking for a client certificate, the rollout presenting one), each on a
 * fresh fleet warmed up the same way, with the bare client's figure for the same requests beside it.
 */
async function tlsRound(drones: number, work: string) {
  const pki = await createTestPki('fleet-bench-tls-');
  try {
    const ca = await pki.pem(pki.ca);
    const client = { cert: await pki.pem(pki.clientCert), key: await pki.pem(pki.clientKey) };
    const serve = ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey];
    const present = ['--client-cert', pki.clientCert, '--client-key', pki.clientKey];
    const modes = [
      { mode: 'http', sim: [], run: [], bare: undefined },
      { mode: 'https', sim: serve, run: ['--ca-file', pki.ca], bare: { ca } },
      {
        mode: 'mutual TLS',
        sim: [...serve, '--client-ca', pki.ca],
        run: ['--ca-file', pki.ca, ...present],
        bare: { ca, ...client },
      },
    ] as const;
    const rounds = [];
    for (const { mode, sim: simFlags, run, bare: bareTls } of modes) {
      const sim = await startSim(drones, simFlags, work);
      // The timed bare client starts after the rollout, with no sockets the simulator may have closed
      // meanwhile, and pays its own handshakes as the rollout did.
      const warm = bareClient(bareTls);
      let bare: ReturnType<typeof bareClient> | undefined;
      try {
        await warm.forAll(drones, (i) =>
          warm
            .send(`${sim.url}/d/drone-${i}/v1/pause`, 'POST', { rollout: 'warm-up' })
            .then(() => warm.send(`${sim.url}/d/drone-${i}/v1/resume`, 'POST', { rollout: 'warm-up' })),
        );
        warm.close();
        // A spec's name is lower case: `tls-mutual-tls-1000`.
        const name = `tls-${mode.replace(' ', '-').toLowerCase()}-${drones}`;
        const spec = await writeSpec(work, name, sim.inventory);
        const rollout = await runCli([
          'run',
          spec,
          '--output',
          'json',
          '--state-dir',
          join(work, `state-${name}`),
          ...run,
        ]);
        const { content: text, sha256 } = content(`bare-${name}`);
        const timed = bareClient(bareTls);
        bare = timed;
        const bareStart = performance.now();
        await timed.forAll(drones, async (i) => {
          const base = `${sim.url}/d/drone-${i}/v1`;
          await timed.send(`${base}/pause`, 'POST', { rollout: 'bare' });
          await timed.send(`${base}/configs/${FILE}`, 'PUT', {
            rollout: 'bare',
            version: 'bare',
            sha256,
            fence: 1_000_000,
            content: text,
          });
          await timed.send(`${base}/resume`, 'POST', { rollout: 'bare' });
        });
        rounds.push({
          mode,
          result: rollout.report.result,
          rolloutMs: rollout.ms,
          bareMs: performance.now() - bareStart,
          peakMb: rollout.peakMb,
        });
      } finally {
        warm.close();
        bare?.close();
        await sim.stop();
      }
    }
    return { drones, rounds };
  } finally {
    await pki.remove();
  }
}

function describeTls(tls: Awaited<ReturnType<typeof tlsRound>>): string {
  const plain = tls.rounds[0];
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const each = tls.rounds.map(
    (round) =>
      `${round.mode} ${round.result} in ${s(round.rolloutMs)}${round === plain || plain === undefined ? '' : ` (×${(round.rolloutMs / plain.rolloutMs).toFixed(2)})`}, ` +
      `bare client ${s(round.bareMs)}, peak RSS ${round.peakMb.toFixed(0)} MB`,
  );
  return `tls at ${tls.drones.toLocaleString('en')} drones, the same rollout: ${each.join('; ')}`;
}

/**
 * The etcd backend's figures, when an `etcd` binary is on PATH: a single-node etcd on loopback (the
 * test suites' helper), lock acquire/release, the state-store bench, and a 10,000-drone rollout on it.
 */
async function etcdRound(work: string, out: (line: string) => void) {
  if (spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status !== 0) {
    out('etcd: skipped, no etcd on PATH (apt-get install etcd-server)');
    return null;
  }
  const etcd = await startEtcd();
  try {
    const lock = await benchEtcdLock([etcd.endpoint], 300);
    out(
      `lock (etcd): acquire p50 ${lock.acquireMs.p50.toFixed(2)} ms p95 ${lock.acquireMs.p95.toFixed(2)} ms; release p50 ${lock.releaseMs.p50.toFixed(2)} ms p95 ${lock.releaseMs.p95.toFixed(2)} ms`,
    );
    const store = await benchEtcdStateStore([etcd.endpoint], 1_000);
    out(
      `state store (etcd), 1,000 drones: ${store.transitions} transitions in ${store.totalMs.toFixed(0)} ms (${store.perTransitionMs.toFixed(1)} ms each); audit ${store.auditBytesPerDrone.toFixed(0)} B per drone`,
    );
    const fleet = await fleetRound(10_000, work, `etcd://${etcd.endpoint}`);
    out(describeFleet(fleet));
    return { lock, store, fleet };
  } finally {
    await etcd.destroy();
  }
}

/** `GET /sim/stats`: what the simulator's drones saw (see SimStatsView in src/simulator/sim-stats.ts). */
async function simStats(url: string): Promise<SimStatsView> {
  const response = await fetch(`${url}/sim/stats`);
  if (!response.ok) throw new Error(`GET ${url}/sim/stats answered ${response.status}`);
  return (await response.json()) as SimStatsView;
}

/**
 * A drone of the last wave that turns HOT when its push arrives (`--hot-on-push`): how many pushes the
 * drones saw START after the HOT answer went out (the blast radius), and how long from that answer to
 * the rollout's `ended` event, its fleet rolled back and resumed. Against it, the bare client doing the
 * same rollback and resume requests. The HOT drone sits 1,000 drones before the end, so that a rollout
 * that kept pushing would show it; the 9,000 drones before it make the rollback near worst case.
 */
async function abortRound(drones: number, work: string) {
  const hotIndex = drones - 1_000;
  const hot = `drone-${hotIndex}`;
  const sim = await startSim(drones, ['--hot-on-push', hot], work);
  const bare = bareClient();
  try {
    await bare.forAll(drones, (i) => bare.send(`${sim.url}/d/drone-${i}/v1/health`, 'GET', {}));
    const stateDir = join(work, `state-abort-${drones}`);
    const spec = await writeSpec(work, `abort-${drones}`, sim.inventory);
    const rollout = await runCli(['run', spec, '--output', 'json', '--state-dir', stateDir]);
    const stats = await simStats(sim.url);
    const audit = await auditOf(stateDir, rollout.report.id);
    const ended = audit.find((e) => e.kind === 'ended');
    const hotAt = stats.firstHotAnswer?.t;
    const rolledBack = audit.filter((e) => e.kind === 'rollback' && e.ok === true).length;
    const resumed = audit.filter((e) => e.kind === 'resume' && e.ok === true).length;
    // The bare client first installs a config of its own on as many drones (not timed), so that its
    // rollbacks restore content as the rollout's did, instead of answering "nothing to restore". It
    // leaves out the HOT drone, as the rollout did: its lock stays held.
    const { content: text, sha256 } = content(`bare-abort-${drones}`);
    const rollbackTarget = (i: number) => (i < hotIndex ? i : i + 1);
    await bare.forAll(rolledBack, (i) =>
      bare.send(`${sim.url}/d/drone-${rollbackTarget(i)}/v1/configs/${FILE}`, 'PUT', {
        rollout: 'bare',
        version: 'bare',
        sha256,
        fence: 2_000_000,
        content: text,
      }),
    );
    let bareFailures = 0;
    const counted = (status: number) => {
      if (status !== 200) bareFailures += 1;
    };
    const bareStart = performance.now();
    await bare.forAll(Math.max(rolledBack, resumed), async (i) => {
      if (i <= rolledBack)
        counted(
          await bare.send(`${sim.url}/d/drone-${rollbackTarget(i)}/v1/configs/${FILE}/rollback`, 'POST', {
            rollout: 'bare',
            fence: 2_000_000,
          }),
        );
      if (i <= resumed) counted(await bare.send(`${sim.url}/d/drone-${i}/v1/resume`, 'POST', { rollout: 'bare' }));
    });
    const bareMs = performance.now() - bareStart;
    const hotToEndedMs = hotAt !== undefined && ended ? ended.t - hotAt : Number.NaN;
    const span = (kind: string) => {
      const events = audit.filter((e) => e.kind === kind);
      return events.length > 0 ? (events.at(-1)?.t ?? 0) - (events[0]?.t ?? 0) : 0;
    };
    const rollbackBegin = audit.find((e) => e.kind === 'rollback.begin');
    return {
      drones,
      hotDrone: hot,
      result: rollout.report.result,
      hot: stats.firstHotAnswer?.drone ?? null,
      pushes: stats.pushes,
      pushesAfterFirstHot: stats.pushesAfterFirstHot,
      hotToEndedMs,
      /** The drones' side: HOT answer → the last rollback or resume answer. */
      hotToLastCleanupAnswerMs:
        hotAt !== undefined && stats.lastCleanupAnswerT !== null ? stats.lastCleanupAnswerT - hotAt : Number.NaN,
      /** Where the time went, from the audit log: HOT answer → `rollback.begin`, then first → last rollback, first → last resume. */
      hotToRollbackBeginMs: hotAt !== undefined && rollbackBegin ? rollbackBegin.t - hotAt : Number.NaN,
      rollbackSpanMs: span('rollback'),
      resumeSpanMs: span('resume'),
      rolledBack,
      resumed,
      simRollbacks: stats.rollbacks,
      simResumes: stats.resumes,
      bareRollbackMs: bareMs,
      bareFailures,
      ratio: hotToEndedMs / bareMs,
    };
  } finally {
    bare.close();
    await sim.stop();
  }
}

/**
 * `npm run bench -- --only abort` (or `--only etcd`, `--only tls`) runs that round alone and writes
 * bench-results-<round>.json, so a partial run never overwrites the full figures.
 */
async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  if (only !== undefined && only !== 'abort' && only !== 'etcd' && only !== 'tls')
    throw new TypeError(`Expected \`--only\` to be \`abort\`, \`etcd\` or \`tls\`, got ${JSON.stringify(only)}`);
  const work = await mkdtemp(join(tmpdir(), 'fleet-bench-'));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const machine = {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      freeGb: Math.round(freemem() / 2 ** 30),
      node: process.version,
    };
    out(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, node ${machine.node}`);
    if (only !== undefined) {
      let figures: object;
      if (only === 'abort') {
        const abort = await abortRound(10_000, work);
        out(describeAbort(abort));
        figures = { abort };
      } else if (only === 'tls') {
        const tls = await tlsRound(1_000, work);
        out(describeTls(tls));
        figures = { tls };
      } else {
        figures = { etcd: await etcdRound(work, out) };
      }
      await writeFile(
        join(ROOT, `bench-results-${only}.json`),
        `${JSON.stringify({ at: new Date().toISOString(), machine, ...figures }, null, 2)}\n`,
      );
      out(`figures written to bench-results-${only}.json`);
      return;
    }
    const lock = await benchEmbeddedLock(join(work, 'lock'), 300);
    out(
      `lock (embedded): acquire p50 ${lock.acquireMs.p50.toFixed(2)} ms p95 ${lock.acquireMs.p95.toFixed(2)} ms; release p50 ${lock.releaseMs.p50.toFixed(2)} ms p95 ${lock.releaseMs.p95.toFixed(2)} ms`,
    );
    const store = await benchStateStore(join(work, 'store'), 1_000);
    out(
      `state store, 1,000 drones: ${store.transitions} transitions in ${store.totalMs.toFixed(0)} ms (${store.perTransitionMs.toFixed(1)} ms each); audit ${store.auditBytesPerDrone.toFixed(0)} B per drone`,
    );
    const judge = benchJudge();
    out(
      `judge: one interval of ${judge.samplesPerSide} samples per side × ${judge.metrics} metrics: median ${judge.medianMs} ms, slowest ${judge.maxMs} ms`,
    );
    const fleet = [];
    for (const drones of [1_000, 10_000]) {
      const round = await fleetRound(drones, work);
      fleet.push(round);
      out(describeFleet(round));
    }
    const [small, large] = fleet;
    if (small && large) {
      out(
        `growth 1,000 → 10,000: time ×${(large.rolloutMs / small.rolloutMs).toFixed(1)}, peak RSS ×${(large.peakMb / small.peakMb).toFixed(1)}`,
      );
      out(
        `persistence share of the 1,000-drone rollout: ${((store.totalMs / small.rolloutMs) * 100).toFixed(1)}% (store bench time / rollout wall time)`,
      );
    }
    const tls = await tlsRound(1_000, work);
    out(describeTls(tls));
    const abort = await abortRound(10_000, work);
    out(describeAbort(abort));
    const etcd = await etcdRound(work, out);
    await writeFile(
      join(ROOT, 'bench-results.json'),
      `${JSON.stringify({ at: new Date().toISOString(), machine, lock, store, judge, fleet, tls, abort, etcd }, null, 2)}\n`,
    );
    out('figures written to bench-results.json');
  } finally {
    for (const child of running) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
}

function describeAbort(abort: Awaited<ReturnType<typeof abortRound>>): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return (
    `abort at ${abort.drones.toLocaleString('en')} (${abort.hotDrone} turns HOT at its push, last wave): ${abort.result}, HOT ${abort.hot ?? 'none'}; ` +
    `pushes that started after the HOT answer: ${abort.pushesAfterFirstHot} (concurrency ${CONCURRENCY}; ${abort.pushes} pushes in all); ` +
    `HOT answer → ended ${s(abort.hotToEndedMs)} (→ the drones' last rollback or resume answer ${s(abort.hotToLastCleanupAnswerMs)}) for ${abort.rolledBack} rollbacks and ${abort.resumed} resumes ` +
    `(HOT → rollback.begin ${s(abort.hotToRollbackBeginMs)}, rollbacks ${s(abort.rollbackSpanMs)}, resumes ${s(abort.resumeSpanMs)}); ` +
    `bare client ${s(abort.bareRollbackMs)}${abort.bareFailures > 0 ? ` (${abort.bareFailures} non-200 answers)` : ''}; ratio ${abort.ratio.toFixed(2)}`
  );
}

await main();
