import { join, resolve } from 'node:path';
import { hostIdentity } from '../../lock/host.js';
import { describeHolder } from '../../lock/describe.js';
import type { RolloutReport } from '../../runner/report.js';
import { newRolloutId, runRollout } from '../../runner/run-rollout.js';
import { loadPlan } from '../../spec/load-plan.js';
import { isLiveTerminal, openLockStore, printJson, readToken } from '../common.js';
import { createLogger } from '../logger.js';
import { ProgressDisplay } from '../progress.js';
import type { PlanOptions } from './plan.js';

function summarizeReport(report: RolloutReport): string {
  const counts = new Map<string, number>();
  for (const drone of Object.values(report.drones)) counts.set(drone.state, (counts.get(drone.state) ?? 0) + 1);
  const lines = [
    `${report.result}: ${report.name} (${report.id}), exit ${report.exitCode}`,
    `  ${report.reason}`,
    `  drones: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`,
  ];
  if (report.hot.length > 0) lines.push(`  HOT drones: ${report.hot.join(', ')} (their local lock on ${report.config.file} is held by another owner)`);
  if (report.attention.length > 0) lines.push(`  needs attention: ${report.attention.join(', ')}`);
  return lines.join('\n');
}

/**
 * Runs one rollout to its end. SIGINT/SIGTERM abort it safely (roll back, resume, release) and exit 130;
 * a second signal during that clean-up is ignored with a message.
 */
export async function runCommand(options: PlanOptions): Promise<number> {
  const plan = await loadPlan(options.spec, options.inventory === undefined ? {} : { inventory: options.inventory });
  const token = await readToken(options.tokenFile);
  const stateDir = resolve(options.stateDir);
  const rolloutId = newRolloutId(plan.spec.name);
  const logger = createLogger({ level: options.logLevel, file: join(stateDir, 'logs', `${rolloutId}.ndjson`) });
  const locks = openLockStore(options);
  const display = new ProgressDisplay({
    stream: options.output === 'json' ? process.stderr : process.stdout,
    live: isLiveTerminal(options.output === 'json' ? process.stderr : process.stdout),
  });
  const identity = hostIdentity();
  try {
    const freed = await locks.reclaimStale();
    for (const lock of freed) {
      logger.warn({ key: lock.key, fence: lock.fence, reason: lock.staleReason }, 'reclaimed a stale lock');
      display.note(`reclaimed stale lock ${lock.key}: ${describeHolder(lock, Date.now())}`);
    }
    display.note(`rollout ${rolloutId}: ${plan.config.file} → ${plan.config.version} on ${plan.drones.length} drones`);
    const running = runRollout({
      plan,
      locks,
      owner: { host: identity.host, pid: process.pid, bootId: identity.bootId },
      logger,
      observer: display,
      rolloutId,
      ...(token === undefined ? {} : { token }),
    });
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals === 1) {
        display.note(`${signal}: aborting safely: rolling back, resuming the fleet, releasing the lock…`);
        running.interrupt(signal);
      } else {
        display.note(`${signal} again: still cleaning up so no drone is left paused or mixed; wait for it to finish.`);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const report = await running.done;
      display.finish();
      if (options.output === 'json') printJson(report);
      else process.stdout.write(`${summarizeReport(report)}\n`);
      return report.exitCode;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await locks.close();
    logger.flush();
  }
}
