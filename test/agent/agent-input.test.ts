import { request } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/agent/http-io.js';
import { agentFixture } from './agent-fixture.js';
import { call, FILE, GOOD_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

/** Sends a path exactly as given: fetch would resolve `..` before the agent sees it. */
async function rawPut(
  base: string,
  path: string,
  body: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { hostname, port, path, method: 'PUT', headers: { 'content-type': 'application/json' } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

describe('bearer token', () => {
  test('a request without the token, or with a wrong one, is 401 before anything else', async () => {
    const agent = await agents.start({ token: 's3cret' });

    const missing = await call(agent.url, 'GET', '/v1/health');
    const wrong = await call(agent.url, 'GET', '/v1/health', undefined, { authorization: 'Bearer guess' });
    const badNameNoToken = await call(
      agent.url,
      'PUT',
      `/v1/configs/${encodeURIComponent('../x')}`,
      pushBody(GOOD_CONFIG),
    );
    const right = await call(agent.url, 'GET', '/v1/health', undefined, { authorization: 'Bearer s3cret' });

    for (const refused of [missing, wrong, badNameNoToken]) {
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('unauthorized');
    }
    expect(right.status).toBe(200);
  });

  test('health says whether the agent checks a token: auth bearer or none', async () => {
    const guarded = await agents.start({ token: 's3cret' });
    const open = await agents.start();

    expect(
      (await call(guarded.url, 'GET', '/v1/health', undefined, { authorization: 'Bearer s3cret' })).body.auth,
    ).toBe('bearer');
    expect((await call(open.url, 'GET', '/v1/health')).body.auth).toBe('none');
  });
});

describe('config names', () => {
  test.each([
    '../x',
    '.hidden',
    'a/b',
    'a\\b',
    'x'.repeat(256),
    'aim\u202Efnoc.exe',
    'aim\uFF0Econf',
    'aim lock.conf',
    ' ',
  ])('%j is 400 invalid_config_name', async (name) => {
    const agent = await agents.start();

    const refused = await call(agent.url, 'PUT', `/v1/configs/${encodeURIComponent(name)}`, pushBody(GOOD_CONFIG));

    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_config_name');
  });

  test('raw path segments are refused, not resolved: ../x, a/b, .. and the empty name', async () => {
    const agent = await agents.start();

    const dotDot = await rawPut(agent.url, '/v1/configs/../x', JSON.stringify(pushBody(GOOD_CONFIG)));
    const nested = await rawPut(agent.url, '/v1/configs/a/b', JSON.stringify(pushBody(GOOD_CONFIG)));
    const empty = await rawPut(agent.url, '/v1/configs/', JSON.stringify(pushBody(GOOD_CONFIG)));
    const bare = await rawPut(agent.url, '/v1/configs/..', JSON.stringify(pushBody(GOOD_CONFIG)));

    expect([dotDot, nested, empty, bare].map((reply) => [reply.status, reply.body.error])).toEqual(
      Array(4).fill([400, 'invalid_config_name']),
    );
  });

  test('a 255-byte name is accepted', async () => {
    const agent = await agents.start();

    expect((await call(agent.url, 'PUT', `/v1/configs/${'x'.repeat(255)}`, pushBody(GOOD_CONFIG))).status).toBe(200);
  });
});

describe('bodies', () => {
  test('over 1 MiB is 400 body_too_large', async () => {
    const agent = await agents.start();
    const content = 'x'.repeat(MAX_BODY_BYTES);

    const refused = await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(content));

    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('body_too_large');
  });

  test('not JSON is 400 bad_request', async () => {
    const agent = await agents.start();

    const refused = await call(agent.url, 'PUT', `/v1/configs/${FILE}`, '{"rollout":');

    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('bad_request');
  });

  test.each([
    ['fence', { fence: '7' }],
    ['fence', { fence: -1 }],
    ['rollout', { rollout: '' }],
    ['sha256', { sha256: 'abc' }],
    ['content', { content: undefined }],
  ])('a malformed %s is 400 bad_request naming the field', async (field, change) => {
    const agent = await agents.start();

    const refused = await call(agent.url, 'PUT', `/v1/configs/${FILE}`, { ...pushBody(GOOD_CONFIG), ...change });

    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'bad_request', field, message: expect.stringContaining(`"${field}"`) });
  });

  test('a bad telemetry cursor is 400 bad_request', async () => {
    const agent = await agents.start();

    const refused = await call(agent.url, 'GET', '/v1/telemetry?since=-3');

    expect(refused.body).toMatchObject({ error: 'bad_request', field: 'since' });
  });
});

describe('routes', () => {
  test('an unknown endpoint is 404 not_found, a wrong method 405 method_not_allowed', async () => {
    const agent = await agents.start();

    const unknown = await call(agent.url, 'GET', '/v1/nothing');
    const wrongMethod = await call(agent.url, 'GET', '/v1/pause');
    const getConfig = await call(agent.url, 'GET', `/v1/configs/${FILE}`);

    expect([unknown.status, unknown.body.error]).toEqual([404, 'not_found']);
    expect([wrongMethod.status, wrongMethod.body.error]).toEqual([405, 'method_not_allowed']);
    expect([getConfig.status, getConfig.body.error]).toEqual([405, 'method_not_allowed']);
  });
});
