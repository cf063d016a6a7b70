import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { agentFixture } from './agent-fixture.js';
import { call } from './helpers.js';

/*
 * Pause holds that lapse: a pause with `holdMs` holds the drone only until its deadline unless its
 * rollout renews it by pausing again, so a drone whose orchestrator died resumes by itself.
 */

const agents = agentFixture();
afterEach(agents.cleanup);

/** A clock the test moves by hand; the agent's state is read against it. */
function manualClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('a hold with a hold time', () => {
  test('holds the drone until its deadline, then the drone is active by itself', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });

    const paused = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 60_000 });
    expect(paused.body).toMatchObject({ state: 'paused', holds: [{ rollout: 'r-1', expiresInMs: 60_000 }] });

    clock.advance(59_999);
    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'paused',
      holds: [{ rollout: 'r-1', expiresInMs: 1 }],
    });
    clock.advance(1);
    // Its lapse timer (60 s of real time) has not fired: the answer names the lapsed hold all the same.
    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'active',
      holds: [],
      lapsed: [{ rollout: 'r-1', at: clock.now() }],
    });
  });

  test('is renewed by pausing again: the deadline moves to a full hold time from the renewal', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 60_000 });

    clock.advance(40_000);
    const renewed = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 60_000 });
    clock.advance(40_000);

    expect(renewed.body).toMatchObject({ holds: [{ rollout: 'r-1', expiresInMs: 60_000 }] });
    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({ state: 'paused' });
    clock.advance(20_000);
    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({ state: 'active' });
  });

  test('lapsing, says so in the log and in its answers, and another rollout’s hold keeps the drone paused', async () => {
    const agent = await agents.start();
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 150 });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-2', holdMs: 2_500 });

    const lapsedCount = async (): Promise<number> =>
      ((await call(agent.url, 'GET', '/v1/health')).body.lapsed as unknown[]).length;
    await expect.poll(lapsedCount, { timeout: 5_000 }).toBe(1);
    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'paused',
      lapsed: [{ rollout: 'r-1' }],
    });
    await expect
      .poll(async () => (await call(agent.url, 'GET', '/v1/health')).body.state, { timeout: 10_000 })
      .toBe('active');
    await expect
      .poll(() => agent.lines.filter((line) => line.level === 40 && String(line.msg).includes('lapsed')).length, {
        timeout: 5_000,
      })
      .toBe(2);
    expect(agent.lines).toContainEqual(
      expect.objectContaining({
        rollout: 'r-2',
        state: 'active',
        msg: 'the pause hold of rollout r-2 lapsed unrenewed (its orchestrator stopped renewing it): resumed by itself',
      }),
    );
    const { lapsed } = (await call(agent.url, 'GET', '/v1/health')).body as { lapsed: { rollout: string }[] };
    expect(lapsed.map((hold) => hold.rollout)).toEqual(['r-1', 'r-2']);
  });

  test('that lapsed is no release: its rollout, resumed, may pause the drone again', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 1_000 });
    clock.advance(5_000);

    const again = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 1_000 });

    expect(again.body).toMatchObject({ state: 'paused' });
    expect((await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-1' })).body).toEqual({ state: 'active' });
  });

  test('keeps its deadline across a restart: a drone down past it comes back active and says why', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 60_000 });
    await agent.close();

    clock.advance(30_000);
    const early = await agents.start({ dir: agent.dir, now: clock.now });
    expect((await call(early.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'paused',
      holds: [{ rollout: 'r-1', expiresInMs: 30_000 }],
    });
    await early.close();

    clock.advance(30_000);
    const late = await agents.start({ dir: agent.dir, now: clock.now });
    expect((await call(late.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'active',
      holds: [],
      lapsed: [{ rollout: 'r-1', at: clock.now() }],
    });
    expect(late.lines).toContainEqual(expect.objectContaining({ level: 40, rollout: 'r-1', state: 'active' }));
  });

  test('is refused beyond a day, and must be a positive integer', async () => {
    const agent = await agents.start();
    for (const holdMs of [0, -5, 1.5, 86_400_001, '2m']) {
      const refused = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1', holdMs });
      expect(refused.status, String(holdMs)).toBe(400);
    }
    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({ state: 'active' });
  });
});

describe('a hold without a hold time (an orchestrator that predates them)', () => {
  test('never lapses', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    clock.advance(365 * 24 * 3_600_000);

    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'paused',
      holds: [{ rollout: 'r-1', expiresInMs: null }],
    });
  });

  test('saved by an agent that predates hold times (bare rollout ids) loads as a hold that never lapses', async () => {
    const first = await agents.start();
    await first.close();
    await mkdir(join(first.dir, '.agent'), { recursive: true });
    await writeFile(join(first.dir, '.agent', 'pause.json'), JSON.stringify({ holds: ['r-old'], released: ['r-0'] }));

    const agent = await agents.start({ dir: first.dir });

    expect((await call(agent.url, 'GET', '/v1/health')).body).toMatchObject({
      state: 'paused',
      holds: [{ rollout: 'r-old', expiresInMs: null }],
    });
    expect((await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-0' })).body).toMatchObject({
      holds: [{ rollout: 'r-old', expiresInMs: null }],
    });
  });
});
