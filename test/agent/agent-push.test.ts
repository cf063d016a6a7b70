import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { sha256Hex, unmanagedVersion } from '../../src/agent/checksum.js';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, hotBody, INITIAL_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

const INITIAL = { version: unmanagedVersion(sha256Hex(INITIAL_CONFIG)), sha256: sha256Hex(INITIAL_CONFIG) };
const PUSH_PATH = `/v1/configs/${FILE}`;
const ROLLBACK_PATH = `/v1/configs/${FILE}/rollback`;

/** Plants a lock file as another live process on this host would hold it. */
async function plantForeignLock(dir: string, heartbeat: number): Promise<void> {
  await mkdir(join(dir, '.agent', 'locks'), { recursive: true });
  const record = {
    file: FILE,
    owner: { pid: process.pid, host: hostname(), rollout: 'other-rollout' },
    fence: 3,
    acquired: heartbeat,
    heartbeat,
    token: 'someone-else',
  };
  await writeFile(join(dir, '.agent', 'locks', FILE), JSON.stringify(record));
}

describe('push', () => {
  test('installs the config atomically, keeps the previous one and records the fence', async () => {
    const agent = await agents.start();

    const pushed = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { fence: 4 }));

    expect(pushed).toEqual({
      status: 200,
      body: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG), previous: INITIAL, seq: expect.any(Number) },
    });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(GOOD_CONFIG);
    // Nothing half-written is left beside the config: no temp file, no lock.
    expect((await readdir(agent.dir)).sort()).toEqual(['.agent', FILE]);
    expect(await readdir(join(agent.dir, '.agent', 'locks'))).toEqual([]);
    expect(await readFile(join(agent.dir, '.agent', 'blobs', INITIAL.sha256), 'utf8')).toBe(INITIAL_CONFIG);
    const meta = JSON.parse(await readFile(join(agent.dir, '.agent', 'meta', FILE), 'utf8')) as Record<string, unknown>;
    expect(meta).toEqual({
      current: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG) },
      installedBy: { rollout: 'r-1', fence: 4, action: 'push' },
      previous: INITIAL,
      highestFence: 4,
      fenceOwner: 'r-1',
      retired: null,
      trial: null,
      reverted: null,
      pending: null,
    });
    expect((await call(agent.url, 'GET', '/v1/health')).body.configs).toEqual({
      [FILE]: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG), lock: 'free', fence: 4 },
    });
  });

  test('a duplicate push (same sha256 and fence) is a no-op answering the same previous', async () => {
    const agent = await agents.start();
    const first = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG));

    const again = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG));

    expect(again).toEqual(first);
    expect(again.body.previous).toEqual(INITIAL);
  });

  test('the same rollout re-pushing under a larger fence keeps what it replaced for rollback', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { fence: 4 }));

    const resumed = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { fence: 5 }));

    expect(resumed).toEqual({
      status: 200,
      body: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG), previous: INITIAL, seq: expect.any(Number) },
    });
    expect((await call(agent.url, 'GET', '/v1/health')).body.configs).toMatchObject({ [FILE]: { fence: 5 } });
    const rolledBack = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 5 });
    expect(rolledBack.body).toEqual({ ...INITIAL, restored: true, seq: expect.any(Number) });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });

  test('a retry racing the first attempt waits for it and answers the same', async () => {
    const agent = await agents.start();

    const [first, retry] = await Promise.all([
      call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG)),
      call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG)),
    ]);

    expect(first).toEqual({
      status: 200,
      body: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG), previous: INITIAL, seq: expect.any(Number) },
    });
    expect(retry).toEqual(first);
  });

  test('a new file is created, with no previous', async () => {
    const agent = await agents.start();

    const pushed = await call(agent.url, 'PUT', '/v1/configs/new.conf', pushBody('a = 1\n'));

    expect(pushed.body).toEqual({
      version: 'v43',
      sha256: sha256Hex('a = 1\n'),
      previous: null,
      seq: expect.any(Number),
    });
    expect(await readFile(join(agent.dir, 'new.conf'), 'utf8')).toBe('a = 1\n');
  });

  test('a sha256 that does not match the content is 400 checksum_mismatch and writes nothing', async () => {
    const agent = await agents.start();

    const refused = await call(agent.url, 'PUT', PUSH_PATH, {
      ...pushBody(GOOD_CONFIG),
      sha256: sha256Hex(BAD_CONFIG),
    });

    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('checksum_mismatch');
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });

  test('a fence lower than the highest accepted is 409 stale_fence, not HOT; an equal one from the same rollout is fine', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { fence: 5 }));

    const stale = await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { fence: 4, rollout: 'r-old' }));
    const health = await call(agent.url, 'GET', '/v1/health');
    const equal = await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { fence: 5, version: 'v44' }));

    expect(stale).toEqual({
      status: 409,
      body: { error: 'stale_fence', file: FILE, highestFence: 5, message: expect.any(String), fence: 4 },
    });
    expect(Object.keys(stale.body).slice(0, 4)).toEqual(['error', 'file', 'highestFence', 'message']);
    expect(health.body.configs).toMatchObject({ [FILE]: { lock: 'free', fence: 5 } });
    expect(equal.status).toBe(200);
    expect(equal.body.previous).toEqual({ version: 'v43', sha256: sha256Hex(GOOD_CONFIG) });
  });

  test('a live foreign holder of the local lock gets 409 HOT, for pushes and rollbacks, and health says HOT', async () => {
    const agent = await agents.start();
    await plantForeignLock(agent.dir, Date.now());

    const push = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG));
    const rollback = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 1 });
    const health = await call(agent.url, 'GET', '/v1/health');

    const hot = hotBody({ pid: process.pid, host: hostname(), rollout: 'other-rollout' });
    expect(push).toEqual({ status: 409, body: hot });
    expect(rollback).toEqual({ status: 409, body: hot });
    expect(health.body.configs).toMatchObject({ [FILE]: { lock: 'HOT' } });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });

  test('a lock whose heartbeat expired is reclaimed by the push, which proceeds', async () => {
    const agent = await agents.start({ lockTtlMs: 60_000 });
    await plantForeignLock(agent.dir, Date.now() - 61_000);

    const push = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG));

    expect(push.status).toBe(200);
    expect(agent.lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        file: FILE,
        reason: 'expired',
        owner: { pid: process.pid, host: hostname(), rollout: 'other-rollout' },
      }),
    );
  });
});

describe('rollback', () => {
  test("restores what this rollout's push replaced, then is a no-op", async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { fence: 2 }));

    const first = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 2 });
    const again = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 2 });

    expect(first).toEqual({ status: 200, body: { ...INITIAL, restored: true, seq: expect.any(Number) } });
    expect(again).toEqual({ status: 200, body: { ...INITIAL, restored: false, seq: first.body.seq } });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
    expect((await call(agent.url, 'GET', '/v1/health')).body.configs).toEqual({
      [FILE]: { ...INITIAL, lock: 'free', fence: 2 },
    });
    // The kept copy is gone once nothing refers to it.
    expect(await readdir(join(agent.dir, '.agent', 'blobs'))).toEqual([]);
  });

  test("another rollout's rollback leaves this rollout's config in place", async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { rollout: 'r-1', fence: 2 }));

    const foreign = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-2', fence: 3 });

    expect(foreign).toEqual({
      status: 200,
      body: { version: 'v43', sha256: sha256Hex(GOOD_CONFIG), restored: false, seq: expect.any(Number) },
    });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(GOOD_CONFIG);
    // It restored nothing, so it raised no bar.
    expect((await call(agent.url, 'GET', '/v1/locks')).body.fences).toEqual({ [FILE]: 2 });
  });

  test('rolling back a push that created the file removes it', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', '/v1/configs/new.conf', pushBody('a = 1\n'));

    const rolledBack = await call(agent.url, 'POST', '/v1/configs/new.conf/rollback', { rollout: 'r-1', fence: 1 });

    expect(rolledBack.body).toEqual({ version: null, sha256: null, restored: true, seq: expect.any(Number) });
    expect((await readdir(agent.dir)).sort()).toEqual(['.agent', FILE]);
    expect(Object.keys((await call(agent.url, 'GET', '/v1/health')).body.configs as object)).toEqual([FILE]);
  });

  test('with a fence lower than the highest accepted is 409 stale_fence', async () => {
    const agent = await agents.start();
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { fence: 9 }));

    const stale = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 8 });

    expect(stale).toEqual({
      status: 409,
      body: { error: 'stale_fence', file: FILE, highestFence: 9, message: expect.any(String), fence: 8 },
    });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(BAD_CONFIG);
  });

  test('of a file the drone does not have is 404 unknown_config', async () => {
    const agent = await agents.start();

    const missing = await call(agent.url, 'POST', '/v1/configs/nope.conf/rollback', { rollout: 'r-1', fence: 1 });

    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('unknown_config');
  });
});
