import { RolloutError } from '../../errors.js';
import { EXIT_CODES } from '../../rollout/report.js';
import { prepareResume } from '../../rollout/resume.js';
import { runRollout } from '../../rollout/run.js';
import { loadPlan } from '../../spec/load-plan.js';
import type { Plan } from '../../spec/types.js';
import type { RolloutRecord } from '../../store/types.js';
import {
  currentOwner,
  fileDigest,
  operatorName,
  printJson,
  readDroneTls,
  readToken,
  type CommonOptions,
  type DroneTlsOptions,
} from '../common.js';
import { livenessOf } from '../liveness.js';
import { openRolloutSession, superviseRollout, type RolloutSession } from '../rollout-session.js';
import { mustGet } from './status.js';

export interface ResumeOptions extends CommonOptions, DroneTlsOptions {
  readonly id: string;
  /** Roll back instead of finishing. */
  readonly rollback: boolean;
  readonly tokenFile?: string;
}

/**
 * The spec must be the one the rollout started with: resuming under other rules would mix versions. A
 * random canary is drawn again from the seed the rollout recorded, so the canary and waves are the same.
 */
async function planOf(record: RolloutRecord): Promise<Plan> {
  const plan = await loadPlan(record.specPath, {
    inventory: record.inventory,
    validators: false,
    ...(record.canarySeed === undefined ? {} : { canarySeed: record.canarySeed }),
  });
  if ((await fileDigest(plan.specPath)) !== record.specDigest || plan.config.sha256 !== record.config.sha256) {
    throw new RolloutError(
      'E_SPEC_INVALID',
      `${record.specPath} or its config changed since rollout ${record.id} started; restore them to resume it, or resume with the original files`,
    );
  }
  if (plan.spec.canary.random && record.canarySeed === undefined) {
    throw new RolloutError(
      'E_SPEC_INVALID',
      `rollout ${record.id} recorded no canary seed: its random canary (canary.random) cannot be drawn again to resume it`,
    );
  }
  return plan;
}

/** An ended rollout as `resume` reports it: the result it already has, and its exit code. */
async function reportEnded(session: RolloutSession, record: RolloutRecord, options: ResumeOptions): Promise<number> {
  const result = record.result ?? 'needs_attention';
  const exitCode = EXIT_CODES[result];
  if (options.output === 'json') {
    const progress = await session.store.loadProgress(record.id);
    const drones = Object.fromEntries(
      Object.entries(progress).map(([id, p]) => [id, { version: (p.now ?? p.before)?.version ?? null }]),
    );
    printJson({
      id: record.id,
      name: record.name,
      result,
      exitCode,
      config: record.config,
      drones,
      reason: record.reason,
      started: new Date(record.started).toISOString(),
      ended: record.ended === null ? null : new Date(record.ended).toISOString(),
      alreadyEnded: true,
    });
  } else {
    session.display.note(`rollout ${record.id} already ended: ${result}; ${record.reason}`);
  }
  return exitCode;
}

/** `rollout resume <id>`: continues (or rolls back) a rollout whose process died, from its snapshot. */
export async function resumeCommand(options: ResumeOptions): Promise<number> {
  const session = await openRolloutSession(options, options.id);
  try {
    const record = await mustGet(session.store, options.id);
    const liveness = livenessOf(record, Date.now());
    if (liveness === 'ended') return await reportEnded(session, record, options);
    if (liveness === 'running') {
      throw new RolloutError(
        'E_LOCK_BUSY',
        `rollout ${record.id} is still running (pid ${record.owner.pid} on ${record.owner.host}); \`rollout abort ${record.id}\` stops it`,
      );
    }
    const plan = await planOf(record);
    const token = await readToken(options.tokenFile);
    const tls = await readDroneTls(plan.spec.fleet.tls, options);
    const start = await prepareResume({
      plan,
      record,
      locks: session.locks,
      store: session.store,
      owner: currentOwner(),
      note: (text) => session.display.note(text),
      ...(token === undefined ? {} : { token }),
      ...(tls === undefined ? {} : { tls }),
    });
    if ('ended' in start) return await reportEnded(session, start.ended, options);
    const { point } = start;
    session.display.note(
      `resuming ${record.id} at "${record.stage}"${point.lease === null ? '' : ` with fence ${point.lease.fence}`}${options.rollback ? ', rolling back' : ''}`,
    );
    const running = await runRollout({
      plan,
      locks: session.locks,
      store: session.store,
      owner: currentOwner(),
      specDigest: record.specDigest,
      logger: session.logger,
      observer: session.display,
      rolloutId: record.id,
      resume: point,
      ...(token === undefined ? {} : { token }),
      ...(tls === undefined ? {} : { tls }),
    });
    if (options.rollback) running.abort(operatorName(), 'resumed with --rollback');
    return await superviseRollout(running, session, options);
  } finally {
    await session.close();
  }
}
