import { request as httpRequest, type Agent as HttpAgent, type ClientRequest } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

/** Where requests go: node:http's own options for one scheme, host and port, so a request parses no URL. */
export interface Origin {
  readonly https: boolean;
  /** Without the brackets of an IPv6 address, as node:http wants it. */
  readonly hostname: string;
  /** Undefined for the scheme's default port. */
  readonly port: number | undefined;
}

export interface JsonRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly origin: Origin;
  /** The whole path: `/d/drone-7/v1/pause`. */
  readonly path: string;
  /** The JSON body, serialized; none for GET. */
  readonly body?: string | undefined;
  /** Sent as they are: accept and authorization, and for a body its content-type and content-length. */
  readonly headers: Readonly<Record<string, string | number>>;
  readonly agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  /** The whole exchange, from connecting to the last byte of the answer. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

export interface JsonAnswer {
  readonly status: number;
  /** The parsed body; undefined when it was empty or not JSON. */
  readonly body: unknown;
}

/** No answer in time: the request was destroyed after `timeoutMs`. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/** The connection broke before the answer's last byte. */
export class AnswerCutOffError extends Error {
  override readonly name = 'AnswerCutOffError';
  readonly code = 'ECONNRESET';
}

/**
 * A new TLS connection the server closed, without a TLS alert, before any answer. Node's TLS server
 * refuses a client certificate that does not verify in just this way, so with a client certificate this
 * is most likely that; the code stays ECONNRESET, since a server that died in the middle looks the same.
 */
export class TlsHangUpError extends Error {
  override readonly name = 'TlsHangUpError';
  readonly code = 'ECONNRESET';
}

const STALE_SOCKET_ERRORS = new Set(['ECONNRESET', 'EPIPE']);

/**
 * One HTTP exchange on node:http with a JSON body each way, and nothing else: no hooks, no per-request
 * option merging. At 10,000 drones a rollout makes tens of thousands of these, so the client's own cost
 * per request is what stands between the orchestrator and the network's speed. Rejects on a network
 * error, the timeout or the signal; any HTTP status resolves. A kept-alive socket that the server closed
 * while it sat idle fails before any answer: that try is made again at once on a new socket, once.
 */
export async function requestJson(options: JsonRequest): Promise<JsonAnswer> {
  const deadline = performance.now() + options.timeoutMs;
  try {
    return await exchange(options, deadline);
  } catch (error) {
    if (!(error instanceof StaleSocketError) || options.signal?.aborted) throw unwrap(error);
    return exchange(options, deadline).catch((again: unknown) => Promise.reject(unwrap(again)));
  }
}

/** A failure on a reused socket before any answer arrived: the server had closed it. */
class StaleSocketError extends Error {
  constructor(readonly original: Error) {
    super(original.message);
  }
}

function unwrap(error: unknown): Error {
  if (error instanceof StaleSocketError) return error.original;
  return error instanceof Error ? error : new Error(String(error));
}

function exchange(options: JsonRequest, deadline: number): Promise<JsonAnswer> {
  return new Promise<JsonAnswer>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortReason(options.signal));
      return;
    }
    const { origin } = options;
    const { https } = origin;
    const send = https ? httpsRequest : httpRequest;
    let answered = false;
    let connected = false;
    const req: ClientRequest = send(
      {
        hostname: origin.hostname,
        port: origin.port,
        path: options.path,
        method: options.method,
        headers: options.headers,
        agent: https ? options.agents.https : options.agents.http,
      },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          settle();
          resolve({ status: res.statusCode ?? 0, body: parseJson(text) });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new AnswerCutOffError('the answer was cut off before its end')));
      },
    );
    const remaining = Math.max(0, deadline - performance.now());
    const timer = setTimeout(
      () => req.destroy(new RequestTimeoutError(`no answer within ${Math.round(options.timeoutMs)} ms`)),
      remaining,
    );
    const stopWatching =
      options.signal === undefined
        ? undefined
        : onAbort(options.signal, () => req.destroy(abortReason(options.signal)));
    function settle(): void {
      clearTimeout(timer);
      stopWatching?.();
    }
    function fail(error: unknown): void {
      settle();
      const code = (error as { code?: unknown } | null)?.code;
      const stale = !answered && req.reusedSocket && typeof code === 'string' && STALE_SOCKET_ERRORS.has(code);
      const plain = error instanceof Error ? error : new Error(String(error));
      if (https && connected && !answered && !req.reusedSocket && code === 'ECONNRESET') {
        reject(new TlsHangUpError(plain.message, { cause: plain }));
        return;
      }
      reject(stale ? new StaleSocketError(plain) : plain);
    }
    if (https) {
      // Whether the TCP connection was up when it broke: a hang-up then is the TLS server's, not the network's.
      req.once('socket', (socket) => {
        if (!req.reusedSocket) socket.once('connect', () => (connected = true));
      });
    }
    req.once('error', fail);
    req.end(options.body);
  });
}

/** The cancels of the requests in flight under each signal. */
const inFlight = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `cancel` when `signal` aborts, until the returned function is called. One 'abort' listener per
 * signal, whatever the number of requests under it: at 10,000 drones, adding and removing an
 * EventTarget listener per request cost more than the rest of the request's own bookkeeping.
 */
function onAbort(signal: AbortSignal, cancel: () => void): () => void {
  const cancels = inFlight.get(signal) ?? watch(signal);
  cancels.add(cancel);
  return () => void cancels.delete(cancel);
}

/** The set of cancels `signal`'s one 'abort' listener calls. */
function watch(signal: AbortSignal): Set<() => void> {
  const cancels = new Set<() => void>();
  const cancelAll = () => {
    for (const cancel of cancels) cancel();
    cancels.clear();
  };
  signal.addEventListener('abort', cancelAll, { once: true });
  inFlight.set(signal, cancels);
  return cancels;
}

function abortReason(signal: AbortSignal | undefined): Error {
  return signal?.reason instanceof Error ? signal.reason : new Error('request aborted');
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
