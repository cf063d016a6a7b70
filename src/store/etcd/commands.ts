import type { EtcdStoreClient } from './client.js';
import type { RolloutKeys } from './keys.js';
import { decodeKv } from './values.js';
import { operatorCommandSchema } from '../record-schemas.js';
import type { OperatorCommand } from '../types.js';

const PAGE_KEYS = 1_000;

/**
 * Takes the rollout's queued commands, oldest first by the revision etcd created each at (not the
 * senders' clocks). Every command is read and checked before any is taken, so a value put by hand fails
 * the call without swallowing good commands; each is then deleted only if unchanged since the read, so
 * of two takers exactly one gets it, and none is left behind.
 */
export async function claimCommands(etcd: EtcdStoreClient, keys: RolloutKeys): Promise<OperatorCommand[]> {
  const kvs = (await etcd.readPrefix(keys.commands, PAGE_KEYS)).sort((a, b) =>
    compareRevisions(a.create_revision, b.create_revision),
  );
  const pending = kvs.map((kv) => ({ kv, command: decodeKv(operatorCommandSchema, kv) }));
  const claims = await Promise.allSettled(
    pending.map(async ({ kv }) => {
      const answer = await etcd.kv.txn({
        compare: [{ key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
        success: [{ request_delete_range: { key: kv.key } }],
      });
      return answer.succeeded;
    }),
  );
  const claimed = pending.filter((_, index) => {
    const claim = claims[index];
    return claim?.status === 'fulfilled' && claim.value;
  });
  // A command deleted is this caller's to act on even if deleting another failed: that one is still
  // there for the next call (unless etcd applied the delete and lost the answer).
  const failed = claims.find((claim) => claim.status === 'rejected');
  if (failed !== undefined && claimed.length === 0) {
    throw failed.reason;
  }
  return claimed.map(({ command }) => command);
}

/** Revisions are int64 in decimal: compared as such, never through a float. */
function compareRevisions(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
