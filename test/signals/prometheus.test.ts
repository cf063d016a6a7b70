import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  checkQuery,
  dronesRegex,
  queryRange,
  renderQuery,
  type PrometheusProvider,
  type RangeResult,
} from '../../src/signals/prometheus.js';
import { startFleetSim, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import { memoryLogger } from '../agent/helpers.js';
import { prometheusAvailable, startPrometheus, type PrometheusServer } from '../helpers/prometheus.js';

describe('dronesRegex', () => {
  test('escapes RE2 metacharacters, then escapes for a PromQL double-quoted string', () => {
    expect(dronesRegex(['drone-1', 'drone-2'])).toBe('drone-1|drone-2');
    // `drone-1.a` in RE2 is `drone-1\.a`; inside "..." the backslash doubles.
    expect(dronesRegex(['drone-1.a', 'x_y-z'])).toBe('drone-1\\\\.a|x_y-z');
    expect(dronesRegex(['a+b*c?(d)|[e]{f}^g$h\\i'])).toBe(
      'a\\\\+b\\\\*c\\\\?\\\\(d\\\\)\\\\|\\\\[e\\\\]\\\\{f\\\\}\\\\^g\\\\$h\\\\\\\\i',
    );
    expect(dronesRegex(['say "hi"\n'])).toBe('say \\"hi\\"\\x0a');
  });

  test('refuses an empty list or an empty id: either would match series without a drone label', () => {
    expect(() => dronesRegex([])).toThrow(/non-empty list of drone ids, got an empty list/u);
    expect(() => dronesRegex(['drone-1', ''])).toThrow(/`ids\[1\]` to be a non-empty drone id/u);
  });
});

describe('renderQuery', () => {
  test('replaces every {{drones}}, and a $ in an id stays literal', () => {
    expect(renderQuery('a{drone=~"{{drones}}"} / b{drone=~"{{drones}}"}', ['d.1', 'd2'])).toBe(
      'a{drone=~"d\\\\.1|d2"} / b{drone=~"d\\\\.1|d2"}',
    );
    expect(renderQuery('x{drone=~"{{drones}}"}', ['$&'])).toBe('x{drone=~"\\\\$&"}');
    expect(renderQuery('up', ['d1'])).toBe('up');
  });
});

/** A stand-in Prometheus whose answers each test scripts; it records every request. */
interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly form: URLSearchParams;
}
type Script = (request: Recorded, response: ServerResponse, index: number) => void;

describe('queryRange and checkQuery against a scripted server', () => {
  let server: Server;
  let base: string;
  let script: Script;
  let requests: Recorded[];
  let dir: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        const recorded = {
          method: request.method ?? '',
          url: request.url ?? '',
          headers: request.headers,
          form: new URLSearchParams(body),
        };
        requests.push(recorded);
        script(recorded, response, requests.length - 1);
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
  beforeEach(async () => {
    requests = [];
    dir = await mkdtemp(join(tmpdir(), 'prometheus-test-'));
  });
  afterEach(async () => {
    server.closeAllConnections();
    await rm(dir, { recursive: true, force: true });
  });

  const provider = (extra: Partial<PrometheusProvider> = {}): PrometheusProvider => ({
    name: 'prom',
    url: base,
    timeoutMs: 2000,
    ...extra,
  });
  const json =
    (status: number, body: unknown): Script =>
    (_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
  const matrix = (result: unknown[]) => ({ status: 'success', data: { resultType: 'matrix', result } });
  const window = { startMs: 1_700_000_000_000, endMs: 1_700_000_010_500, stepMs: 1500 };
  const QUERY = 'drone_heart_rate{drone=~"d1|d2"}';

  test('POSTs the query as a form with times in seconds, and splits the values by drone', async () => {
    await writeFile(join(dir, 'token'), 'sekret-token\n');
    script = json(
      200,
      matrix([
        {
          metric: { drone: 'd1', job: 'a' },
          values: [
            [1, '71.5'],
            [2, 'NaN'],
            [3, '+Inf'],
            [4, '-Inf'],
            [5, '1e-3'],
          ],
        },
        { metric: { drone: 'd2' }, values: [[1, '70']] },
        { metric: { drone: 'd1', job: 'b' }, values: [[1, '72']] },
        { metric: { job: 'a' }, values: [[1, '5']] },
      ]),
    );

    const result = await queryRange(provider({ auth: { bearerTokenFile: join(dir, 'token') } }), QUERY, window);

    expect(result).toEqual({
      ok: true,
      byDrone: new Map([
        ['d1', [71.5, 0.001, 72]],
        ['d2', [70]],
      ]),
      series: 4,
      unlabelled: 1,
    });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/api/v1/query_range');
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request?.headers.authorization).toBe('Bearer sekret-token');
    expect(Object.fromEntries(request?.form ?? [])).toEqual({
      query: QUERY,
      start: '1700000000',
      end: '1700000010.5',
      step: '1.5',
    });
  });

  test('sends basic auth from the password file, and keeps a path prefix of the url', async () => {
    await writeFile(join(dir, 'password'), 'pa:ss\n');
    script = json(200, {
      status: 'success',
      data: { resultType: 'vector', result: [{ metric: { drone: 'd1' }, value: [1, '3'] }] },
    });

    const result = await checkQuery(
      provider({ url: `${base}/prom`, auth: { basic: { username: 'ops', passwordFile: join(dir, 'password') } } }),
      QUERY,
    );

    expect(result).toEqual({ ok: true, series: 1, unlabelled: 0 });
    expect(requests[0]?.url).toBe('/prom/api/v1/query');
    expect(requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('ops:pa:ss').toString('base64')}`);
    expect(Object.fromEntries(requests[0]?.form ?? [])).toEqual({ query: QUERY });
  });

  test('bad_data (400) and execution (422) errors are the query being rejected, named with provider and query', async () => {
    script = json(400, { status: 'error', errorType: 'bad_data', error: '1:17: parse error: unexpected end of input' });
    const rejected = await queryRange(provider(), 'drone_heart_rate{', window);
    script = json(422, { status: 'error', errorType: 'execution', error: 'many-to-many matching not allowed' });
    const execution = await checkQuery(provider(), QUERY);

    expect(rejected).toEqual({
      ok: false,
      kind: 'rejected',
      error: `prometheus prom (${base}): query drone_heart_rate{ rejected: 1:17: parse error: unexpected end of input`,
    });
    expect(execution).toMatchObject({ ok: false, kind: 'rejected', error: expect.stringContaining('many-to-many') });
    expect(requests).toHaveLength(2);
  });

  test('retries 503 with backoff, then answers the result', async () => {
    script = (request, response, index) =>
      index < 2
        ? json(503, { status: 'error', errorType: 'unavailable', error: 'starting' })(request, response, index)
        : json(200, matrix([{ metric: { drone: 'd1' }, values: [[1, '1']] }]))(request, response, index);

    const started = performance.now();
    const result = await queryRange(provider(), QUERY, window);

    expect(result).toMatchObject({ ok: true, byDrone: new Map([['d1', [1]]]) });
    expect(requests).toHaveLength(3);
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
  });

  test('a 5xx that is not JSON, retries spent: failed, with the status and the start of the body', async () => {
    script = (_request, response) => {
      response.writeHead(502, { 'content-type': 'text/html' });
      response.end('<html>bad gateway</html>');
    };

    const result = await queryRange(provider(), QUERY, window);

    expect(result).toEqual({
      ok: false,
      kind: 'failed',
      error: `prometheus prom (${base}): query ${QUERY} failed: HTTP 502 with a body that is not JSON: "<html>bad gateway</html>"`,
    });
    expect(requests).toHaveLength(3);
  });

  test('an answer that is JSON but not a result: failed', async () => {
    script = json(200, { status: 'success', data: { resultType: 'matrix', result: 'nope' } });

    expect(await queryRange(provider(), QUERY, window)).toMatchObject({
      ok: false,
      kind: 'failed',
      error: expect.stringContaining('an answer that is not a query result'),
    });
  });

  test('a scalar answer is one series without a drone', async () => {
    script = json(200, { status: 'success', data: { resultType: 'scalar', result: [1, '2'] } });

    expect(await checkQuery(provider(), '1 + 1')).toEqual({ ok: true, series: 1, unlabelled: 1 });
  });

  test('no credential appears in an error, even when the server echoes it back', async () => {
    await writeFile(join(dir, 'token'), 'sekret-token');
    await writeFile(join(dir, 'password'), 'hunter2');
    script = (request, response) => {
      response.writeHead(401, { 'content-type': 'text/plain' });
      response.end(`denied: ${request.headers.authorization ?? ''}`);
    };

    const bearer = await queryRange(provider({ auth: { bearerTokenFile: join(dir, 'token') } }), QUERY, window);
    const basic = await checkQuery(
      provider({
        url: `http://ops:urlpass@127.0.0.1:${new URL(base).port}`,
        auth: { basic: { username: 'ops', passwordFile: join(dir, 'password') } },
      }),
      QUERY,
    );

    expect(bearer).toMatchObject({ ok: false, kind: 'failed', error: expect.stringContaining('HTTP 401') });
    expect(basic).toMatchObject({ ok: false, kind: 'failed', error: expect.stringContaining('HTTP 401') });
    const errors = JSON.stringify([bearer, basic]);
    for (const secret of ['sekret-token', 'hunter2', Buffer.from('ops:hunter2').toString('base64'), 'urlpass'])
      expect(errors).not.toContain(secret);
    expect(requests.every((request) => !request.url.includes('sekret') && !request.url.includes('hunter2'))).toBe(true);
  });

  test('a credential file that cannot be read: failed, naming the file and not reaching the server', async () => {
    const missing = join(dir, 'missing-token');

    const result = await queryRange(provider({ auth: { bearerTokenFile: missing } }), QUERY, window);

    expect(result).toEqual({
      ok: false,
      kind: 'failed',
      error: `prometheus prom (${base}): query ${QUERY} failed: cannot read its bearer token file ${missing}: ENOENT`,
    });
    expect(requests).toHaveLength(0);
  });

  test('no answer within timeoutMs: unreachable, without retrying the slow query', async () => {
    script = () => {
      // never answers
    };

    const started = performance.now();
    const result = await queryRange(provider({ timeoutMs: 300 }), QUERY, window);

    expect(result).toEqual({
      ok: false,
      kind: 'unreachable',
      error: `prometheus prom (${base}): query ${QUERY}: cannot reach Prometheus: no answer within 300 ms`,
    });
    expect(requests).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  test('nothing listening: unreachable after retries', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((done) => closed.close(done));

    const result = await checkQuery(provider({ url }), QUERY);

    expect(result).toEqual({
      ok: false,
      kind: 'unreachable',
      error: expect.stringMatching(
        /^prometheus prom \(http:\/\/127\.0\.0\.1:\d+\): query .* cannot reach Prometheus: .*ECONNREFUSED.*\(3 tries\)$/u,
      ),
    });
  });

  test('an abort rejects with the signal reason, mid-request or between tries', async () => {
    script = () => {
      // never answers
    };
    const during = new AbortController();
    const pending = queryRange(provider(), QUERY, window, during.signal);
    setTimeout(() => during.abort(new Error('stage left')), 100);
    await expect(pending).rejects.toThrow('stage left');

    script = json(503, { status: 'error', errorType: 'unavailable', error: 'x' });
    const between = new AbortController();
    const waiting = queryRange(provider(), QUERY, window, between.signal);
    setTimeout(() => between.abort(new Error('between tries')), 100);
    await expect(waiting).rejects.toThrow('between tries');
  });

  test('a window that is not one fails at once', async () => {
    await expect(queryRange(provider(), QUERY, { startMs: 10, endMs: 5, stepMs: 1 })).rejects.toThrow(TypeError);
    await expect(queryRange(provider(), QUERY, { startMs: 0, endMs: 5, stepMs: 0 })).rejects.toThrow(
      /`window.stepMs` to be above 0/u,
    );
    expect(requests).toHaveLength(0);
  });
});

describe.skipIf(!prometheusAvailable())('against a real Prometheus scraping the simulator every second', () => {
  const TOKEN = 'scrape-token';
  const GROUP = ['drone-1', 'drone-2'];
  const HEART_RATE = 'drone_heart_rate{drone=~"{{drones}}"}';
  let fleet: RunningFleet | undefined;
  let prometheus: PrometheusServer | undefined;
  let dir: string | undefined;
  let provider: PrometheusProvider;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prometheus-scrape-'));
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    fleet = await startFleetSim({ drones: 4, token: TOKEN, logger: memoryLogger().logger });
    prometheus = await startPrometheus({ targets: [new URL(fleet.url).host], bearerTokenFile: join(dir, 'token') });
    provider = { name: 'prom', url: prometheus.url, timeoutMs: 2000 };
    await prometheus.waitForSeries('drone_heart_rate', 4, 20_000);
  });
  afterAll(async () => {
    await prometheus?.stop();
    await fleet?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** The last 10 s at one point a second, asked again until each drone of the group has `points` values. */
  async function rangeWith(points: number): Promise<RangeResult> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const endMs = Date.now();
      const result = await queryRange(provider, renderQuery(HEART_RATE, GROUP), {
        startMs: endMs - 10_000,
        endMs,
        stepMs: 1000,
      });
      const enough = result.ok && GROUP.every((id) => (result.byDrone.get(id)?.length ?? 0) >= points);
      if (enough || Date.now() > deadline) return result;
      await new Promise((done) => setTimeout(done, 250));
    }
  }

  test('a range query of a group of two splits by drone, several points each, in the telemetry range', async () => {
    const result = await rangeWith(3);

    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect([...result.byDrone.keys()].sort()).toEqual(GROUP);
    expect(result.series).toBe(2);
    expect(result.unlabelled).toBe(0);
    // heart_rate ~ N(72, 2.5)
    for (const values of result.byDrone.values()) {
      expect(values.length).toBeGreaterThanOrEqual(3);
      for (const value of values) {
        expect(value).toBeGreaterThan(55);
        expect(value).toBeLessThan(90);
      }
    }
  });

  test('checkQuery counts the series, and those that lost the drone label', async () => {
    expect(await checkQuery(provider, renderQuery(HEART_RATE, GROUP))).toEqual({ ok: true, series: 2, unlabelled: 0 });
    expect(await checkQuery(provider, renderQuery(`avg(${HEART_RATE})`, GROUP))).toEqual({
      ok: true,
      series: 1,
      unlabelled: 1,
    });
  });

  test('no matching series: ok, with an empty map', async () => {
    const endMs = Date.now();

    expect(
      await queryRange(provider, renderQuery(HEART_RATE, ['drone-99']), { startMs: endMs - 5000, endMs, stepMs: 1000 }),
    ).toEqual({ ok: true, byDrone: new Map(), series: 0, unlabelled: 0 });
  });

  test('a bad query is rejected, naming the provider and the query', async () => {
    const query = 'drone_heart_rate{drone=~"drone-1"';
    const endMs = Date.now();

    const result = await queryRange(provider, query, { startMs: endMs - 5000, endMs, stepMs: 1000 });

    expect(result).toMatchObject({ ok: false, kind: 'rejected' });
    const error = result.ok ? '' : result.error;
    expect(error.startsWith(`prometheus prom (${provider.url}): query ${query} rejected: `)).toBe(true);
    expect(error).toContain('parse error');
  });

  // Last: it stops the shared Prometheus.
  test('Prometheus stopped: unreachable', async () => {
    await prometheus?.stop();
    const endMs = Date.now();

    const result = await queryRange(provider, renderQuery(HEART_RATE, GROUP), {
      startMs: endMs - 5000,
      endMs,
      stepMs: 1000,
    });

    expect(result).toMatchObject({ ok: false, kind: 'unreachable' });
    expect(!result.ok && result.error).toContain(
      `prometheus prom (${provider.url}): query drone_heart_rate{drone=~"drone-1|drone-2"}: cannot reach Prometheus`,
    );
  });
});
