/**
 * The abort round: a drone of the last wave turns HOT at its push; what the drones saw start after the
 * HOT answer, and the cleanup's time against the bare client doing the same requests.
 */
import { join } from 'node:path';
import {
  AnswerCheck,
  auditOf,
  bareClient,
  CONCURRENCY,
  content,
  FILE,
  nextFence,
  runCli,
  simStats,
  startSim,
  writeSpec,
} from './harness.js';

/**
 * A drone of the last wave that turns HOT when its push arrives (`--hot-on-push`): how many pushes the
 * drones saw START after the HOT answer went out (the blast radius), and how long from that answer to
 * the rollout's `ended` event, its fleet rolled back and resumed. Against it, the bare client doing the
 * same rollback and resume requests. The HOT drone sits 1,000 drones before the end, so that a rollout
 * that kept pushing would show it; the 9,000 drones before it make the rollback near worst case.
 */
export async function abortRound(drones: number, work: string, simFlags: readonly string[] = [], specExtra = '') {
  const hotIndex = drones - 1_000;
  const hot = `drone-${hotIndex}`;
  const sim = await startSim(drones, ['--hot-on-push', hot, ...simFlags], work);
  const bare = bareClient();
  try {
    await bare.forAll(drones, (i) => bare.send(`${sim.url}/d/drone-${i}/v1/health`, 'GET', {}));
    const stateDir = join(work, `state-abort-${drones}`);
    const spec = await writeSpec(work, `abort-${drones}`, sim.inventory, specExtra);
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
    const tag = `bare-abort-${drones}`;
    const { content: text, sha256 } = content(tag);
    const fence = await nextFence(bare, sim.url, drones);
    const rollbackTarget = (i: number) => (i < hotIndex ? i : i + 1);
    const answers = new AnswerCheck("the bare client's clean-up");
    const { expectOk } = answers;
    await bare.forAll(rolledBack, async (i) =>
      expectOk(
        await bare.send(`${sim.url}/d/drone-${rollbackTarget(i)}/v1/configs/${FILE}`, 'PUT', {
          rollout: tag,
          version: tag,
          sha256,
          fence,
          content: text,
        }),
        `drone-${rollbackTarget(i)}'s push`,
      ),
    );
    const bareStart = performance.now();
    await bare.forAll(Math.max(rolledBack, resumed), async (i) => {
      if (i <= rolledBack)
        expectOk(
          await bare.send(`${sim.url}/d/drone-${rollbackTarget(i)}/v1/configs/${FILE}/rollback`, 'POST', {
            rollout: tag,
            fence,
          }),
          `drone-${rollbackTarget(i)}'s rollback`,
        );
      if (i <= resumed)
        expectOk(await bare.send(`${sim.url}/d/drone-${i}/v1/resume`, 'POST', { rollout: tag }), `drone-${i}'s resume`);
    });
    const bareMs = performance.now() - bareStart;
    answers.assertAllOk();
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
      ratio: hotToEndedMs / bareMs,
      peakMb: rollout.peakMb,
    };
  } finally {
    bare.close();
    await sim.stop();
  }
}

export function describeAbort(abort: Awaited<ReturnType<typeof abortRound>>): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return (
    `abort at ${abort.drones.toLocaleString('en')} (${abort.hotDrone} turns HOT at its push, last wave): ${abort.result}, HOT ${abort.hot ?? 'none'}; ` +
    `pushes that started after the HOT answer: ${abort.pushesAfterFirstHot} (concurrency ${CONCURRENCY}; ${abort.pushes} pushes in all); ` +
    `HOT answer → ended ${s(abort.hotToEndedMs)} (→ the drones' last rollback or resume answer ${s(abort.hotToLastCleanupAnswerMs)}) for ${abort.rolledBack} rollbacks and ${abort.resumed} resumes ` +
    `(HOT → rollback.begin ${s(abort.hotToRollbackBeginMs)}, rollbacks ${s(abort.rollbackSpanMs)}, resumes ${s(abort.resumeSpanMs)}); ` +
    `bare client ${s(abort.bareRollbackMs)}; ratio ${abort.ratio.toFixed(2)}; ` +
    `peak RSS ${abort.peakMb.toFixed(0)} MB`
  );
}
