import { request } from 'node:http';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { OperatorCommand, StateStore } from '../../src/store/types.js';
import { htmlReport } from '../../src/report/html.js';
import { buildRolloutView } from '../../src/report/rollout-view.js';
import { startUiServer, type UiServer, type UiServerOptions } from '../../src/ui/ui-server.js';
import { makeStateDir } from '../store/temp-dir.js';
import { sampleRecord, START } from '../store/conformance.js';

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly frame: string | string[];
  readonly body: string;
}

function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<Answer>((done, fail) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        done({
          status: res.statusCode ?? 0,
          type: res.headers['content-type'] ?? '',
          frame: res.headers['x-frame-options'] ?? '',
          body,
        }),
      );
    });
    req.on('error', fail);
    req.end(options.body);
  });
}

/** The `data:` lines of a server-sent event stream, as they arrive, until `enough` (told each one) says stop. */
function events(url: string, enough: (data: readonly string[]) => boolean): Promise<string[]> {
  return new Promise((done, fail) => {
    const req = request(url, (res) => {
      const data: string[] = [];
      let buffer = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        const blocks = buffer.split('\n\n');
        buffer = blocks.pop() ?? '';
        for (const block of blocks)
          for (const line of block.split('\n')) if (line.startsWith('data: ')) data.push(line.slice(6));
        if (enough(data)) {
          req.destroy();
          done(data);
        }
      });
    });
    req.on('error', (error) => (req.destroyed ? undefined : fail(error)));
    req.end();
  });
}

describe('rollout ui over HTTP', () => {
  let state: { dir: string; remove: () => Promise<void> };
  let store: StateStore;
  let server: UiServer | undefined;
  const sent: { id: string; type: OperatorCommand['type']; reason: string | undefined }[] = [];

  beforeEach(async () => {
    state = await makeStateDir();
    store = createEmbeddedStateStore({ dir: state.dir });
    sent.length = 0;
    await store.createRollout({
      ...sampleRecord('old-one', START),
      result: 'promoted',
      stage: 'ended',
      ended: START + 5,
    });
    await store.createRollout(sampleRecord('live-one', START + 1000));
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await store.close();
    await state.remove();
  });

  async function start(options: Partial<UiServerOptions> = {}): Promise<string> {
    server = await startUiServer({
      store,
      host: '127.0.0.1',
      port: 0,
      allowActions: false,
      livenessOf: (record) => (record.result === null ? 'running' : 'ended'),
      sendCommand: async (id, type, reason) => {
        if (id === 'old-one') throw new RolloutError('E_USAGE', `rollout ${id} already ended`);
        sent.push({ id, type, reason });
        return { type, by: 'mira@ops-1 (rollout ui)', at: 1 };
      },
      storeFlags: '',
      logger: pino({ level: 'silent' }),
      pollMs: 50,
      ...options,
    });
    return server.url;
  }

  it('serves the page, its assets and the list of rollouts, running ones first', async () => {
    const url = await start();
    const page = await send(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/assets/page.js"></script>');
    for (const asset of ['page.js', 'page.css', 'uPlot.iife.min.js', 'uPlot.min.css'])
      expect((await send(`${url}/assets/${asset}`)).status).toBe(200);
    const list = JSON.parse((await send(`${url}/api/rollouts`)).body) as { id: string; liveness: string }[];
    expect(list.map((r) => [r.id, r.liveness])).toEqual([
      ['live-one', 'running'],
      ['old-one', 'ended'],
    ]);
    expect((await send(`${url}/rollouts/no-such`)).status).toBe(404);
    expect((await send(`${url}/rollouts/..%2Fetc`)).status).toBe(404);
    expect((await send(`${url}/rollouts/%E0%A4%A`)).status).toBe(404);
    expect(page.frame).toBe('DENY');
  });

  it('answers only to its own names in the Host header, so a rebound DNS name reads nothing', async () => {
    const url = await start();
    const port = new URL(url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`])
      expect((await send(`${url}/api/rollouts`, { headers: { host } })).status).toBe(200);
    const rebound = await send(`${url}/api/rollouts`, { headers: { host: `evil.example:${port}` } });
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toMatchObject({ error: 'unknown_host' });
  });

  it('refuses --allow-actions on an address other than loopback', async () => {
    await expect(start({ allowActions: true, host: '0.0.0.0' })).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('streams a rollout and sends each change within the next read of the store', async () => {
    const url = await start();
    // The change is made once the first view has arrived, so that view cannot already hold it.
    const stream = events(`${url}/api/rollouts/live-one/events`, (data) => {
      if (data.length === 1)
        void store.saveProgress('live-one', {
          'drone-1': { before: null, now: null, pauseSent: true, pushSent: false, rolledBack: false, lastError: null },
        });
      return data.length >= 2;
    });
    const [first, second] = (await stream).map((text) => JSON.parse(text) as { drones: { state: string }[] });
    expect(first?.drones).toEqual([]);
    expect(second?.drones.map((d) => d.state)).toEqual(['paused']);
  });

  it('is read-only unless started with --allow-actions', async () => {
    const url = await start();
    const refused = await send(`${url}/api/rollouts/live-one/abort`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'actions_disabled' });
    expect(sent).toEqual([]);
  });

  it('with --allow-actions takes a command as JSON from its own page only', async () => {
    const url = await start({ allowActions: true });
    const post = (path: string, headers: Record<string, string>, body = '{"reason":"bad canary"}') =>
      send(`${url}${path}`, { method: 'POST', headers, body });
    const json = { 'content-type': 'application/json' };
    expect((await post('/api/rollouts/live-one/abort', { ...json, origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('/api/rollouts/live-one/abort', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('/api/rollouts/live-one/abort', json, '{nope')).status).toBe(400);
    const ended = await post('/api/rollouts/old-one/abort', json);
    expect(ended.status).toBe(409);
    expect(JSON.parse(ended.body)).toMatchObject({ error: 'E_USAGE' });
    const host = new URL(url).host;
    const taken = await post('/api/rollouts/live-one/promote', { ...json, origin: `http://${host}` });
    expect(taken.status).toBe(202);
    expect(sent).toEqual([{ id: 'live-one', type: 'promote', reason: 'bad canary' }]);
  });

  it('writes a report whose text from the store cannot break out of its script', async () => {
    const record = { ...sampleRecord('x'), reason: '</script><script>alert(1)</script>' };
    const html = await htmlReport(
      buildRolloutView({ record, liveness: 'ended', progress: {}, audit: [], snapshot: null }),
    );
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('\\u003c/script>\\u003cscript>alert(1)');
    expect(html).toContain(`content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"`);
  });
});
