import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

export interface JsonRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly url: URL;
  /** Serialized as the JSON body; none for GET. */
  readonly json?: object;
  readonly headers: Readonly<Record<string, string>>;
  readonly agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  /** The whole exchange, from connecting to the last byte of the answer. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
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

/**
 * One HTTP exchange on node:http with a JSON body each way, and nothing else: no retries, no hooks,
 * no per-request option merging. At 10,000 drones a rollout makes tens of thousands of these, so the
 * client's own cost per request is what stands between the orchestrator and the network's speed.
 * Rejects on a network error, the timeout or the signal; any HTTP status resolves.
 */
export function requestJson(options: JsonRequest): Promise<JsonAnswer> {
  return new Promise<JsonAnswer>((resolve, reject) => {
    const payload = options.json === undefined ? undefined : JSON.stringify(options.json);
    const headers: Record<string, string | number> = { accept: 'application/json', ...options.headers };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const https = options.url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const req = send(options.url, { method: options.method, headers, agent: https ? options.agents.https : options.agents.http }, (res) => {
      readBody(res).then((text) => {
        settle();
        resolve({ status: res.statusCode ?? 0, body: parseJson(text) });
      }, fail);
    });
    const timer = setTimeout(() => req.destroy(new RequestTimeoutError(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    const onAbort = () => req.destroy(options.signal?.reason instanceof Error ? options.signal.reason : new Error('request aborted'));
    function settle(): void {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    function fail(error: unknown): void {
      settle();
      reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (options.signal?.aborted) {
      onAbort();
    } else {
      options.signal?.addEventListener('abort', onAbort, { once: true });
    }
    req.once('error', fail);
    req.end(payload);
  });
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.once('end', () => resolve(text));
    res.once('error', reject);
    res.once('aborted', () => reject(new Error('the answer was cut off before its end')));
  });
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
