/**
 * `npm run bench`: the orchestrator against the bare HTTP ceiling on the same simulated fleet, HTTPS and
 * mutual TLS against plain HTTP, the lock, state-store and judge figures, and the scale rounds on
 * in-memory fleets up to 100,000 drones (scale.ts). Prints a table and writes bench-results.json. It
 * asserts no figure; it fails only when a round cannot be measured (a bare client's request refused).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../test/helpers/etcd.js';
import { createTestPki } from '../test/helpers/tls.js';
import { abortRound, describeAbort } from './abort.js';
import { benchJudge } from './analysis.js';
import { scaleRounds } from './scale.js';
import { bareClient, bareRollout, nextFence, ROOT, runCli, running, startSim, warmUp, writeSpec } from './harness.js';
import { benchEmbeddedLock } from './lock.js';
import { benchEtcdLock } from './lock-etcd.js';
import { benchStateStore } from './store.js';
import { benchEtcdStateStore } from './store-etcd.js';

/**
 * A zero-bake rollout of `drones` through the real CLI against the bare client on the same (warmed-up)
 * fleet. `store` runs the rollout on that store (`etcd://...`); the audit figure is read from the
 * embedded store's files, so it is left out there.
 */
async function fleetRound(drones: number, work: string, store?: string) {
  const sim = await startSim(drones, [], work);
  const bare = bareClient();
  try {
    await warmUp(bare, sim.url, drones);
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
    const bareMs = await bareRollout(bare, sim.url, drones, {
      tag: `bare-${drones}`,
      fence: await nextFence(bare, sim.url, drones),
    });
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
        await warmUp(warm, sim.url, drones);
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
        // Read on a client of its own: the timed one starts with no socket open.
        const reader = bareClient(bareTls);
        const fence = await nextFence(reader, sim.url, drones).finally(() => reader.close());
        const timed = bareClient(bareTls);
        bare = timed;
        const bareMs = await bareRollout(timed, sim.url, drones, { tag: `bare-${name}`, fence });
        rounds.push({
          mode,
          result: rollout.report.result,
          rolloutMs: rollout.ms,
          bareMs,
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

/**
 * `npm run bench -- --only abort` (or `--only etcd`, `--only tls`, `--only scale`) runs that round alone and writes
 * bench-results-<round>.json, so a partial run never overwrites the full figures.
 */
async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  if (only !== undefined && only !== 'abort' && only !== 'etcd' && only !== 'tls' && only !== 'scale')
    throw new TypeError(
      `Expected \`--only\` to be \`abort\`, \`etcd\`, \`tls\` or \`scale\`, got ${JSON.stringify(only)}`,
    );
  // `--only scale --drones 2000,10000`: the scale rounds of these sizes alone (no abort without 100,000).
  const sizes = process.argv.includes('--drones')
    ? (process.argv[process.argv.indexOf('--drones') + 1] ?? '').split(',').map(Number)
    : undefined;
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
      } else if (only === 'scale') {
        figures = { scale: await scaleRounds(work, out, sizes) };
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
    const scale = await scaleRounds(work, out);
    await writeFile(
      join(ROOT, 'bench-results.json'),
      `${JSON.stringify({ at: new Date().toISOString(), machine, lock, store, judge, fleet, tls, abort, etcd, scale }, null, 2)}\n`,
    );
    out('figures written to bench-results.json');
  } finally {
    for (const child of running) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
}

await main();
