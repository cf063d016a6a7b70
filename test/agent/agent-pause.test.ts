import { afterEach, describe, expect, test } from 'vitest';
import { sha256Hex, unmanagedVersion } from '../../src/agent/checksum.js';
import { agentFixture } from './agent-fixture.js';
import { call, FILE, INITIAL_CONFIG, GOOD_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

describe('health', () => {
  test('reports the drone, its state and each config with version, sha256, lock and fence', async () => {
    const agent = await agents.start({ id: 'drone-7' });

    const health = await call(agent.url, 'GET', '/v1/health');

    const sha256 = sha256Hex(INITIAL_CONFIG);
    expect(health).toEqual({
      status: 200,
      body: {
        id: 'drone-7',
        state: 'active',
        configs: { [FILE]: { version: unmanagedVersion(sha256), sha256, lock: 'free', fence: 0 } },
        auth: 'none',
        features: ['pause_hold', 'trial_config'],
        holds: [],
        lapsed: [],
      },
    });
  });
});

describe('pause and resume', () => {
  test('a drone stays paused while any rollout still holds it', async () => {
    const agent = await agents.start();

    const first = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-2' });
    const afterOne = await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-1' });
    const repeated = await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-1' });
    const afterBoth = await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-2' });

    expect(first.body).toMatchObject({ state: 'paused', configs: { [FILE]: { lock: 'free', fence: 0 } } });
    expect(afterOne.body).toEqual({ state: 'paused' });
    expect(repeated.body).toEqual({ state: 'paused' });
    expect(afterBoth.body).toEqual({ state: 'active' });
    expect((await call(agent.url, 'GET', '/v1/health')).body.state).toBe('active');
  });

  test('pausing twice for one rollout is one hold', async () => {
    const agent = await agents.start();

    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    const resumed = await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-1' });

    expect(resumed.body).toEqual({ state: 'active' });
  });

  test("resume with all: true clears every hold (the operator's escape hatch), and says so in the log", async () => {
    const agent = await agents.start();
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-2' });

    const resumed = await call(agent.url, 'POST', '/v1/resume', { rollout: 'operator', all: true });

    expect(resumed.body).toEqual({ state: 'active' });
    expect(agent.lines).toContainEqual(expect.objectContaining({ level: 40, cleared: ['r-1', 'r-2'] }));
  });

  test('resuming a drone nobody paused is a no-op', async () => {
    const agent = await agents.start();

    expect(await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-9' })).toEqual({
      status: 200,
      body: { state: 'active' },
    });
  });

  test('a late pause from a rollout that already resumed the drone is ignored, across a restart too', async () => {
    const agent = await agents.start();
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    await call(agent.url, 'POST', '/v1/resume', { rollout: 'r-1' });

    const late = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });

    expect(late.body).toMatchObject({ state: 'active' });
    expect(agent.lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        rollout: 'r-1',
        msg: 'ignored a late pause: this rollout already resumed this drone',
      }),
    );
    await agent.close();
    const restarted = await agents.start({ dir: agent.dir });
    expect((await call(restarted.url, 'POST', '/v1/pause', { rollout: 'r-1' })).body).toMatchObject({
      state: 'active',
    });
    expect((await call(restarted.url, 'POST', '/v1/pause', { rollout: 'r-2' })).body).toMatchObject({
      state: 'paused',
    });
  });
});

describe('restart on the same dir', () => {
  test('keeps the pause holders and the highest fence', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 7 }));
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });
    await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-2' });
    await agent.close();

    const restarted = await agents.start({ dir: agent.dir });
    const health = await call(restarted.url, 'GET', '/v1/health');
    const stale = await call(
      restarted.url,
      'PUT',
      `/v1/configs/${FILE}`,
      pushBody(INITIAL_CONFIG, { fence: 6, rollout: 'r-old' }),
    );

    expect(health.body).toMatchObject({
      state: 'paused',
      configs: { [FILE]: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG), fence: 7 } },
    });
    expect(stale.status).toBe(409);
    expect((await call(restarted.url, 'POST', '/v1/resume', { rollout: 'r-1' })).body).toEqual({ state: 'paused' });
    expect((await call(restarted.url, 'POST', '/v1/resume', { rollout: 'r-2' })).body).toEqual({ state: 'active' });
  });
});
