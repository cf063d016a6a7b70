// A separate orchestrator process for the cross-process race: it prints `ready`, waits for a line on
// stdin so that every child starts together, tries each key once printing one JSON line per key, prints
// `done`, and stays alive until a second line: a child that exited early would leave dead-owner locks
// that a slower child could rightly reclaim. It never releases what it wins.
// argv: <built lock module dir> <state dir> <rollout id> <key count>
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, stateDir, rollout, keyCount] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(join(moduleDir, 'src/lock', file)).href);
const { createEmbeddedLockStore } = await load('embedded/store.js');
const { hostIdentity } = await import(pathToFileURL(join(moduleDir, 'src/infra/host.js')).href);

const store = createEmbeddedLockStore({ dir: stateDir });
const owner = { ...hostIdentity(), pid: process.pid, rollout };
const lines = process.stdin.setEncoding('utf8');
process.stdout.write('ready\n');
await once(lines, 'data');
for (let index = 0; index < Number(keyCount); index += 1) {
  const key = `race-${index}.conf`;
  const result = await store.acquire(key, owner, { ttlMs: 60_000, waitMs: 0 });
  process.stdout.write(`${JSON.stringify({ key, rollout, acquired: result.acquired })}\n`);
}
await store.close();
process.stdout.write('done\n');
await once(lines, 'data');
process.stdin.destroy();
