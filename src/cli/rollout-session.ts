import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { describeHolder } from '../lock/describe.js';
import type { LockStore } from '../lock/types.js';
import type { RolloutReport } from '../rollout/report.js';
import type { RunningRollout } from '../rollout/run.js';
import type { StateStore } from '../store/types.js';
import {
  describeStore,
  isLiveTerminal,
  openLockStore,
  openStateStore,
  printJson,
  type CommonOptions,
} from './common.js';
import { createLogger } from './output/logger.js';
import { ProgressDisplay } from './output/progress.js';
import { appendStepSummary } from './step-summary.js';

/** How often a running orchestrator looks for stale locks after the one pass at start. */
const RECLAIM_INTERVAL_MS = 30_000;

/** What `run` and `resume` share: a log file for the rollout, the stores, the progress display. */
export interface RolloutSession {
  readonly logger: Logger;
  readonly locks: LockStore;
  readonly store: StateStore;
  readonly display: ProgressDisplay;
  close(): Promise<void>;
}

/**
 * Opens the stores and reclaims stale locks, as every orchestrator does when it starts. Its first line on
 * stderr says which state dir or store it writes to: a shell in another directory finds another one.
 */
export async function openRolloutSession(options: CommonOptions, rolloutId: string): Promise<RolloutSession> {
  process.stderr.write(`${describeStore(options)}\n`);
  const logger = createLogger({
    level: options.logLevel,
    format: options.output,
    file: join(resolve(options.stateDir), 'logs', `${rolloutId}.ndjson`),
  });
  const stream = options.output === 'json' ? process.stderr : process.stdout;
  const display = new ProgressDisplay({ stream, live: isLiveTerminal(stream) });
  const locks = await openLockStore(options);
  const store = await openStateStore(options).catch(async (error: unknown) => {
    await locks.close();
    throw error;
  });
  const reclaim = async (announce: boolean) => {
    for (const lock of await locks.reclaimStale()) {
      logger.warn({ key: lock.key, fence: lock.fence, reason: lock.staleReason }, 'reclaimed a stale lock');
      if (announce) display.note(`reclaimed stale lock ${lock.key}: ${describeHolder(lock, Date.now())}`);
    }
  };
  // The watchdog: stale locks of other keys are freed while this rollout runs too, not only at start.
  const watchdog = setInterval(() => {
    reclaim(false).catch((error: unknown) => logger.error({ err: error }, 'reclaiming stale locks failed'));
  }, RECLAIM_INTERVAL_MS);
  watchdog.unref();
  const session = {
    logger,
    locks,
    store,
    display,
    async close() {
      clearInterval(watchdog);
      await Promise.all([locks.close(), store.close()]);
      logger.flush();
    },
  };
  try {
    await reclaim(true);
  } catch (error) {
    await session.close();
    throw error;
  }
  return session;
}

/** Deferred drones the summary names one by one; `--output json` lists them all. */
const DEFERRED_SHOWN = 10;

function summarizeReport(report: RolloutReport): string {
  const counts = new Map<string, number>(Object.entries(report.droneSummary?.states ?? {}));
  if (report.droneSummary === undefined)
    for (const drone of Object.values(report.drones)) counts.set(drone.state, (counts.get(drone.state) ?? 0) + 1);
  const lines = [
    `${report.result}: ${report.name} (${report.id}), exit ${report.exitCode}`,
    `  ${report.reason}`,
    `  drones: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`,
  ];
  if (report.hot.length > 0) {
    const one = report.hot.length === 1;
    lines.push(
      `  HOT ${one ? 'drone' : 'drones'}: ${report.hot.join(', ')} (${one ? 'its' : 'their'} local lock on ${report.config.file} is held by another owner)`,
    );
  }
  const deferred = report.deferred ?? [];
  const deferredIds = new Set(deferred.map((drone) => drone.drone));
  const attention = report.attention.filter((id) => !deferredIds.has(id));
  if (attention.length > 0) lines.push(`  needs attention: ${attention.join(', ')}`);
  if (deferred.length > 0) {
    lines.push(
      `  deferred (held back by gates.push_when, still on the old config; run the rollout again once they satisfy it): ${deferred
        .slice(0, DEFERRED_SHOWN)
        .map((drone) => `${drone.drone} (${drone.reason})`)
        .join(', ')}${deferred.length > DEFERRED_SHOWN ? `, and ${deferred.length - DEFERRED_SHOWN} more` : ''}`,
    );
  }
  const { notifications } = report;
  if (notifications && notifications.sent + notifications.failed > 0) {
    lines.push(`  notifications: ${notifications.sent} sent, ${notifications.failed} failed (the log file says why)`);
  }
  for (const call of report.webhooks ?? []) {
    if (!call.ok)
      lines.push(`  ${call.type} webhook ${call.name} failed (the result stands): ${call.error ?? 'no answer'}`);
  }
  return lines.join('\n');
}

/**
 * Waits for a rollout to end and prints its report. SIGINT/SIGTERM abort it safely (roll back, resume,
 * release) and it exits 130; a second signal during that clean-up is ignored with a message.
 */
export async function superviseRollout(
  running: RunningRollout,
  session: RolloutSession,
  options: CommonOptions,
): Promise<number> {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      session.display.note(`${signal}: aborting safely: rolling back, resuming the fleet, releasing the lock…`);
      running.interrupt(signal);
    } else {
      session.display.note(
        `${signal} again: still cleaning up so no drone is left paused or mixed; wait for it to finish.`,
      );
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await running.done;
    session.display.finish();
    if (options.output === 'json') printJson(report);
    else process.stdout.write(`${summarizeReport(report)}\n`);
    await appendStepSummary(session.store, report.id, (text) => session.display.note(text));
    return report.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
