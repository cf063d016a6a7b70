import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DroneClient } from '../../src/fleet/drone-client.js';
import type { Drone } from '../../src/spec/types.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
}

let server: Server | undefined;
let client: DroneClient | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  server?.closeAllConnections();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

/** A drone on loopback answering from a script: one handler per request, the last one repeated. */
async function droneAnswering(...handlers: Handler[]): Promise<{ drone: Drone; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers });
      const handler = handlers[Math.min(seen.length, handlers.length) - 1];
      handler?.(req, body, res);
    });
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  return { drone: { id: 'drone-1', url: `http://127.0.0.1:${port}/d/drone-1`, labels: {} }, seen };
}

const json =
  (status: number, body: object): Handler =>
  (_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

const PUSH = { rollout: 'r-1', version: 'v43', sha256: 'abc', fence: 7, content: 'x = 1\n' };

describe('DroneClient', () => {
  it('sends the JSON body, the bearer token and answers the parsed body', async () => {
    const { drone, seen } = await droneAnswering(
      json(200, { version: 'v43', sha256: 'abc', previous: { version: 'v42', sha256: 'old' } }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 0, token: 's3cret' });

    const reply = await client.push(drone, 'aim lock.conf', PUSH);

    expect(reply).toEqual({
      ok: true,
      body: { version: 'v43', sha256: 'abc', previous: { version: 'v42', sha256: 'old' } },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('PUT');
    expect(seen[0]?.url).toBe('/d/drone-1/v1/configs/aim%20lock.conf');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual(PUSH);
    expect(seen[0]?.headers.authorization).toBe('Bearer s3cret');
    expect(seen[0]?.headers['content-type']).toBe('application/json');
  });

  it("sends a body's content-type and its length in bytes, a request without a body neither, and no empty token", async () => {
    const { drone, seen } = await droneAnswering(
      json(200, { version: 'v43', sha256: 'abc', previous: { version: 'v42', sha256: 'old' } }),
      json(200, { id: 'drone-1', state: 'active', configs: {} }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 0, token: '' });
    const push = { ...PUSH, content: 'aim = "höhe" ✓\n' };

    expect((await client.push(drone, 'aim.conf', push)).ok).toBe(true);
    expect((await client.health(drone)).ok).toBe(true);

    const [put, get] = seen;
    expect(JSON.parse(put?.body ?? '')).toEqual(push);
    expect(put?.headers['content-length']).toBe(String(Buffer.byteLength(put?.body ?? '')));
    expect(put?.headers).toMatchObject({ accept: 'application/json', 'content-type': 'application/json' });
    expect(put?.headers.authorization).toBeUndefined();
    expect(get?.method).toBe('GET');
    expect(get?.headers.accept).toBe('application/json');
    expect(get?.headers['content-type']).toBeUndefined();
    expect(get?.headers.authorization).toBeUndefined();
  });

  it('sorts a 409 lock_mismatch HOT as hot, and other error bodies as refused with their code', async () => {
    const { drone } = await droneAnswering(
      json(409, {
        error: 'lock_mismatch',
        file: 'aim_lock_config.conf',
        lock: 'HOT',
        message: 'lock mismatch: aim_lock_config.conf HOT',
      }),
      json(400, { error: 'checksum_mismatch', message: 'sha256 does not match content' }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 2 });

    expect(await client.push(drone, 'aim_lock_config.conf', PUSH)).toEqual({
      ok: false,
      kind: 'hot',
      message: 'lock mismatch: aim_lock_config.conf HOT',
    });
    expect(await client.push(drone, 'aim_lock_config.conf', PUSH)).toEqual({
      ok: false,
      kind: 'refused',
      status: 400,
      code: 'checksum_mismatch',
      message: 'sha256 does not match content',
    });
  });

  it('retries 503 and answers the next try', async () => {
    const { drone, seen } = await droneAnswering(
      json(503, { error: 'busy', message: 'try later' }),
      json(200, { state: 'paused' }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 2 });

    expect(await client.pause(drone, 'r-1')).toEqual({ ok: true, body: { state: 'paused' } });
    expect(seen.map((s) => s.url)).toEqual(['/d/drone-1/v1/pause', '/d/drone-1/v1/pause']);
  });

  it('sends every drone of a round the push request it was given, a new request its own body', async () => {
    const { drone, seen } = await droneAnswering(
      json(200, { version: 'v43', sha256: 'abc', previous: { version: 'v42', sha256: 'old' } }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 0 });
    const first = Object.freeze({ ...PUSH });
    const second = Object.freeze({ ...PUSH, version: 'v44', content: 'y = 2\n', fence: 8 });

    for (const request of [first, second, first]) expect((await client.push(drone, 'a.conf', request)).ok).toBe(true);

    expect(seen.map((request) => JSON.parse(request.body) as unknown)).toEqual([first, second, first]);
    expect(seen.map((request) => request.headers['content-length'])).toEqual(
      seen.map((request) => String(Buffer.byteLength(request.body))),
    );
  });

  it('sends the token and the same body on every try, with a body or without', async () => {
    const busy = json(503, { error: 'busy', message: 'try later' });
    const { drone, seen } = await droneAnswering(
      busy,
      json(200, { state: 'paused' }),
      busy,
      json(200, { id: 'drone-1', state: 'paused', configs: {} }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 1, token: 's3cret' });

    expect((await client.pause(drone, 'r-1', { holdMs: 60_000 })).ok).toBe(true);
    expect((await client.health(drone)).ok).toBe(true);

    expect(seen.map((request) => request.method)).toEqual(['POST', 'POST', 'GET', 'GET']);
    expect(seen.map((request) => request.headers.authorization)).toEqual(Array(4).fill('Bearer s3cret'));
    expect(seen[1]?.body).toBe(seen[0]?.body);
    expect(JSON.parse(seen[1]?.body ?? '')).toEqual({ rollout: 'r-1', holdMs: 60_000 });
    expect(seen[1]?.headers['content-length']).toBe(String(Buffer.byteLength(seen[1]?.body ?? '')));
  });

  it('does not retry a 500, and names an answer without a JSON body', async () => {
    const { drone, seen } = await droneAnswering((_req, _body, res) => res.writeHead(500).end('oops'));
    client = new DroneClient({ timeoutMs: 2_000, retries: 2 });

    const reply = await client.resume(drone, 'r-1');

    expect(reply).toMatchObject({ ok: false, kind: 'refused', status: 500, code: 'unexpected_answer' });
    expect(seen).toHaveLength(1);
  });

  it('gives up after the retries on a drone that never answers, as unreachable', async () => {
    const { drone, seen } = await droneAnswering(() => undefined);
    client = new DroneClient({ timeoutMs: 150, retries: 1 });

    const started = performance.now();
    const reply = await client.health(drone);

    expect(reply).toMatchObject({ ok: false, kind: 'unreachable' });
    expect(reply.ok ? '' : reply.message).toContain('no answer within 150 ms');
    expect(seen).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('answers unreachable for a refused connection', async () => {
    const { drone } = await droneAnswering(json(200, {}));
    await new Promise<void>((done) => server!.close(() => done()));
    server = undefined;
    client = new DroneClient({ timeoutMs: 500, retries: 0 });

    const reply = await client.health(drone);

    expect(reply).toMatchObject({ ok: false, kind: 'unreachable' });
    expect(reply.ok ? '' : reply.message).toContain('ECONNREFUSED');
  });

  it('answers cancelled at once when the rollout aborts a request in flight', async () => {
    const { drone } = await droneAnswering(() => undefined);
    client = new DroneClient({ timeoutMs: 10_000, retries: 2 });
    const abort = new AbortController();

    const pending = client.push(drone, 'aim_lock_config.conf', PUSH, abort.signal);
    setTimeout(() => abort.abort(), 50);

    const started = performance.now();
    expect(await pending).toEqual({ ok: false, kind: 'cancelled', message: 'cancelled by the rollout' });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('cancels every request in flight under one signal, and only those: answered ones keep their answer', async () => {
    // The first two requests are answered at once, the next eight never.
    const { drone, seen } = await droneAnswering(
      json(200, { state: 'paused' }),
      json(200, { state: 'paused' }),
      () => undefined,
    );
    client = new DroneClient({ timeoutMs: 10_000, retries: 0 });
    const abort = new AbortController();
    const answered = [await client.pause(drone, 'r-1', { signal: abort.signal })];
    answered.push(await client.pause(drone, 'r-1', { signal: abort.signal }));
    const pending = Array.from({ length: 8 }, () => client!.pause(drone, 'r-1', { signal: abort.signal }));
    await expect.poll(() => seen.length).toBe(10);

    abort.abort();

    expect(answered).toEqual([
      { ok: true, body: { state: 'paused' } },
      { ok: true, body: { state: 'paused' } },
    ]);
    expect(await Promise.all(pending)).toEqual(
      Array(8).fill({ ok: false, kind: 'cancelled', message: 'cancelled by the rollout' }),
    );
    expect(await client.pause(drone, 'r-1', { signal: abort.signal })).toMatchObject({ kind: 'cancelled' });
  });

  it('keeps sockets alive between requests to one drone', async () => {
    const { drone, seen } = await droneAnswering(json(200, { state: 'active' }));
    client = new DroneClient({ timeoutMs: 2_000, retries: 0 });
    const ports = new Set<number>();
    server!.on('connection', (socket) => ports.add(socket.remotePort ?? 0));

    for (let i = 0; i < 5; i += 1) expect(await client.resume(drone, 'r-1')).toMatchObject({ ok: true });

    expect(seen).toHaveLength(5);
    expect(ports.size).toBe(1);
  });

  it('answers unreachable (it may have acted) for a 2xx without a JSON body, so a push behind a proxy is rolled back', async () => {
    const { drone } = await droneAnswering((_req, _body, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 2 });

    expect(await client.push(drone, 'aim_lock_config.conf', PUSH)).toMatchObject({ ok: false, kind: 'unreachable' });
  });

  it('retries an answer cut off before its end', async () => {
    const { drone, seen } = await droneAnswering(
      (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"state":');
        setTimeout(() => res.socket?.destroy(), 20);
      },
      json(200, { state: 'paused' }),
    );
    client = new DroneClient({ timeoutMs: 2_000, retries: 1 });

    expect(await client.pause(drone, 'r-1')).toEqual({ ok: true, body: { state: 'paused' } });
    expect(seen).toHaveLength(2);
  });

  it('replaces a kept-alive socket the drone closed, without spending a retry', async () => {
    const requestsOnSocket = new WeakMap<object, number>();
    const { drone, seen } = await droneAnswering((req, _body, res) => {
      const count = (requestsOnSocket.get(req.socket) ?? 0) + 1;
      requestsOnSocket.set(req.socket, count);
      // The second request on a connection finds it closed, as when the drone's keep-alive timer fired.
      if (count === 2) req.socket.destroy();
      else json(200, { state: 'active' })(req, _body, res);
    });
    client = new DroneClient({ timeoutMs: 2_000, retries: 0 });

    expect(await client.resume(drone, 'r-1')).toMatchObject({ ok: true });
    expect(await client.resume(drone, 'r-1')).toMatchObject({ ok: true });
    expect(seen).toHaveLength(3);
  });

  it('gives up at once when the rollout aborts during the wait before a retry', async () => {
    const abort = new AbortController();
    const { drone, seen } = await droneAnswering((req, body, res) => {
      json(503, { error: 'busy', message: 'try later' })(req, body, res);
      setTimeout(() => abort.abort(), 30);
    });
    client = new DroneClient({ timeoutMs: 2_000, retries: 3 });

    const started = performance.now();
    expect(await client.health(drone, abort.signal)).toMatchObject({ ok: false, kind: 'cancelled' });
    expect(performance.now() - started).toBeLessThan(200);
    expect(seen).toHaveLength(1);
  });

  it('reaches a drone at the root of its host, and one on IPv6 loopback', async () => {
    const { drone, seen } = await droneAnswering(json(200, { state: 'active' }));
    client = new DroneClient({ timeoutMs: 2_000, retries: 0 });
    const root = { ...drone, url: drone.url.replace('/d/drone-1', '') };

    expect(await client.resume(root, 'r-1')).toMatchObject({ ok: true });
    expect(seen[0]?.url).toBe('/v1/resume');

    const six = createServer((_req, res) => res.writeHead(200).end('{"state":"paused"}'));
    await new Promise<void>((done) => six.listen(0, '::1', () => done()));
    try {
      const { port } = six.address() as AddressInfo;
      const reply = await client.pause({ id: 'drone-6', url: `http://[::1]:${port}`, labels: {} }, 'r-1');
      expect(reply).toEqual({ ok: true, body: { state: 'paused' } });
    } finally {
      six.closeAllConnections();
      await new Promise<void>((done) => six.close(() => done()));
    }
  });

  it('names a drone whose URL is not an agent base URL (not http:// or https://, a query), and sends nothing', async () => {
    const { drone, seen } = await droneAnswering(json(200, { state: 'active' }));
    client = new DroneClient({ timeoutMs: 2_000, retries: 0 });

    const reply = await client.health({ id: 'drone-9', url: 'ftp://127.0.0.1/d/drone-9', labels: {} });
    const query = await client.health({ ...drone, url: `${drone.url}?x=1` });

    expect(reply).toEqual({
      ok: false,
      kind: 'unreachable',
      message:
        'drone drone-9: url must be an http:// or https:// URL, got "ftp://127.0.0.1/d/drone-9"; fix it in the inventory',
    });
    expect(query).toMatchObject({ ok: false, kind: 'unreachable' });
    expect(query.ok ? '' : query.message).toMatch(/^drone drone-1: url must be the agent's base URL, without a query/);
    expect(seen).toHaveLength(0);
  });
});
