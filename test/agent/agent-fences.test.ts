import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, INITIAL_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

const PUSH_PATH = `/v1/configs/${FILE}`;
const ROLLBACK_PATH = `/v1/configs/${FILE}/rollback`;

async function fenceOf(url: string): Promise<unknown> {
  return ((await call(url, 'GET', '/v1/locks')).body.fences as Record<string, number>)[FILE];
}

describe('a fence belongs to one rollout', () => {
  test('20 concurrent pushes with the same fence from two rollouts: one rollout wins, the other gets 409 stale_fence', async () => {
    const agent = await agents.start();
    const contents = { 'r-a': GOOD_CONFIG, 'r-b': BAD_CONFIG } as const;
    const rollouts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'r-a' : 'r-b'));

    const answers = await Promise.all(
      rollouts.map((rollout) => call(agent.url, 'PUT', PUSH_PATH, pushBody(contents[rollout], { rollout, fence: 7 }))),
    );

    const winners = new Set(rollouts.filter((_, i) => answers[i]?.status === 200));
    expect(winners.size).toBe(1);
    const [winner] = [...winners] as ['r-a' | 'r-b'];
    for (const [i, answer] of answers.entries()) {
      if (rollouts[i] === winner) expect(answer.status).toBe(200);
      else
        expect(answer).toEqual({
          status: 409,
          body: { error: 'stale_fence', file: FILE, highestFence: 7, message: expect.any(String), fence: 7 },
        });
    }
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(contents[winner]);
    expect((await call(agent.url, 'GET', '/v1/health')).body.configs).toMatchObject({
      [FILE]: { lock: 'free', fence: 7 },
    });
  });

  test('an equal fence from another rollout is refused for rollbacks too, and restores nothing', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { rollout: 'r-a', fence: 4 }));

    const foreign = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-b', fence: 4 });
    const own = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-a', fence: 4 });

    expect(foreign.status).toBe(409);
    expect(foreign.body.error).toBe('stale_fence');
    expect(own.body).toMatchObject({ restored: true });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });

  test('a push that lands after its own rollout rolled the drone back with a higher fence is refused, others are not', async () => {
    const agent = await agents.start();
    // A resumed rollout (fence 9) rolls back a drone its dead process's push (fence 8) has not reached yet.
    const rollback = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-a', fence: 9 });
    const late = await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { rollout: 'r-a', fence: 8 }));
    const other = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-b', fence: 2 }));

    expect(rollback.body).toMatchObject({ restored: false });
    expect(late).toEqual({
      status: 409,
      body: {
        error: 'stale_fence',
        file: FILE,
        highestFence: 0,
        message: expect.stringMatching(/late write/),
        fence: 8,
      },
    });
    // Nothing was acted on, so the bar did not move: another rollout's lower fence still lands.
    expect(other.status).toBe(200);
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(GOOD_CONFIG);
  });

  test('the same rollout with a higher fence (a resumed rollout) is accepted and moves the bar', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-a', fence: 4 }));

    const resumed = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-a', fence: 6 }));
    const old = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-a', fence: 4 }));

    expect(resumed.status).toBe(200);
    expect(old.body).toMatchObject({ error: 'stale_fence', highestFence: 6 });
    expect(await fenceOf(agent.url)).toBe(6);
  });
});

describe('only a write the drone acts on raises its bar', () => {
  test('a rollback that restores nothing, even with the largest fence, leaves the bar and later rollouts go through', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-a', fence: 2 }));

    const noop = await call(agent.url, 'POST', ROLLBACK_PATH, {
      rollout: 'r-stranger',
      fence: Number.MAX_SAFE_INTEGER,
    });
    const next = await call(
      agent.url,
      'PUT',
      PUSH_PATH,
      pushBody(BAD_CONFIG, { rollout: 'r-b', fence: 3, version: 'v44' }),
    );

    expect(noop.body).toMatchObject({ restored: false });
    expect(next.status).toBe(200);
    expect(await fenceOf(agent.url)).toBe(3);
  });

  test('a push refused as HOT leaves the bar', async () => {
    const agent = await agents.start();
    const lock = join(agent.dir, '.agent', 'locks', FILE);
    await mkdir(join(agent.dir, '.agent', 'locks'), { recursive: true });
    const at = Date.now();
    await writeFile(
      lock,
      JSON.stringify({
        file: FILE,
        owner: { pid: process.pid, host: hostname(), rollout: 'other' },
        fence: 1,
        acquired: at,
        heartbeat: at,
        token: 'other',
      }),
    );

    const hot = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-a', fence: 100 }));
    await rm(lock);
    const later = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-b', fence: 2 }));

    expect(hot.body).toMatchObject({ error: 'lock_mismatch', lock: 'HOT' });
    expect(later.status).toBe(200);
    expect(await fenceOf(agent.url)).toBe(2);
  });
});

describe('fence validation', () => {
  test.each([0, -1, 1.5, 2 ** 53, '7', null])(
    'a fence of %j is 400 bad_request, for pushes and rollbacks',
    async (fence) => {
      const agent = await agents.start();

      const push = await call(agent.url, 'PUT', PUSH_PATH, { ...pushBody(GOOD_CONFIG), fence });
      const rollback = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence });

      for (const refused of [push, rollback])
        expect(refused).toMatchObject({ status: 400, body: { error: 'bad_request', field: 'fence' } });
      expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
    },
  );
});
