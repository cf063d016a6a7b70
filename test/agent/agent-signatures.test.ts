import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { DroneAgent } from '../../src/agent/drone-agent.js';
import { serve, type RunningServer } from '../../src/agent/http-server.js';
import { createRequestHandler } from '../../src/agent/request-handler.js';
import { generatePushKeyPair, parseSigningKey, signPush, type SigningKey } from '../../src/protocol/push-signature.js';
import type { PushSignature } from '../../src/protocol/v1.js';
import { DEFAULT_SEED, modelTelemetry } from '../../src/simulator/model-telemetry.js';
import { call, FILE, GOOD_CONFIG, INITIAL_CONFIG, memoryLogger, pushBody, tempDirs } from './helpers.js';

/*
 * An agent given trusted keys (`rollout agent --trust-key`) takes only pushes signed by one of them, and
 * refuses any other with 403 bad_signature before it looks at its local lock, the fence or its disk.
 */

const PUSH_PATH = `/v1/configs/${FILE}`;
const ROLLBACK_PATH = `/v1/configs/${FILE}/rollback`;
const CONFIRM_PATH = `/v1/configs/${FILE}/confirm`;

interface Key {
  readonly signing: SigningKey;
  readonly publicKey: KeyObject;
}

function newKey(): Key {
  const pair = generatePushKeyPair();
  const parsed = parseSigningKey(pair.privatePem);
  if (!('key' in parsed)) throw new Error(parsed.problem);
  return { signing: parsed.key, publicKey: createPublicKey(pair.publicPem) };
}

/** A push body as pushBody makes it, signed by `key` over its own fields (or `over`, to sign something else). */
function signedBody(
  key: Key,
  content: string,
  fields: { rollout?: string; version?: string; fence?: number } = {},
  over: Partial<{ rollout: string; fence: number; sha256: string }> = {},
): Record<string, unknown> & { signature: PushSignature } {
  const body = pushBody(content, fields) as { rollout: string; version: string; sha256: string; fence: number };
  const signature = signPush(key.signing, { file: FILE, ...body, ...over });
  return { ...body, signature };
}

const dirs = tempDirs();
const servers: { server: RunningServer; agent: DroneAgent }[] = [];
afterEach(async () => {
  for (const { server, agent } of servers.splice(0)) {
    await server.close();
    agent.close();
  }
  await dirs.cleanup();
});

/** One drone on loopback, as `startAgent` serves it, trusting `trustedKeys`; its dir starts with the initial config. */
async function startAgent(trustedKeys: readonly KeyObject[]) {
  const dir = await dirs.make();
  await writeFile(join(dir, FILE), INITIAL_CONFIG);
  const { logger, lines } = memoryLogger();
  const agent = await DroneAgent.open({
    id: 'drone-a',
    dir,
    clock: { intervalMs: 200, bootMs: Date.now() },
    telemetry: modelTelemetry({ keyOf: () => DEFAULT_SEED }),
    lockTtlMs: 15_000,
    now: Date.now,
    logger,
    ...(trustedKeys.length === 0 ? {} : { trustedKeys }),
  });
  const server = await serve(createRequestHandler({ resolve: (path) => ({ agent, path }), logger }), {
    port: 0,
    host: '127.0.0.1',
  });
  servers.push({ server, agent });
  return { url: server.url, dir, lines };
}

/** Every file under `dir` with its content: what a refused push must leave exactly as it was. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path.slice(dir.length)] = await readFile(path, 'utf8');
  }
  return files;
}

describe('an agent with trusted keys', () => {
  test('refuses an unsigned push with 403 bad_signature and changes nothing', async () => {
    const key = newKey();
    const agent = await startAgent([key.publicKey]);
    const before = await snapshot(agent.dir);
    const healthBefore = await call(agent.url, 'GET', '/v1/health');

    const refused = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG));

    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: 'bad_signature', message: expect.stringContaining('is not signed') });
    expect(refused.body.message).toContain(key.signing.keyId);
    expect(await snapshot(agent.dir)).toEqual(before);
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
    expect((await call(agent.url, 'GET', '/v1/health')).body.configs).toEqual(healthBefore.body.configs);
    expect(agent.lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        drone: 'drone-a',
        file: FILE,
        msg: expect.stringMatching(/^refused a push/),
      }),
    );
  });

  test.each([
    ['a key it does not trust', () => signedBody(newKey(), GOOD_CONFIG), /which this drone does not trust/],
    ['another fence', (key: Key) => signedBody(key, GOOD_CONFIG, { fence: 2 }, { fence: 1 }), /does not verify/],
    ['another rollout', (key: Key) => signedBody(key, GOOD_CONFIG, {}, { rollout: 'r-other' }), /does not verify/],
    [
      'the content and its sha256 swapped',
      (key: Key) => ({ ...pushBody('# evil\n'), signature: signedBody(key, GOOD_CONFIG).signature }),
      /does not verify/,
    ],
  ])('refuses a push signed for %s with 403 and changes nothing', async (_what, body, message) => {
    const key = newKey();
    const agent = await startAgent([key.publicKey]);
    const before = await snapshot(agent.dir);

    const refused = await call(agent.url, 'PUT', PUSH_PATH, body(key));

    expect(refused).toEqual({ status: 403, body: { error: 'bad_signature', message: expect.stringMatching(message) } });
    expect(await snapshot(agent.dir)).toEqual(before);
  });

  test('accepts a push signed by a key it trusts, and a retry of it', async () => {
    const key = newKey();
    const agent = await startAgent([key.publicKey]);
    const body = signedBody(key, GOOD_CONFIG, { fence: 3 });

    const pushed = await call(agent.url, 'PUT', PUSH_PATH, body);

    expect(pushed.status).toBe(200);
    expect(pushed.body).toMatchObject({ version: 'v43' });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(GOOD_CONFIG);
    expect(await call(agent.url, 'PUT', PUSH_PATH, body)).toEqual(pushed);
  });

  test('trusts each of several keys during a rotation', async () => {
    const old = newKey();
    const next = newKey();
    const agent = await startAgent([old.publicKey, next.publicKey]);

    const first = await call(agent.url, 'PUT', PUSH_PATH, signedBody(old, GOOD_CONFIG, { rollout: 'r-1', fence: 1 }));
    const second = await call(
      agent.url,
      'PUT',
      PUSH_PATH,
      signedBody(next, INITIAL_CONFIG, { rollout: 'r-2', fence: 2 }),
    );

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
    const unknown = await call(
      agent.url,
      'PUT',
      PUSH_PATH,
      signedBody(newKey(), GOOD_CONFIG, { rollout: 'r-3', fence: 3 }),
    );
    expect(unknown.status).toBe(403);
    expect(unknown.body.message).toContain(`it trusts keys ${old.signing.keyId}, ${next.signing.keyId}`);
  });

  test('rolls back and confirms without a signature: they restore or keep what it verified', async () => {
    const key = newKey();
    const agent = await startAgent([key.publicKey]);
    await call(agent.url, 'PUT', PUSH_PATH, { ...signedBody(key, GOOD_CONFIG, { fence: 1 }), trialMs: 60_000 });

    const confirmed = await call(agent.url, 'POST', CONFIRM_PATH, {
      rollout: 'r-1',
      fence: 1,
      sha256: (pushBody(GOOD_CONFIG) as { sha256: string }).sha256,
    });
    const rolledBack = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 1 });

    expect(confirmed).toMatchObject({ status: 200, body: { confirmed: true } });
    expect(rolledBack).toMatchObject({ status: 200, body: { restored: true } });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });

  test('checks the signature before its local lock and fence: a bad one is never HOT nor a stale fence', async () => {
    const key = newKey();
    const agent = await startAgent([key.publicKey]);
    expect((await call(agent.url, 'PUT', PUSH_PATH, signedBody(key, GOOD_CONFIG, { fence: 5 }))).status).toBe(200);
    // Another live owner holds the drone's local lock now.
    await mkdir(join(agent.dir, '.agent', 'locks'), { recursive: true });
    const now = Date.now();
    await writeFile(
      join(agent.dir, '.agent', 'locks', FILE),
      JSON.stringify({
        file: FILE,
        owner: { pid: process.pid, host: hostname(), rollout: 'other-rollout' },
        fence: 9,
        acquired: now,
        heartbeat: now + 60_000,
        token: 'someone-else',
      }),
    );

    const unsigned = await call(agent.url, 'PUT', PUSH_PATH, pushBody(INITIAL_CONFIG, { rollout: 'r-2', fence: 1 }));
    const signedHot = await call(
      agent.url,
      'PUT',
      PUSH_PATH,
      signedBody(key, INITIAL_CONFIG, { rollout: 'r-2', fence: 6 }),
    );

    expect(unsigned).toMatchObject({ status: 403, body: { error: 'bad_signature' } });
    expect(signedHot).toMatchObject({ status: 409, body: { error: 'lock_mismatch', lock: 'HOT' } });
  });

  test('lists the signed_config feature in health', async () => {
    const withKeys = await startAgent([newKey().publicKey]);
    const without = await startAgent([]);
    expect((await call(withKeys.url, 'GET', '/v1/health')).body.features).toEqual([
      'pause_hold',
      'trial_config',
      'signed_config',
    ]);
    expect((await call(without.url, 'GET', '/v1/health')).body.features).toEqual(['pause_hold', 'trial_config']);
  });

  test('a malformed signature is a 400 naming the field', async () => {
    const agent = await startAgent([newKey().publicKey]);
    const refused = await call(agent.url, 'PUT', PUSH_PATH, { ...pushBody(GOOD_CONFIG), signature: 'abc' });
    expect(refused).toMatchObject({ status: 400, body: { error: 'bad_request', field: 'signature' } });
  });

  test('refuses a key that is not an Ed25519 public key at open', async () => {
    const dir = await dirs.make();
    await expect(
      DroneAgent.open({
        id: 'drone-a',
        dir,
        clock: { intervalMs: 200, bootMs: Date.now() },
        telemetry: modelTelemetry({ keyOf: () => DEFAULT_SEED }),
        lockTtlMs: 15_000,
        now: Date.now,
        logger: memoryLogger().logger,
        trustedKeys: [newKey().signing.privateKey],
      }),
    ).rejects.toThrow(TypeError);
  });
});

describe('an agent without trusted keys', () => {
  test('accepts unsigned pushes as before, and signed ones alike', async () => {
    const agent = await startAgent([]);
    const unsigned = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { fence: 1 }));
    const signed = await call(
      agent.url,
      'PUT',
      PUSH_PATH,
      signedBody(newKey(), INITIAL_CONFIG, { rollout: 'r-2', fence: 2 }),
    );
    expect([unsigned.status, signed.status]).toEqual([200, 200]);
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });
});
