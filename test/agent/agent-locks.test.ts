import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { agentFixture } from './agent-fixture.js';
import { call, FILE, GOOD_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

/** The incident's leftover: a lock whose owner pid is dead on this host. */
async function plantDeadOwnerLock(dir: string, pid = 2_147_483_646): Promise<void> {
  await mkdir(join(dir, '.agent', 'locks'), { recursive: true });
  const at = Date.now();
  const record = {
    file: FILE,
    owner: { pid, host: hostname(), rollout: 'crashed' },
    fence: 2,
    acquired: at,
    heartbeat: at,
    token: 'dead',
  };
  await writeFile(join(dir, '.agent', 'locks', FILE), JSON.stringify(record));
}

describe('local lock table', () => {
  test('a lock left by a dead owner is listed stale, shows as free, and is reclaimed (and logged) on boot', async () => {
    const agent = await agents.start();
    await plantDeadOwnerLock(agent.dir);

    const before = await call(agent.url, 'GET', '/v1/locks');
    const health = await call(agent.url, 'GET', '/v1/health');
    await agent.close();
    const restarted = await agents.start({ dir: agent.dir });
    const after = await call(restarted.url, 'GET', '/v1/locks');

    expect(before.body).toEqual({
      locks: [
        {
          file: FILE,
          owner: { pid: 2_147_483_646, host: hostname(), rollout: 'crashed' },
          fence: 2,
          acquired: expect.any(String),
          heartbeat: expect.any(String),
          state: 'stale',
          reason: 'owner_dead',
        },
      ],
      fences: { [FILE]: 0 },
    });
    expect(health.body.configs).toMatchObject({ [FILE]: { lock: 'free' } });
    expect(after.body).toEqual({ locks: [], fences: { [FILE]: 0 } });
    expect(restarted.lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        drone: 'drone-a',
        file: FILE,
        reason: 'owner_dead',
        msg: expect.stringContaining('reclaimed stale local lock'),
      }),
    );
  });

  test.each([0, -1, 1.5, 2 ** 31])('a lock whose owner pid %s names no process has a dead owner', async (pid) => {
    const agent = await agents.start();
    await plantDeadOwnerLock(agent.dir, pid);

    const listed = await call(agent.url, 'GET', '/v1/locks');

    expect(listed.body.locks).toEqual([
      expect.objectContaining({
        owner: { pid, host: hostname(), rollout: 'crashed' },
        state: 'stale',
        reason: 'owner_dead',
      }),
    ]);
  });

  test('the collector reclaims a lock that goes stale while the agent runs', async () => {
    const agent = await agents.start({ lockTtlMs: 150 });
    await plantDeadOwnerLock(agent.dir);

    let locks: unknown[] = [{}];
    for (let waited = 0; waited < 3000 && locks.length > 0; waited += 50) {
      await sleep(50);
      locks = (await call(agent.url, 'GET', '/v1/locks')).body.locks as unknown[];
    }

    expect(locks).toEqual([]);
    expect(agent.lines).toContainEqual(expect.objectContaining({ level: 40, file: FILE, reason: 'owner_dead' }));
  });

  test('a live lock is listed as held with its owner, and lists the fences', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 3 }));
    await mkdir(join(agent.dir, '.agent', 'locks'), { recursive: true });
    const at = Date.parse('2030-01-01T00:00:00.000Z');
    await writeFile(
      join(agent.dir, '.agent', 'locks', FILE),
      JSON.stringify({
        file: FILE,
        owner: { pid: process.pid, host: 'elsewhere', rollout: 'r-9' },
        fence: 4,
        acquired: at,
        heartbeat: at,
        token: 't',
      }),
    );

    const table = await call(agent.url, 'GET', '/v1/locks');

    expect(table.body).toEqual({
      locks: [
        {
          file: FILE,
          owner: { pid: process.pid, host: 'elsewhere', rollout: 'r-9' },
          fence: 4,
          acquired: '2030-01-01T00:00:00.000Z',
          heartbeat: '2030-01-01T00:00:00.000Z',
          state: 'held',
        },
      ],
      fences: { [FILE]: 3 },
    });
  });
});
