import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

const PUSHES = 100;
const READERS = 4;

/** Reads `/v1/health` in a loop until `done` is set, answering every lock state it saw. */
async function readHealthUntil(url: string, done: { value: boolean }): Promise<string[]> {
  const seen: string[] = [];
  while (!done.value) {
    const health = await call(url, 'GET', '/v1/health');
    const configs = health.body.configs as Record<string, { lock: string }>;
    seen.push(configs[FILE]?.lock ?? 'missing');
  }
  return seen;
}

describe("the agent's own writes", () => {
  test(`${PUSHES} sequential pushes of one rollout, read by ${READERS} health loops, are never reported HOT`, async () => {
    const agent = await agents.start();
    const done = { value: false };
    const readers = Array.from({ length: READERS }, () => readHealthUntil(agent.url, done));

    const statuses: number[] = [];
    try {
      for (let push = 1; push <= PUSHES; push += 1) {
        const content = push % 2 === 0 ? GOOD_CONFIG : BAD_CONFIG;
        statuses.push(
          (await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(content, { fence: push, version: `v${push}` })))
            .status,
        );
      }
    } finally {
      done.value = true;
    }
    const seen = (await Promise.all(readers)).flat();

    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((lock) => lock !== 'free')).toEqual([]);
  });

  test('a live foreign lock still reads HOT in health, pause and telemetry', async () => {
    const agent = await agents.start();
    await mkdir(join(agent.dir, '.agent', 'locks'), { recursive: true });
    const at = Date.now();
    const record = {
      file: FILE,
      owner: { pid: process.pid, host: hostname(), rollout: 'other-rollout' },
      fence: 3,
      acquired: at,
      heartbeat: at,
      token: 'someone-else',
    };
    await writeFile(join(agent.dir, '.agent', 'locks', FILE), JSON.stringify(record));

    const answers = [
      await call(agent.url, 'GET', '/v1/health'),
      await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' }),
      await call(agent.url, 'GET', '/v1/telemetry'),
    ];

    for (const answer of answers) expect(answer.body.configs).toMatchObject({ [FILE]: { lock: 'HOT' } });
  });
});
