import type { RetryObject } from 'got';

/** The wait before retry `retry` (1-based), in ms. */
export type Backoff = (retry: number) => number;

/** 250 ms, 500 ms, 1 s, then 2 s at most: a receiver that blinked gets a few seconds, a rollout no more. */
export const defaultBackoff: Backoff = (retry) => Math.min(2_000, 250 * 2 ** (retry - 1));

/** A `Retry-After` longer than this gives up at once: the receiver asked for more than a rollout waits. */
const MAX_RETRY_AFTER_MS = 10_000;

/** Answers worth another try: the receiver may simply not have answered this once. */
const RETRIED_STATUS: readonly number[] = [408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)];

/** got's list: timeouts, resets, refused connections, DNS hiccups. */
const RETRIED_ERRORS: readonly string[] = [
  'ETIMEDOUT',
  'ECONNRESET',
  'EADDRINUSE',
  'ECONNREFUSED',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'EAI_AGAIN',
];

export interface PostJsonRequest {
  readonly url: string;
  /** The exact bytes sent (already serialized), so that a signature over them holds on the receiver. */
  readonly body: string;
  /** Sent as given, after `content-type: application/json` and `user-agent` (so they may override them). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Each try, from connecting to the answer's last byte. */
  readonly timeoutMs: number;
  /** Tries after the first, on network errors and on 408, 429 and 5xx answers. */
  readonly retries: number;
  /** @default defaultBackoff */
  readonly backoff?: Backoff;
  /** Aborting it cancels the try in flight or the wait before the next; `postJson` then rejects with its reason. */
  readonly signal?: AbortSignal;
}

interface Tries {
  /** Requests sent, retries included. */
  readonly attempts: number;
  /** From the call to its outcome, waits between tries included. */
  readonly ms: number;
}

/** The last try's outcome, once retries are spent or an answer is final. */
export type PostJsonResult =
  | (Tries & { readonly answered: true; readonly status: number; readonly text: string })
  | (Tries & { readonly answered: false; readonly code: string; readonly message: string });

/**
 * One JSON POST with got's retries turned on for it (got does not retry a POST by default): every try
 * sends the same bytes, so a receiver must treat a repeated body as one call. Redirects are not followed,
 * so a signed body and its headers go nowhere but `url`; a 3xx is an answer like any other.
 *
 * Never rejects, except when `signal` aborts: then with `signal.reason`.
 */
export async function postJson(request: PostJsonRequest): Promise<PostJsonResult> {
  const { signal } = request;
  signal?.throwIfAborted();
  const started = performance.now();
  let attempts = 0;
  const tries = (): Tries => ({ attempts, ms: Math.round(performance.now() - started) });
  const backoff = request.backoff ?? defaultBackoff;

  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return { answered: false, code: 'ERR_INVALID_URL', message: 'not a URL', ...tries() };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { answered: false, code: 'ERR_INVALID_URL', message: `not an http(s) URL (${url.protocol})`, ...tries() };
  }

  // got is loaded on the first call: a rollout without signals never pays for it at start-up.
  const { default: got } = await import('got');
  const call = got.post(url, {
    body: request.body,
    headers: { 'content-type': 'application/json', 'user-agent': 'fleet-rollout', ...request.headers },
    timeout: { request: request.timeoutMs },
    followRedirect: false,
    throwHttpErrors: false,
    responseType: 'text',
    retry: {
      limit: request.retries,
      methods: ['POST'],
      statusCodes: [...RETRIED_STATUS],
      errorCodes: [...RETRIED_ERRORS],
      maxRetryAfter: MAX_RETRY_AFTER_MS,
      calculateDelay: ({ attemptCount, computedValue, retryAfter }: RetryObject) => {
        // 0 is got's own verdict (limit reached, not a retried error, Retry-After too long): no retry.
        if (computedValue === 0) return 0;
        return retryAfter ?? Math.max(1, backoff(attemptCount));
      },
    },
    hooks: {
      beforeRequest: [
        () => {
          attempts += 1;
        },
      ],
    },
    ...(signal ? { signal } : {}),
  });

  try {
    const response = await settledOrAborted(call, signal);
    return { answered: true, status: response.statusCode, text: response.body, ...tries() };
  } catch (error) {
    signal?.throwIfAborted();
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    return { answered: false, code: typeof code === 'string' ? code : 'ERR_UNKNOWN', message, ...tries() };
  }
}

/**
 * A got call's answer, or a rejection with `signal.reason` (the call cancelled) the moment `signal`
 * aborts: got settles on abort too, but not while it waits between tries.
 */
export async function settledOrAborted<T>(
  call: Promise<T> & { cancel(): void },
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal === undefined) return call;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      call.cancel();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([call, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
