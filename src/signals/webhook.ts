import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { WebhookSpec, WebhookType } from '../spec/types.js';
import { postJson, type Backoff, type PostJsonResult } from './post-json.js';
import { redactUrl, scrubSecrets } from '../infra/redact.js';

export { redactUrl } from '../infra/redact.js';

/**
 * What a call needs of a webhook of the spec (`waitMs` is the rollout's business): `retries` are tries
 * after the first, on network errors and on 408, 429 and 5xx answers; `secretFile` holds the HMAC secret
 * (one trailing newline is ignored) that signs the body; `headers` never override `content-type` or the
 * signature header.
 */
export type WebhookTarget = Omit<WebhookSpec, 'waitMs'>;

/** The JSON body of every webhook call. */
export interface WebhookPayload {
  /** The rollout's id. */
  readonly rollout: string;
  /** The webhook's own name and type (see `webhookPayload`). */
  readonly name: string;
  readonly type: WebhookType;
  /** The step the rollout is at; null before the first and after the last. */
  readonly step: string | null;
  /** The rollout's result; null until decided. */
  readonly result: string | null;
  readonly reason: string | null;
  /** Drones that answered HOT (their lock is held by someone else). */
  readonly hot: readonly string[];
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
  readonly drones: { readonly total: number; readonly updated: number };
}

/** What a webhook call came to: the rollout decides on `ok` and records the rest. */
export interface WebhookCall {
  readonly name: string;
  readonly type: WebhookType;
  /** The hook's URL without its credentials. */
  readonly url: string;
  /** A 2xx answer. */
  readonly ok: boolean;
  /** The last answer's status; null when none came. */
  readonly status: number | null;
  /** From the call to its outcome, retries and waits included. */
  readonly ms: number;
  /** Requests sent; 0 when none could be (unreadable secret, bad URL). */
  readonly attempts: number;
  /** Why it is not ok, for a person to read. */
  readonly error?: string;
  /** The last answer's body, trimmed, at most ANSWER_MAX_CHARS characters (and an ellipsis). */
  readonly answer?: string;
}

export interface CallWebhookOptions {
  /** The wait before each retry. @default defaultBackoff (250 ms doubling to 2 s) */
  readonly backoff?: Backoff;
}

export const SIGNATURE_HEADER = 'x-rollout-signature';

export const ANSWER_MAX_CHARS = 500;

/** The `X-Rollout-Signature` value for `body`: `sha256=` and the hex HMAC-SHA256 of its UTF-8 bytes. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Whether `header` is the signature of `body` under `secret`, compared in constant time (for receivers). */
export function verifySignature(body: string, secret: string, header: string | undefined): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signature(body, secret));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A payload for `hook`: its name and type, and the rollout's facts. */
export function webhookPayload(hook: WebhookTarget, facts: Omit<WebhookPayload, 'name' | 'type'>): WebhookPayload {
  return { ...facts, name: hook.name, type: hook.type };
}

/**
 * POSTs `payload` to the hook, signed when it has a secret, with got's retries (see `postJson`): every try
 * carries the same body and signature, so a receiver must treat a repeated body as one call.
 *
 * Never rejects, except when `signal` aborts: then with `signal.reason`, since a cancelled call has no
 * verdict (an ok:false would read as the hook saying no). Texts in the result carry neither the secret
 * nor the URL's credentials.
 */
export async function callWebhook(
  hook: WebhookTarget,
  payload: WebhookPayload,
  signal?: AbortSignal,
  options: CallWebhookOptions = {},
): Promise<WebhookCall> {
  signal?.throwIfAborted();
  const started = performance.now();
  const base = { name: hook.name, type: hook.type, url: redactUrl(hook.url) };
  const body = JSON.stringify(payload);

  let secret: string | undefined;
  if (hook.secretFile !== undefined) {
    const read = await readSecret(hook.secretFile);
    signal?.throwIfAborted();
    if (typeof read !== 'string') {
      const ms = Math.round(performance.now() - started);
      return { ...base, ok: false, status: null, ms, attempts: 0, error: `webhook ${hook.name}: ${read.error}` };
    }
    secret = read;
  }

  const headers: Record<string, string> = lowerCaseKeys(hook.headers);
  if (secret !== undefined) headers[SIGNATURE_HEADER] = signature(body, secret);
  headers['content-type'] = 'application/json';

  const result = await postJson({
    url: hook.url,
    body,
    headers,
    timeoutMs: hook.timeoutMs,
    retries: hook.retries,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(signal ? { signal } : {}),
  });
  const scrub = (text: string) => scrubSecrets(text, secret === undefined ? [] : [secret]);
  const ms = Math.round(performance.now() - started);
  return { ...base, ...describe(result, hook, scrub), ms, attempts: result.attempts };
}

function describe(
  result: PostJsonResult,
  hook: WebhookTarget,
  scrub: (text: string) => string,
): Pick<WebhookCall, 'ok' | 'status' | 'error' | 'answer'> {
  if (!result.answered) {
    const url = redactUrl(hook.url);
    if (result.code === 'ERR_INVALID_URL') {
      return {
        ok: false,
        status: null,
        error: scrub(`webhook ${hook.name}: ${JSON.stringify(url)} is ${result.message}`),
      };
    }
    const why = result.code === 'ETIMEDOUT' ? `ETIMEDOUT (no answer within ${hook.timeoutMs} ms)` : result.code;
    return { ok: false, status: null, error: scrub(`webhook ${hook.name} (${url}) unreachable: ${why}`) };
  }
  const answer = clip(scrub(result.text.trim()));
  const ok = result.status >= 200 && result.status < 300;
  const said = answer === '' ? '' : `: ${answer.replace(/\s+/g, ' ')}`;
  return {
    ok,
    status: result.status,
    ...(ok ? {} : { error: scrub(`webhook ${hook.name} answered ${result.status}${said}`) }),
    ...(answer === '' ? {} : { answer }),
  };
}

async function readSecret(file: string): Promise<string | { error: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | null)?.code ?? 'unreadable';
    return { error: `cannot read secret file ${file} (${code})` };
  }
  const secret = text.replace(/\r?\n$/, '');
  return secret === '' ? { error: `secret file ${file} is empty` } : secret;
}

function clip(text: string): string {
  return text.length > ANSWER_MAX_CHARS ? `${text.slice(0, ANSWER_MAX_CHARS)}…` : text;
}

function lowerCaseKeys(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
}
