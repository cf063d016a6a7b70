import { timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startAgent, type RunningServer } from '../../src/agent/agent-server.js';
import { bearerCheck, requireBearer, sendJson, UNAUTHORIZED_MESSAGE } from '../../src/agent/http-io.js';
import { serve } from '../../src/agent/http-server.js';
import { readTokens } from '../../src/cli/common.js';
import { startFleetSim } from '../../src/simulator/fleet-sim.js';
import { memoryLogger, tempDirs } from './helpers.js';

/** Token rotation: an agent accepts two tokens at once, each compared in constant time. */

const servers: RunningServer[] = [];
const dirs = tempDirs();
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await dirs.cleanup();
  vi.unstubAllEnvs();
});

async function status(url: string, token?: string): Promise<number> {
  const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return response.status;
}

describe('bearerCheck', () => {
  it('accepts exactly `Bearer <token>` for one token', () => {
    const check = bearerCheck('s3cret');
    expect(check('Bearer s3cret')).toBe(true);
    for (const header of [undefined, '', 's3cret', 'Bearer s3cre', 'Bearer s3cret ', 'bearer s3cret', 'Bearer S3CRET'])
      expect(check(header), String(header)).toBe(false);
  });

  it('accepts either of two tokens (old and new) and nothing else', () => {
    const check = bearerCheck(['old-token', 'new-token']);
    expect(check('Bearer old-token')).toBe(true);
    expect(check('Bearer new-token')).toBe(true);
    for (const header of [undefined, 'Bearer third-token', 'Bearer old-tokennew-token', 'Bearer ', 'old-token'])
      expect(check(header), String(header)).toBe(false);
  });

  it('compares the header with every token, whichever matches first: no early exit to time', () => {
    let compared = 0;
    const check = bearerCheck(['old-token', 'new-token'], (a, b) => {
      compared += 1;
      return timingSafeEqual(a, b);
    });
    for (const header of ['Bearer old-token', 'Bearer new-token', 'Bearer wrong', 'Bearer a-much-longer-wrong-token']) {
      compared = 0;
      check(header);
      expect(compared, header).toBe(2);
    }
  });

  it('refuses to be made without a token', () => {
    expect(() => bearerCheck([])).toThrow(/at least one bearer token/);
  });
});

describe('requireBearer', () => {
  it('answers 401 unauthorized before the handler, and passes a request with either token through', async () => {
    let handled = 0;
    const server = await serve(
      requireBearer(
        async (_request, response) => {
          handled += 1;
          sendJson(response, 200, { ok: true });
        },
        ['old-token', 'new-token'],
      ),
      { port: 0, host: '127.0.0.1' },
    );
    servers.push(server);

    const refused = await fetch(`${server.url}/sim/stats`, { headers: { authorization: 'Bearer third-token' } });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'unauthorized', message: UNAUTHORIZED_MESSAGE });
    expect(handled).toBe(0);
    expect(await status(`${server.url}/x`, 'old-token')).toBe(200);
    expect(await status(`${server.url}/x`, 'new-token')).toBe(200);
    expect(handled).toBe(2);
  });
});

describe('an agent and a simulated fleet with two tokens', () => {
  it('the agent accepts `token` and `tokens` alike, says auth bearer, and refuses a third token', async () => {
    const agent = await startAgent({
      id: 'drone-1',
      dir: await dirs.make(),
      token: 'old-token',
      tokens: ['new-token'],
      logger: memoryLogger().logger,
    });
    servers.push(agent);

    for (const token of ['old-token', 'new-token']) expect(await status(`${agent.url}/v1/health`, token)).toBe(200);
    expect(await status(`${agent.url}/v1/health`, 'third-token')).toBe(401);
    expect(await status(`${agent.url}/v1/health`)).toBe(401);
    expect(await status(`${agent.url}/metrics`)).toBe(401);
    const health = await fetch(`${agent.url}/v1/health`, { headers: { authorization: 'Bearer new-token' } });
    expect(await health.json()).toMatchObject({ auth: 'bearer' });
  });

  it('the simulator guards its drones and its own routes with both tokens', async () => {
    const fleet = await startFleetSim({ drones: 2, tokens: ['old-token', 'new-token'], logger: memoryLogger().logger });
    servers.push(fleet);

    for (const token of ['old-token', 'new-token']) {
      expect(await status(`${fleet.url}/d/drone-2/v1/health`, token)).toBe(200);
      expect(await status(`${fleet.url}/sim/stats`, token)).toBe(200);
    }
    expect(await status(`${fleet.url}/d/drone-2/v1/health`, 'third-token')).toBe(401);
    expect(await status(`${fleet.url}/sim/stats`)).toBe(401);
  });

  it('an empty token is refused at start: it would let in anyone who sends `Bearer `', async () => {
    await expect(startAgent({ id: 'drone-1', dir: await dirs.make(), tokens: [''] })).rejects.toThrow(TypeError);
  });
});

describe('readTokens', () => {
  it('reads one token per --token-file, at most two; else $ROLLOUT_TOKEN; else none', async () => {
    const dir = await dirs.make();
    const [oldFile, newFile, thirdFile] = ['old', 'new', 'third'].map((name) => join(dir, name)) as [
      string,
      string,
      string,
    ];
    await writeFile(oldFile, 'old-token\n');
    await writeFile(newFile, '  new-token  \n');
    await writeFile(thirdFile, 'third-token\n');

    expect(await readTokens([oldFile, newFile])).toEqual(['old-token', 'new-token']);
    await expect(readTokens([oldFile, newFile, thirdFile])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringMatching(/--token-file given 3 times: .* at most twice/),
    });
    await expect(readTokens([join(dir, 'missing')])).rejects.toMatchObject({ code: 'E_USAGE' });
    vi.stubEnv('ROLLOUT_TOKEN', 'env-token');
    expect(await readTokens([])).toEqual(['env-token']);
    expect(await readTokens([newFile])).toEqual(['new-token']);
    vi.stubEnv('ROLLOUT_TOKEN', '');
    expect(await readTokens([])).toEqual([]);
  });
});
