import type { IncomingMessage, ServerResponse } from 'node:http';

/** What every answer of `rollout ui` carries: no framing by other sites (clickjacking), no type sniffing. */
const GUARD_HEADERS = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

/** The policy of the served pages: their own assets only; uPlot sets inline styles; nobody may frame them. */
const PAGE_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

export const MAX_BODY_BYTES = 16 * 1024;

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { ...GUARD_HEADERS, 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

export function sendError(response: ServerResponse, status: number, error: string, message: string): void {
  sendJson(response, status, { error, message });
}

export function sendText(response: ServerResponse, status: number, type: string, text: string): void {
  response.writeHead(status, {
    ...GUARD_HEADERS,
    'content-type': `${type}; charset=utf-8`,
    ...(type === 'text/html' ? { 'content-security-policy': PAGE_POLICY } : {}),
  });
  response.end(text);
}

export function startEventStream(response: ServerResponse): void {
  response.writeHead(200, {
    ...GUARD_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    connection: 'keep-alive',
  });
}

/** The request's body as text, or null when it is larger than MAX_BODY_BYTES. */
export async function readBody(request: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Whether `host` (a `--host` value) is a loopback address or name. */
export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host);
}

/**
 * The Host headers a server bound to `bindHost:port` answers: its loopback names and its own address.
 * A page of another site that made its name resolve to this address (DNS rebinding) sends its own name
 * and is refused. A server bound to every address (0.0.0.0, ::) cannot know its names: null, any.
 */
export function allowedHosts(bindHost: string, port: number): ReadonlySet<string> | null {
  if (WILDCARDS.has(bindHost)) return null;
  const bracketed = bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${bracketed}:${port}`]);
}
