// A separate orchestrator process for the fence-floor race: it prints `ready`, waits for a line on stdin
// so that every child starts together, then `rounds` times takes `fence.conf` (waiting for it) with a
// minFence of its own, appends `{rollout, fence, minFence}` to the shared log while it holds the lock (so
// the log's order is the order of the holds), and releases it. It prints `done` and exits.
// argv: <built lock module dir> <backend> <rollout id> <rounds> <log file>, where the backend is
// `embedded:<state dir>` or `etcd:<host:port>:<prefix>`.
import { appendFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, backend, rollout, rounds, logFile] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(join(moduleDir, 'src/lock', file)).href);
const { hostIdentity } = await import(pathToFileURL(join(moduleDir, 'src/infra/host.js')).href);

async function openStore() {
  const [kind, ...rest] = backend.split(':');
  if (kind === 'embedded') {
    const { createEmbeddedLockStore } = await load('embedded/store.js');
    return createEmbeddedLockStore({ dir: rest.join(':'), pollMs: 5 });
  }
  const { createEtcdLockStore } = await load('etcd/store.js');
  const [host, port, prefix] = rest;
  return createEtcdLockStore({ endpoints: [`${host}:${port}`], prefix });
}

const store = await openStore();
const owner = { ...hostIdentity(), pid: process.pid, rollout };
const index = Number(rollout.replace(/\D/g, ''));
const lines = process.stdin.setEncoding('utf8');
process.stdout.write('ready\n');
await once(lines, 'data');
process.stdin.destroy();
for (let round = 0; round < Number(rounds); round += 1) {
  // Floors from every child interleave: some above the store's highest fence, some below it.
  const minFence = (round + 1) * 10 + index;
  const result = await store.acquire('fence.conf', owner, { ttlMs: 60_000, waitMs: 60_000, minFence });
  if (!result.acquired) throw new Error(`${rollout} did not get fence.conf within 60 s`);
  await appendFile(logFile, `${JSON.stringify({ rollout, fence: result.lease.fence, minFence })}\n`);
  await store.release(result.lease);
}
await store.close();
process.stdout.write('done\n');
