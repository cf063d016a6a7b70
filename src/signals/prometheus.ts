import { readFile } from 'node:fs/promises';
import type { RetryObject } from 'got';
import { z } from 'zod';
import { argumentError, assertPositiveInteger } from '../infra/argument-checks.js';
import { DRONES_PLACEHOLDER } from '../spec/signals-schema.js';
import { settledOrAborted } from './post-json.js';
import { redactUrl, scrubSecrets } from '../infra/redact.js';

/**
 * A Prometheus server as a metric provider: range queries over its HTTP API (`/api/v1/query_range`),
 * their values split per drone by the `drone` label, and an instant query (`/api/v1/query`) to check a
 * query before a rollout. Queries go as a POST form, so a long `{{drones}}` regex never meets a URL
 * length limit. Nothing here throws for a failed query: the answer says `unreachable`, `rejected` (the
 * query is wrong) or `failed`, with a text naming the provider and the query and never a credential.
 */

export interface PrometheusProvider {
  /** The provider's name in the spec; names it in every error. */
  readonly name: string;
  /** Prometheus' base URL, e.g. `http://127.0.0.1:9090` (a path prefix is kept). */
  readonly url: string;
  /** Each try of a query, from connecting to the answer's last byte. */
  readonly timeoutMs: number;
  /** Read from their files at every query, so a rotated secret is picked up; never logged, never in a URL. */
  readonly auth?: {
    readonly basic?: { readonly username: string; readonly passwordFile: string };
    readonly bearerTokenFile?: string;
  };
}

/** A range query's span and resolution, epoch ms; Prometheus evaluates the query at start, start+step, … ≤ end. */
export interface QueryWindow {
  readonly startMs: number;
  readonly endMs: number;
  readonly stepMs: number;
}

/**
 * `unreachable`: no answer (connection refused or reset, DNS, timeout), retries spent.
 * `rejected`: Prometheus refused the query itself (400 `bad_data`, 422 `execution`): fix the query.
 * `failed`: any other answer that is not a result (5xx after retries, 401 from a proxy, not JSON, …).
 */
export type QueryErrorKind = 'unreachable' | 'rejected' | 'failed';

export interface QueryFailure {
  readonly ok: false;
  readonly kind: QueryErrorKind;
  readonly error: string;
}

/**
 * What a query found. `series`: every series of the answer; `unlabelled`: those without a `drone`
 * label (e.g. `avg(...)` without `by (drone)`), which belong to no drone and are left out of `byDrone`.
 */
export interface SeriesCount {
  readonly series: number;
  readonly unlabelled: number;
}

/**
 * One range query's values per drone, each drone's in time order. `NaN` and `±Inf` points are skipped.
 * Series sharing a drone (two jobs scraping one drone) are merged: their values follow one another;
 * aggregate in the query (`max by (drone) (...)`) when that is not what is wanted.
 */
export type RangeResult = ({ readonly ok: true; readonly byDrone: Map<string, number[]> } & SeriesCount) | QueryFailure;

export type CheckResult = ({ readonly ok: true } & SeriesCount) | QueryFailure;

/** Tries after the first, on connection errors and 429/5xx answers. */
const RETRIES = 2;
/** The wait before retry n (1-based): 200 ms, then 400 ms. */
const retryDelayMs = (retry: number): number => 200 * 2 ** (retry - 1);
const RETRIED_STATUS = [429, 500, 502, 503, 504];
/**
 * No answer yet, so worth another try. ETIMEDOUT is not here: a query that used up its timeout is slow,
 * and two more would triple the wait. So a call takes at most 3 × timeoutMs + 600 ms.
 */
const RETRIED_ERRORS = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRINUSE'];
/** An error text shows this much of a query: a regex of thousands of drone ids would drown the message. */
const SHOWN_QUERY_CHARS = 500;
const SHOWN_BODY_CHARS = 300;

/** Runs `query` over `window`; values per drone. Rejects only when `signal` aborts, with its reason. */
export async function queryRange(
  provider: PrometheusProvider,
  query: string,
  window: QueryWindow,
  signal?: AbortSignal,
): Promise<RangeResult> {
  checkWindow(window);
  const form = { query, start: seconds(window.startMs), end: seconds(window.endMs), step: seconds(window.stepMs) };
  const answer = await ask(provider, 'query_range', query, form, signal);
  if (!answer.ok) return answer;
  const byDrone = new Map<string, number[]>();
  let unlabelled = 0;
  for (const series of answer.series) {
    const drone = series.metric.drone;
    if (drone === undefined || drone === '') {
      unlabelled += 1;
      continue;
    }
    let values = byDrone.get(drone);
    if (values === undefined) {
      values = [];
      byDrone.set(drone, values);
    }
    for (const [, text] of series.points) {
      const value = Number(text);
      if (Number.isFinite(value)) values.push(value);
    }
  }
  return { ok: true, byDrone, series: answer.series.length, unlabelled };
}

/** Runs `query` once, at Prometheus' now (an instant query), for `rollout plan`: does it parse, and find series? */
export async function checkQuery(
  provider: PrometheusProvider,
  query: string,
  signal?: AbortSignal,
): Promise<CheckResult> {
  const answer = await ask(provider, 'query', query, { query }, signal);
  if (!answer.ok) return answer;
  const unlabelled = answer.series.filter((series) => (series.metric.drone ?? '') === '').length;
  return { ok: true, series: answer.series.length, unlabelled };
}

/**
 * A regex matching exactly `ids`, for `drone=~"..."`: each id escaped for RE2 (Go's QuoteMeta), joined
 * with `|`, then escaped for a PromQL double-quoted string. PromQL anchors the regex, so `drone-1`
 * does not match `drone-10`. An empty list, or an empty id, would match series without a `drone`
 * label: refused.
 */
export function dronesRegex(ids: readonly string[]): string {
  if (ids.length === 0) throw new TypeError('Expected `ids` to be a non-empty list of drone ids, got an empty list');
  const empty = ids.indexOf('');
  if (empty !== -1) throw argumentError(`ids[${empty}]`, 'a non-empty drone id', '""');
  return escapePromqlString(ids.map((id) => id.replace(/[\\.+*?()|[\]{}^$]/gu, '\\$&')).join('|'));
}

/** `template` with every `{{drones}}` replaced by `dronesRegex(ids)`. */
export function renderQuery(template: string, ids: readonly string[]): string {
  const regex = dronesRegex(ids);
  // A function, so `$&` or `$1` in the regex is not read as a replacement pattern.
  return template.replaceAll(DRONES_PLACEHOLDER, () => regex);
}

/** Inside "...": backslash and quote escaped, control characters as Go escapes (a raw line feed ends the string). */
function escapePromqlString(text: string): string {
  let escaped = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (char === '\\' || char === '"') escaped += `\\${char}`;
    else if (code < 0x20 || code === 0x7f) escaped += `\\x${code.toString(16).padStart(2, '0')}`;
    else escaped += char;
  }
  return escaped;
}

// The HTTP side.

const labelsSchema = z.record(z.string(), z.string());
const pointSchema = z.tuple([z.number(), z.string()]);
const successSchema = z.object({
  status: z.literal('success'),
  data: z.discriminatedUnion('resultType', [
    // Native histograms come as `histograms`; they hold no float values to compare, so they count as empty.
    z.object({
      resultType: z.literal('matrix'),
      result: z.array(z.object({ metric: labelsSchema, values: z.array(pointSchema).default([]) })),
    }),
    z.object({
      resultType: z.literal('vector'),
      result: z.array(z.object({ metric: labelsSchema, value: pointSchema.optional() })),
    }),
    z.object({ resultType: z.enum(['scalar', 'string']), result: pointSchema }),
  ]),
});
const errorSchema = z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() });

interface Series {
  readonly metric: Readonly<Record<string, string>>;
  readonly points: readonly (readonly [number, string])[];
}

type Answer = { readonly ok: true; readonly series: readonly Series[] } | QueryFailure;

async function ask(
  provider: PrometheusProvider,
  endpoint: 'query' | 'query_range',
  query: string,
  form: Readonly<Record<string, string>>,
  signal: AbortSignal | undefined,
): Promise<Answer> {
  signal?.throwIfAborted();
  assertPositiveInteger('provider.timeoutMs', provider.timeoutMs);
  const where = `prometheus ${provider.name} (${redactUrl(provider.url)}): query ${shownQuery(query)}`;
  let url: URL;
  try {
    url = new URL(`api/v1/${endpoint}`, provider.url.endsWith('/') ? provider.url : `${provider.url}/`);
  } catch {
    return { ok: false, kind: 'failed', error: `${where} failed: the provider's url is not a URL` };
  }
  let secrets: Secrets;
  try {
    secrets = await readSecrets(provider);
  } catch (error) {
    return { ok: false, kind: 'failed', error: `${where} failed: ${messageOf(error)}` };
  }
  const failure = (kind: QueryErrorKind, text: string): QueryFailure => ({
    ok: false,
    kind,
    error: scrubSecrets(`${where} ${kind === 'rejected' ? 'rejected' : 'failed'}: ${text}`, secrets.values),
  });

  // got is loaded on the first query: a rollout without providers never pays for it at start-up.
  const { default: got } = await import('got');
  const call = got.post(url, {
    form,
    headers: { accept: 'application/json', 'user-agent': 'fleet-rollout', ...secrets.headers },
    timeout: { request: provider.timeoutMs },
    followRedirect: false,
    throwHttpErrors: false,
    responseType: 'text',
    retry: {
      limit: RETRIES,
      // Queries read and never write: a repeated POST is harmless.
      methods: ['POST'],
      statusCodes: RETRIED_STATUS,
      errorCodes: RETRIED_ERRORS,
      maxRetryAfter: 1_000,
      calculateDelay: ({ attemptCount, computedValue }: RetryObject) =>
        // 0 is got's own verdict (limit reached, not a retried error): no retry.
        computedValue === 0 ? 0 : retryDelayMs(attemptCount),
    },
    ...(signal === undefined ? {} : { signal }),
  });
  let status: number;
  let body: string;
  try {
    const response = await settledOrAborted(call, signal);
    status = response.statusCode;
    body = response.body;
  } catch (error) {
    signal?.throwIfAborted();
    const code = (error as { code?: unknown } | null)?.code;
    const kind = code === 'ETIMEDOUT' || RETRIED_ERRORS.includes(String(code)) ? 'unreachable' : 'failed';
    const detail =
      code === 'ETIMEDOUT'
        ? `no answer within ${provider.timeoutMs} ms`
        : `${messageOf(error)}${kind === 'unreachable' ? ` (${RETRIES + 1} tries)` : ''}`;
    return kind === 'unreachable'
      ? { ok: false, kind, error: scrubSecrets(`${where}: cannot reach Prometheus: ${detail}`, secrets.values) }
      : failure(kind, detail);
  }
  return readAnswer(status, body, failure);
}

function readAnswer(
  status: number,
  body: string,
  failure: (kind: QueryErrorKind, text: string) => QueryFailure,
): Answer {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return failure('failed', `HTTP ${status} with a body that is not JSON: ${shownBody(body)}`);
  }
  const error = errorSchema.safeParse(json);
  if (error.success) {
    const { errorType, error: text } = error.data;
    // The query itself is wrong (bad_data: syntax, types, too many points) or cannot be evaluated (execution).
    const wrongQuery = (status === 400 || status === 422) && (errorType === 'bad_data' || errorType === 'execution');
    return failure(wrongQuery ? 'rejected' : 'failed', wrongQuery ? text : `HTTP ${status}, ${errorType}: ${text}`);
  }
  if (status < 200 || status > 299) return failure('failed', `HTTP ${status}: ${shownBody(body)}`);
  const success = successSchema.safeParse(json);
  if (!success.success)
    return failure('failed', `HTTP ${status} with an answer that is not a query result: ${shownBody(body)}`);
  const { data } = success.data;
  switch (data.resultType) {
    case 'matrix':
      return { ok: true, series: data.result.map(({ metric, values }) => ({ metric, points: values })) };
    case 'vector':
      return {
        ok: true,
        series: data.result.map(({ metric, value }) => ({ metric, points: value === undefined ? [] : [value] })),
      };
    default:
      // A scalar or a string: one value, no labels, so no drone.
      return { ok: true, series: [{ metric: {}, points: [] }] };
  }
}

interface Secrets {
  readonly headers: Readonly<Record<string, string>>;
  /** What no error text may show. */
  readonly values: readonly string[];
}

/** Trimmed like Prometheus reads its own credential files, so a trailing newline is no part of the secret. */
async function readSecrets(provider: PrometheusProvider): Promise<Secrets> {
  const { basic, bearerTokenFile } = provider.auth ?? {};
  if (basic !== undefined) {
    const password = await readSecret(basic.passwordFile, 'basic auth password');
    const encoded = Buffer.from(`${basic.username}:${password}`).toString('base64');
    return { headers: { authorization: `Basic ${encoded}` }, values: [password, encoded] };
  }
  if (bearerTokenFile !== undefined) {
    const token = await readSecret(bearerTokenFile, 'bearer token');
    return { headers: { authorization: `Bearer ${token}` }, values: [token] };
  }
  return { headers: {}, values: [] };
}

async function readSecret(path: string, what: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new Error(
      `cannot read its ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

function checkWindow(window: QueryWindow): void {
  for (const key of ['startMs', 'endMs', 'stepMs'] as const) {
    if (!Number.isFinite(window[key])) throw argumentError(`window.${key}`, 'a finite number of ms', window[key]);
  }
  if (window.stepMs <= 0) throw argumentError('window.stepMs', 'above 0', window.stepMs);
  if (window.endMs < window.startMs)
    throw argumentError('window.endMs', `at or after window.startMs (${window.startMs})`, window.endMs);
}

/** Prometheus takes times as Unix seconds, fractions allowed. */
function seconds(ms: number): string {
  return String(ms / 1000);
}

function shownQuery(query: string): string {
  return query.length <= SHOWN_QUERY_CHARS
    ? query
    : `${query.slice(0, SHOWN_QUERY_CHARS)}… (${query.length - SHOWN_QUERY_CHARS} more characters)`;
}

function shownBody(body: string): string {
  const flat = body.replace(/\s+/gu, ' ').trim();
  return JSON.stringify(flat.length <= SHOWN_BODY_CHARS ? flat : `${flat.slice(0, SHOWN_BODY_CHARS)}…`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
