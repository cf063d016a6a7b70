import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/agent/checksum.js';
import {
  Children,
  FILE,
  health,
  sendText,
  startAgentProcess,
  tempDirPerTest,
  type AgentProcess,
} from '../helpers/fleet.js';

/** `rollout agent` as a real process on a real dir: boot-time reclaim, durable fences, the bearer token. */

const OLD = '# aim lock config v42\naim_sensitivity = 0.80\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
const V43 = '# aim lock config v43\naim_sensitivity = 0.85\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
const V44 = '# aim lock config v44\naim_sensitivity = 0.86\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
/** A pid no process has: the kernel's pid_max is far below it. */
const DEAD_PID = 2_147_483_646;
const HOUR = 3_600_000;

function push(
  url: string,
  content: string,
  version: string,
  fence: number,
  token?: string,
): Promise<{ status: number; text: string }> {
  return sendText(
    url,
    'PUT',
    `/v1/configs/${FILE}`,
    { rollout: 'r-e2e', version, sha256: sha256Hex(content), fence, content },
    token,
  );
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('rollout agent as a real process', () => {
  const children = new Children();
  const dir = tempDirPerTest('rollout-agent-', children);

  async function startAgent(args: readonly string[] = []): Promise<AgentProcess> {
    return children.track(await startAgentProcess(['--id', 'd1', '--dir', dir.path, '--log-level', 'warn', ...args]));
  }

  it('reclaims a stale local lock on boot, keeps version, fence and pause across a restart, and refuses a lower fence with the contract 409 stale_fence', async () => {
    await writeFile(join(dir.path, FILE), OLD);
    const lockFile = join(dir.path, '.agent', 'locks', FILE);
    await mkdir(join(dir.path, '.agent', 'locks'), { recursive: true });
    const longAgo = Date.now() - HOUR;
    const planted = {
      file: FILE,
      owner: { pid: DEAD_PID, host: hostname(), rollout: 'crashed-rollout' },
      fence: 9,
      acquired: longAgo,
      heartbeat: longAgo,
      token: 'planted',
    };
    await writeFile(lockFile, JSON.stringify(planted));

    const first = await startAgent();
    expect(JSON.parse((await sendText(first.url, 'GET', '/v1/locks')).text)).toEqual({
      locks: [],
      fences: { [FILE]: 0 },
    });
    expect(await exists(lockFile)).toBe(false);
    expect(first.stderr()).toContain(`reclaimed stale local lock on ${FILE} (owner_dead)`);
    const before = await health(first.url);
    expect(before).toMatchObject({
      id: 'd1',
      state: 'active',
      configs: { [FILE]: { sha256: sha256Hex(OLD), lock: 'free', fence: 0 } },
    });

    const accepted = await push(first.url, V43, 'v43', 1);
    expect(accepted.status, accepted.text).toBe(200);
    expect(JSON.parse(accepted.text)).toEqual({
      version: 'v43',
      sha256: sha256Hex(V43),
      previous: { version: before.configs[FILE]?.version, sha256: sha256Hex(OLD) },
      seq: expect.any(Number),
    });
    expect((await push(first.url, V44, 'v44', 5)).status).toBe(200);
    expect((await sendText(first.url, 'POST', '/v1/pause', { rollout: 'r-e2e' })).status).toBe(200);
    expect(await first.stop()).toBe(0);

    const second = await startAgent();
    expect(await health(second.url)).toEqual({
      id: 'd1',
      state: 'paused',
      configs: { [FILE]: { version: 'v44', sha256: sha256Hex(V44), lock: 'free', fence: 5 } },
      auth: 'none',
      features: ['pause_hold', 'trial_config'],
      holds: [{ rollout: 'r-e2e', expiresInMs: null }],
      lapsed: [],
    });
    expect(JSON.parse((await sendText(second.url, 'GET', '/v1/locks')).text)).toEqual({
      locks: [],
      fences: { [FILE]: 5 },
    });

    const stale = await push(second.url, V43, 'v43', 4);
    expect(stale.status).toBe(409);
    const body = JSON.parse(stale.text) as Record<string, unknown>;
    // The contract's four members first, in its order; the refused fence is this agent's extension.
    expect(Object.keys(body).slice(0, 4)).toEqual(['error', 'file', 'highestFence', 'message']);
    expect(body).toEqual({
      error: 'stale_fence',
      file: FILE,
      highestFence: 5,
      message: expect.stringContaining('stale fence 4'),
      fence: 4,
    });
    const staleRollback = await sendText(second.url, 'POST', `/v1/configs/${FILE}/rollback`, {
      rollout: 'r-e2e',
      fence: 4,
    });
    expect(staleRollback.status).toBe(409);
    expect(JSON.parse(staleRollback.text)).toMatchObject({ error: 'stale_fence', highestFence: 5 });

    expect(await readFile(join(dir.path, FILE), 'utf8')).toBe(V44);
    expect((await health(second.url)).configs[FILE]).toEqual({
      version: 'v44',
      sha256: sha256Hex(V44),
      lock: 'free',
      fence: 5,
    });
    expect(JSON.parse((await sendText(second.url, 'POST', '/v1/resume', { rollout: 'r-e2e' })).text)).toEqual({
      state: 'active',
    });
    expect(await second.stop()).toBe(0);
  });

  it('with --token-file answers 401 to a request without the token, and serves it with the token', async () => {
    await writeFile(join(dir.path, FILE), OLD);
    const tokenFile = join(dir.path, '.token');
    await writeFile(tokenFile, 's3cret-token\n');
    const agent = await startAgent(['--token-file', tokenFile]);

    for (const token of [undefined, 'wrong-token']) {
      const health = await sendText(agent.url, 'GET', '/v1/health', undefined, token);
      expect(health.status).toBe(401);
      expect(JSON.parse(health.text)).toMatchObject({ error: 'unauthorized' });
      expect((await push(agent.url, V43, 'v43', 1, token)).status).toBe(401);
    }
    const served = await sendText(agent.url, 'GET', '/v1/health', undefined, 's3cret-token');
    expect(served.status).toBe(200);
    // The refused push changed nothing.
    expect(JSON.parse(served.text)).toMatchObject({
      id: 'd1',
      configs: { [FILE]: { sha256: sha256Hex(OLD), fence: 0 } },
    });
    expect((await push(agent.url, V43, 'v43', 1, 's3cret-token')).status).toBe(200);
    expect(await readFile(join(dir.path, FILE), 'utf8')).toBe(V43);
    expect(await agent.stop()).toBe(0);
  });
});
