import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { RolloutError } from '../errors.js';
import { loadRolloutView, summaryOf, type RolloutLiveness } from '../report/rollout-view.js';
import { ROLLOUT_ID_PATTERN } from '../store/record-schemas.js';
import type { OperatorCommand, RolloutRecord, StateStore } from '../store/types.js';
import { pageAssets } from './assets.js';
import { LiveFeed } from './live-feed.js';
import { pageHtml } from './page-shell.js';
import { allowedHosts, isLoopback, MAX_BODY_BYTES, readBody, sendError, sendJson, sendText } from './http-answers.js';

export interface UiServerOptions {
  readonly store: StateStore;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Serve promote and abort (`--allow-actions`); without it the server refuses every POST. */
  readonly allowActions: boolean;
  readonly livenessOf: (record: RolloutRecord) => RolloutLiveness;
  /** Queues an operator command as `rollout abort`/`promote` do (cli/operator-command.ts). */
  readonly sendCommand: (
    id: string,
    type: OperatorCommand['type'],
    reason: string | undefined,
  ) => Promise<OperatorCommand>;
  /** Flags a resume command needs to reach this store (`--state-dir …`). */
  readonly storeFlags: string;
  readonly logger: Logger;
  /** How often a watched rollout is read from the store. @default 400 */
  readonly pollMs?: number;
}

export interface UiServer {
  readonly url: string;
  close(): Promise<void>;
}

const ASSETS = {
  '/assets/page.js': ['pageJs', 'text/javascript'],
  '/assets/page.css': ['pageCss', 'text/css'],
  '/assets/uPlot.iife.min.js': ['chartJs', 'text/javascript'],
  '/assets/uPlot.min.css': ['chartCss', 'text/css'],
} as const;

/** A rollout id from its URL segment; undefined for an escape that does not decode. */
function decodedId(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The web page of `rollout ui` over a state store: `/` lists every rollout, `/rollouts/<id>` shows one,
 * both kept current by server-sent events; `/api/…` serves the same as JSON. Read-only unless
 * `allowActions` (loopback only); then POST `/api/rollouts/<id>/abort|promote` queues an operator
 * command, from a page of this server only (its Origin) and as JSON (which a form on another site cannot
 * send). Every request must name this server in its Host header (no DNS rebinding), and no page may frame
 * these (no clickjacking).
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { store, logger } = options;
  if (options.allowActions && !isLoopback(options.host))
    throw new RolloutError(
      'E_USAGE',
      `--allow-actions serves promote and abort on loopback only, and --host is ${options.host}: bind to 127.0.0.1 and reach the page through an SSH tunnel (ssh -L 7300:127.0.0.1:7300 <host>), or leave --allow-actions out for a read-only page`,
    );
  const pollMs = options.pollMs ?? 400;
  const feeds = new Map<string, LiveFeed>();

  const listSummaries = async () => {
    const records = await store.listRollouts();
    const rows = records.map((record) => summaryOf(record, options.livenessOf(record)));
    // Running first, then the newest.
    return rows.sort(
      (a, b) => Number(a.liveness !== 'running') - Number(b.liveness !== 'running') || b.started - a.started,
    );
  };
  const viewOf = (id: string) =>
    loadRolloutView(store, id, { livenessOf: options.livenessOf, storeFlags: options.storeFlags });

  const feed = (key: string, read: () => Promise<string>) => {
    const existing = feeds.get(key);
    if (existing !== undefined) return existing;
    const live: LiveFeed = new LiveFeed({
      read,
      pollMs,
      // Only this feed's own entry: a new feed for the same key may have taken its place meanwhile.
      onIdle: () => {
        if (feeds.get(key) === live) feeds.delete(key);
      },
    });
    feeds.set(key, live);
    return live;
  };

  const act = async (request: IncomingMessage, response: ServerResponse, id: string, type: OperatorCommand['type']) => {
    if (!options.allowActions) {
      sendError(
        response,
        403,
        'actions_disabled',
        'this page is read-only: start `rollout ui --allow-actions` to promote or abort from it',
      );
      return;
    }
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${request.headers.host ?? ''}`) {
      sendError(
        response,
        403,
        'foreign_origin',
        `a page from ${origin} may not steer rollouts; use this server's own page`,
      );
      return;
    }
    if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
      sendError(response, 415, 'json_required', 'send the command as application/json: {"reason": "..."}');
      return;
    }
    const text = await readBody(request);
    if (text === null) {
      sendError(
        response,
        413,
        'too_large',
        `a command is a small JSON object; this one is over ${MAX_BODY_BYTES} bytes`,
      );
      return;
    }
    let reason: string | undefined;
    try {
      const body = JSON.parse(text || '{}') as { reason?: unknown };
      reason = typeof body.reason === 'string' ? body.reason.slice(0, 500) : undefined;
    } catch (error) {
      sendError(
        response,
        400,
        'bad_request',
        `the body is not JSON: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    try {
      const sent = await options.sendCommand(id, type, reason);
      logger.warn({ rollout: id, command: sent }, `operator command from rollout ui: ${type} by ${sent.by}`);
      sendJson(response, 202, {
        id,
        command: type,
        by: sent.by,
        message: `${type} sent to ${id} by ${sent.by}; the rollout acts on it within a second`,
      });
    } catch (error) {
      if (!(error instanceof RolloutError)) throw error;
      sendError(response, error.code === 'E_ROLLOUT_NOT_FOUND' ? 404 : 409, error.code, error.message);
    }
  };

  let hosts: ReadonlySet<string> | null = null;

  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const host = request.headers.host ?? '';
    if (hosts !== null && !hosts.has(host)) {
      sendError(response, 421, 'unknown_host', `this server answers to ${[...hosts].join(', ')}, not to "${host}"`);
      return;
    }
    const path = new URL(request.url ?? '/', 'http://ui').pathname;
    const method = request.method ?? 'GET';
    const asset = Object.hasOwn(ASSETS, path) ? ASSETS[path as keyof typeof ASSETS] : undefined;
    if (method === 'GET' && asset !== undefined) {
      const assets = await pageAssets();
      sendText(response, 200, asset[1], assets[asset[0]]);
      return;
    }
    if (method === 'GET' && path === '/favicon.ico') {
      response.writeHead(204).end();
      return;
    }
    if (method === 'GET' && path === '/') {
      sendText(response, 200, 'text/html', pageHtml({ title: 'rollouts', mode: 'list' }));
      return;
    }
    if (method === 'GET' && path === '/api/rollouts') {
      sendJson(response, 200, await listSummaries());
      return;
    }
    if (method === 'GET' && path === '/api/rollouts/events') {
      feed('list', async () => JSON.stringify(await listSummaries())).add(response);
      return;
    }
    const match = /^\/(?:api\/)?rollouts\/([^/]+)(?:\/(events|abort|promote))?$/.exec(path);
    const id = match?.[1] === undefined ? undefined : decodedId(match[1]);
    if (match === null || id === undefined || !ROLLOUT_ID_PATTERN.test(id)) {
      sendError(response, 404, 'not_found', `nothing at ${path}: the page lists rollouts at /`);
      return;
    }
    const api = path.startsWith('/api/');
    const action = match[2];
    if (method === 'POST' && api && (action === 'abort' || action === 'promote')) {
      await act(request, response, id, action);
      return;
    }
    if (method !== 'GET' || (action !== undefined && action !== 'events') || (!api && action !== undefined)) {
      sendError(response, 405, 'method_not_allowed', `${method} ${path} is not served here`);
      return;
    }
    // A stream answers whatever the store holds, a removed rollout (null) or an unreadable store included:
    // an error answer would end the browser's reconnecting for good.
    if (action === 'events') {
      feed(`rollout:${id}`, async () => JSON.stringify(await viewOf(id))).add(response);
      return;
    }
    const record = await store.getRollout(id);
    if (record === null) {
      sendError(response, 404, 'E_ROLLOUT_NOT_FOUND', `no rollout ${id} in this state store; / lists them`);
      return;
    }
    if (api) sendJson(response, 200, await viewOf(id));
    else
      sendText(
        response,
        200,
        'text/html',
        pageHtml({ title: record.name, mode: 'rollout', id, allowActions: options.allowActions }),
      );
  };

  const server: Server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      logger.error({ err: error, url: request.url }, 'rollout ui request failed');
      const code = error instanceof RolloutError ? error.code : 'internal';
      const message = error instanceof Error ? error.message : String(error);
      if (!response.headersSent) sendError(response, 500, code, `rollout ui could not answer: ${message}`);
      else response.end();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port, options.host, () => done());
  });
  const { port } = server.address() as AddressInfo;
  hosts = allowedHosts(options.host, port);
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}`,
    async close() {
      for (const live of [...feeds.values()]) live.close();
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      await closed;
    },
  };
}
