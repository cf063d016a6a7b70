import { formatLockTable, describeHolder } from '../../lock/describe.js';
import { openLockStore, printJson, type CommonOptions } from '../common.js';

/** `rollout lock ls`: the lock table, live and stale. */
export async function lockListCommand(options: CommonOptions): Promise<number> {
  const locks = await openLockStore(options);
  try {
    const table = await locks.list();
    if (options.output === 'json') printJson(table);
    else process.stdout.write(table.length === 0 ? 'no locks held\n' : `${formatLockTable(table, Date.now())}\n`);
    return 0;
  } finally {
    await locks.close();
  }
}

/** `rollout lock reclaim`: frees every stale lock (dead owner, rebooted host, expired lease). */
export async function lockReclaimCommand(options: CommonOptions): Promise<number> {
  const locks = await openLockStore(options);
  try {
    const freed = await locks.reclaimStale();
    if (options.output === 'json') printJson(freed);
    else if (freed.length === 0) process.stdout.write('no stale locks\n');
    else
      for (const lock of freed)
        process.stdout.write(
          `reclaimed ${lock.key} (fence ${lock.fence}, ${lock.staleReason}): ${describeHolder(lock, Date.now())}\n`,
        );
    return 0;
  } finally {
    await locks.close();
  }
}

/** `rollout lock release <key>`: frees one lock by hand; a live owner needs --force. */
export async function lockReleaseCommand(
  options: CommonOptions & { readonly key: string; readonly force: boolean },
): Promise<number> {
  const locks = await openLockStore(options);
  try {
    const released = await locks.forceRelease(options.key, { force: options.force });
    if (options.output === 'json') printJson(released);
    else
      process.stdout.write(
        `released ${released.key} (fence ${released.fence}), was ${describeHolder(released, Date.now())}\n`,
      );
    return 0;
  } finally {
    await locks.close();
  }
}
