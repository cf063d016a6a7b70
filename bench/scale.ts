/**
 * The scale rounds (`npm run bench -- --only scale`): zero-bake rollouts of 2,000, 10,000 and 100,000
 * drones through the real CLI on an in-memory simulated fleet (`fleet sim --in-memory`: no disk, so the
 * orchestrator's own cost shows), each against the bare node:http client on the same fleet in the same
 * run, with peak RSS and where the time went; then an abort at 100,000 with a HOT drone in the last wave.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { abortRound, describeAbort } from './abort.js';
import {
  bareClient,
  bareInFreshProcess,
  bareRollout,
  nextFence,
  runCli,
  simStats,
  startSim,
  warmUp,
  writeSpec,
} from './harness.js';

/**
 * Pausing 100,000 drones takes longer than the default `pause.timeout` of 30 s allows on a loaded 2-core
 * machine, which would end the round `unchanged` before any push; and with the default `pause.hold` of
 * 2m the rollout renews every drone's hold every 40 s (invariant 11), so a 100,000-drone run would pause
 * the whole fleet again once or twice: requests the bare client never makes. A fleet this size sets
 * both; the renewals' own cost is the `--hold 2m` figure of the bench history (docs/benchmarks.md).
 */
const PAUSE = 'pause: { fleet: true, timeout: 2m, hold: 10m }';

/** One phase of a rollout: what the audit log's transitions (or the process around them) say it did. */
export interface Phase {
  readonly name: string;
  readonly ms: number;
}

interface AuditLine {
  readonly t: number;
  readonly kind: string;
  readonly to?: string;
}

/**
 * Where the time went, from the audit log's timestamps: start-up (spawn → `started`), each stage as its
 * transitions name it (pausing, the lock, each push step, verify, resuming, releasing), the end (the last
 * transition → `ended`), and printing the result (`ended` → exit). Read line by line: at 100,000 drones
 * the log is tens of MB.
 */
async function phasesOf(auditPath: string, spawnedAt: number, exitedAt: number): Promise<Phase[]> {
  const phases: { name: string; ms: number }[] = [];
  let started: number | undefined;
  let current: { name: string; t: number } | undefined;
  let ended: number | undefined;
  for await (const line of createInterface({ input: createReadStream(auditPath) })) {
    // Per-drone events are most of the log and tell no phase: skip them unparsed.
    if (!line.includes('"kind":"transition"') && !line.includes('"kind":"started"') && !line.includes('"kind":"ended"'))
      continue;
    const event = JSON.parse(line) as AuditLine;
    if (event.kind === 'started') started = event.t;
    if (event.kind === 'ended') ended = event.t;
    if (event.kind !== 'transition' || event.to === undefined) continue;
    if (current !== undefined && current.name !== event.to) {
      phases.push({ name: current.name, ms: event.t - current.t });
      current = { name: event.to, t: event.t };
    }
    current ??= { name: event.to, t: event.t };
  }
  const first = started ?? spawnedAt;
  const last = current === undefined ? first : current.t;
  return [
    { name: 'start-up (spawn → started)', ms: first - spawnedAt },
    ...merge(phases),
    { name: `the final transition (${current?.name ?? 'none'}) → the ended event`, ms: (ended ?? last) - last },
    { name: 'printing the result (ended → exit)', ms: exitedAt - (ended ?? last) },
  ];
}

/** Phases of one name (a stage entered twice) add up, in the order first seen. */
function merge(phases: readonly Phase[]): Phase[] {
  const byName = new Map<string, number>();
  for (const phase of phases) byName.set(phase.name, (byName.get(phase.name) ?? 0) + phase.ms);
  return [...byName].map(([name, ms]) => ({ name, ms }));
}

/** The `state store writes` line the rollout logs at info as it ends: how many writes, how long in all. */
function storeWritesOf(logLines: readonly string[]): { writes: number; ms: number } | null {
  for (const line of logLines) {
    if (!line.includes('"state store writes"')) continue;
    const parsed = JSON.parse(line) as { storeWrites?: { writes: number; ms: number } };
    if (parsed.storeWrites !== undefined) return parsed.storeWrites;
  }
  return null;
}

/** The rollout's memory as each stage began (`stage` lines at info): rss and heap used, in MB. */
function memoryByStage(logLines: readonly string[]): { stage: string; rssMb: number; heapUsedMb: number }[] {
  const stages: { stage: string; rssMb: number; heapUsedMb: number }[] = [];
  for (const line of logLines) {
    if (!line.includes('"msg":"stage"')) continue;
    const { stage, rssMb, heapUsedMb } = JSON.parse(line) as { stage?: string; rssMb?: number; heapUsedMb?: number };
    if (stage !== undefined && rssMb !== undefined && heapUsedMb !== undefined)
      stages.push({ stage, rssMb, heapUsedMb });
  }
  return stages;
}

/** A zero-bake rollout of `drones` on a fresh in-memory fleet, then the bare client on the same fleet. */
export async function scaleRound(drones: number, work: string, run: number) {
  const sim = await startSim(drones, ['--in-memory'], work);
  const bare = bareClient();
  try {
    await warmUp(bare, sim.url, drones);
    const stateDir = join(work, `state-scale-${drones}-${run}`);
    const spec = await writeSpec(work, `scale-${drones}-${run}`, sim.inventory, PAUSE);
    const rollout = await runCli(
      ['run', spec, '--output', 'json', '--state-dir', stateDir, '--log-level', 'info'],
      true,
    );
    const fleet = (await simStats(sim.url)).fleet;
    const fence = await nextFence(bare, sim.url, drones);
    const bareMs = await bareRollout(bare, sim.url, drones, { tag: `bare-scale-${drones}-${run}`, fence });
    const freshBareMs = await bareInFreshProcess(sim.url, drones, {
      tag: `fresh-bare-scale-${drones}-${run}`,
      fence: fence + 1,
    });
    const readingMs = await bareInFreshProcess(
      sim.url,
      drones,
      { tag: `reading-bare-scale-${drones}-${run}`, fence: fence + 2 },
      true,
    );
    const auditPath = join(stateDir, 'rollouts', rollout.report.id, 'audit.ndjson');
    return {
      drones,
      run,
      result: rollout.report.result,
      rolloutMs: rollout.ms,
      bareMs,
      ratio: rollout.ms / bareMs,
      /** The bare client started cold in a process of its own, spawn to exit: context for the ratio, not its target. */
      freshBareMs,
      /** The same, reading and parsing every answer under a timer per request: what any orchestrator must do. */
      readingMs,
      peakMb: rollout.peakMb,
      stdoutBytes: rollout.stdoutBytes,
      /** What the fleet says once the rollout exited: drones paused, and drones by version. */
      fleet: fleet ?? null,
      phases: await phasesOf(auditPath, rollout.spawnedAt, rollout.exitedAt),
      storeWrites: storeWritesOf(rollout.logLines),
      memory: memoryByStage(rollout.logLines),
    };
  } finally {
    bare.close();
    await sim.stop();
  }
}

type ScaleRound = Awaited<ReturnType<typeof scaleRound>>;

export function describeScale(round: ScaleRound): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const fleet =
    round.fleet === null
      ? 'fleet state unknown'
      : `fleet after: ${round.fleet.paused} paused, ${Object.entries(round.fleet.versions)
          .map(([version, count]) => `${count.toLocaleString('en')} on ${version}`)
          .join(', ')}`;
  const phases = round.phases.map((phase) => `    ${phase.name}: ${s(phase.ms)}`).join('\n');
  const store =
    round.storeWrites === null
      ? 'store writes: not logged'
      : `store writes: ${round.storeWrites.writes} in ${s(round.storeWrites.ms)} (within the phases above)`;
  const memory = round.memory.map((stage) => `${stage.stage} ${stage.rssMb}/${stage.heapUsedMb}`).join('; ');
  return (
    `scale ${round.drones.toLocaleString('en')} (in-memory fleet, run ${round.run}): rollout ${round.result} in ${s(round.rolloutMs)}, ` +
    `bare client ${s(round.bareMs)}, ratio ${round.ratio.toFixed(2)} (bare client in a fresh process ` +
    `${s(round.freshBareMs)}, ratio ${(round.rolloutMs / round.freshBareMs).toFixed(2)}; reading its answers ` +
    `${s(round.readingMs)}, ratio ${(round.rolloutMs / round.readingMs).toFixed(2)}); peak RSS ${round.peakMb.toFixed(0)} MB; ` +
    `JSON result ${(round.stdoutBytes / 1024).toFixed(0)} KB; ${fleet}\n  phases:\n${phases}\n  ${store}\n` +
    `  memory as each stage began (rss/heap used, MB): ${memory}`
  );
}

/**
 * Every scale round: 2,000 and 10,000 drones twice each (the machine is shared: a range, not one
 * figure), 100,000 once, and the abort at 100,000. `sizes` narrows it for a quicker look.
 */
export async function scaleRounds(work: string, out: (line: string) => void, sizes = [2_000, 10_000, 100_000]) {
  const fleet: ScaleRound[] = [];
  for (const drones of sizes) {
    for (let run = 1; run <= (drones <= 10_000 ? 2 : 1); run += 1) {
      const round = await scaleRound(drones, work, run);
      fleet.push(round);
      out(describeScale(round));
    }
  }
  const ten = fleet.filter((round) => round.drones === 10_000);
  const hundred = fleet.find((round) => round.drones === 100_000);
  if (ten.length > 0 && hundred !== undefined) {
    const fastest = Math.min(...ten.map((round) => round.rolloutMs));
    out(`growth 10,000 → 100,000: time ×${(hundred.rolloutMs / fastest).toFixed(1)} (target ≤ 11)`);
  }
  const abort = sizes.includes(100_000) ? await abortRound(100_000, work, ['--in-memory'], PAUSE) : null;
  if (abort !== null) out(describeAbort(abort));
  return { fleet, abort };
}
