import { newRolloutId, runRollout } from '../../rollout/run.js';
import { loadPlan } from '../../spec/load-plan.js';
import { currentOwner, fileDigest, readDroneTls, readToken } from '../common.js';
import { openRolloutSession, superviseRollout } from '../rollout-session.js';
import type { PlanOptions } from './plan.js';

/** Runs one rollout to its end; its record, snapshots and audit log go to the state store. */
export async function runCommand(options: PlanOptions): Promise<number> {
  const plan = await loadPlan(options.spec, options.inventory === undefined ? {} : { inventory: options.inventory });
  const token = await readToken(options.tokenFile);
  const tls = await readDroneTls(plan.spec.fleet.tls, options);
  const rolloutId = newRolloutId(plan.spec.name);
  const session = await openRolloutSession(options, rolloutId);
  try {
    session.display.note(
      `rollout ${rolloutId}: ${plan.config.file} → ${plan.config.version} on ${plan.drones.length} drone${plan.drones.length === 1 ? '' : 's'}`,
    );
    const running = await runRollout({
      plan,
      locks: session.locks,
      store: session.store,
      owner: currentOwner(),
      specDigest: await fileDigest(plan.specPath),
      logger: session.logger,
      observer: session.display,
      rolloutId,
      ...(token === undefined ? {} : { token }),
      ...(tls === undefined ? {} : { tls }),
    });
    return await superviseRollout(running, session, options);
  } finally {
    await session.close();
  }
}
