import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook receiver on loopback for tests: a real node:http server on 127.0.0.1 and a free port that
 * records every request and answers each path as programmed. Start it in `beforeEach` (or once per
 * suite) and `close()` it in `afterEach`:
 *
 * ```ts
 * const receiver = await startWebhookReceiver({ '/gate': { status: (n) => (n <= 2 ? 500 : 200) } });
 * // ... point a webhook at receiver.url('/gate'), run the code under test ...
 * await receiver.waitFor((calls) => calls.length >= 3, 5_000);
 * expect(receiver.calls('/gate').map((call) => call.status)).toEqual([500, 500, 200]);
 * await receiver.close();
 * ```
 *
 * A path that was not programmed answers 200 with an empty body. Paths are matched without their query.
 */

/** How the receiver answers one path; a function gets the 1-based number of this call to the path. */
export interface ReceiverAnswer {
  /** @default 200 */
  readonly status?: number | ((count: number) => number);
  /**
   * A string is sent as is; anything else as JSON (with `content-type: application/json`); a function is
   * called with the count and its value sent that way. @default ''
   */
  readonly body?: string | object | ((count: number) => string | object);
  /** Waits this long before answering; `Infinity` never answers (until `close`). @default 0 */
  readonly delayMs?: number | ((count: number) => number);
  readonly headers?: Readonly<Record<string, string>>;
}

/** One request the receiver got, recorded once its body has fully arrived (before any delay). */
export interface ReceivedCall {
  readonly method: string;
  /** The path without the query, e.g. `/hooks/smoke`. */
  readonly path: string;
  /** The request target as sent, query included. */
  readonly url: string;
  /** Node's parsed headers: names in lower case. */
  readonly headers: IncomingHttpHeaders;
  /** The body's exact bytes as UTF-8 text (what a signature is computed over). */
  readonly body: string;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  readonly json: unknown;
  /** Date.now() when the body had arrived. */
  readonly at: number;
  /** The 1-based number of this call among the calls to its path. */
  readonly count: number;
  /** The status the receiver chose to answer with (sent after the delay, if the connection is still up). */
  readonly status: number;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** The URL of `path` on this receiver (`path` starts with `/`). */
  url(path: string): string;
  /** Programs (or reprograms) how `path` answers from now on; counts are kept. */
  answer(path: string, answer: ReceiverAnswer): void;
  /** The calls received so far, in arrival order; only those to `path` when given. */
  calls(path?: string): readonly ReceivedCall[];
  /**
   * Resolves with all calls once `predicate` holds over them (checked at once and on every call);
   * rejects after `timeoutMs` with what was received, so a failing test says what came instead.
   */
  waitFor(predicate: (calls: readonly ReceivedCall[]) => boolean, timeoutMs: number): Promise<readonly ReceivedCall[]>;
  /** Drops every connection (requests left waiting get no answer) and stops listening; idempotent. */
  close(): Promise<void>;
}

/** Starts a receiver answering the given paths as programmed (see `ReceiverAnswer`). */
export async function startWebhookReceiver(
  answers: Readonly<Record<string, ReceiverAnswer>> = {},
): Promise<WebhookReceiver> {
  const programmed = new Map<string, ReceiverAnswer>(Object.entries(answers));
  const received: ReceivedCall[] = [];
  const perPath = new Map<string, number>();
  const waiters = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();
  let closing: Promise<void> | undefined;

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '/';
      const path = url.split('?')[0] ?? '/';
      const count = (perPath.get(path) ?? 0) + 1;
      perPath.set(path, count);
      const answer = programmed.get(path) ?? {};
      const status = valueAt(answer.status, count) ?? 200;
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: req.method ?? '',
        path,
        url,
        headers: req.headers,
        body,
        json: parseJson(body),
        at: Date.now(),
        count,
        status,
      });
      for (const wake of [...waiters]) wake();
      const delayMs = valueAt(answer.delayMs, count) ?? 0;
      if (delayMs === Number.POSITIVE_INFINITY) return;
      const send = () => reply(res, status, count, answer);
      if (delayMs <= 0) {
        send();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    url: (path) => `${origin}${path}`,
    answer: (path, answer) => void programmed.set(path, answer),
    calls: (path) => (path === undefined ? [...received] : received.filter((call) => call.path === path)),
    waitFor: (predicate, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          let holds: boolean;
          try {
            holds = predicate(received);
          } catch (error) {
            done();
            reject(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          if (!holds) return;
          done();
          resolve([...received]);
        };
        const timer = setTimeout(() => {
          done();
          const seen = received.map((call) => `${call.method} ${call.path} → ${call.status}`).join(', ');
          reject(new Error(`the receiver's calls did not match within ${timeoutMs} ms; got [${seen}]`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function valueAt<T>(value: T | ((count: number) => T) | undefined, count: number): T | undefined {
  return typeof value === 'function' ? (value as (count: number) => T)(count) : value;
}

function reply(res: ServerResponse, status: number, count: number, answer: ReceiverAnswer): void {
  if (res.destroyed) return;
  const body = valueAt<string | object>(answer.body, count);
  const json = typeof body === 'object';
  const text = typeof body === 'string' ? body : json ? JSON.stringify(body) : '';
  res.writeHead(status, { ...(json ? { 'content-type': 'application/json' } : {}), ...answer.headers });
  res.end(text);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
