import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Drone } from '../spec/types.js';
import type { z } from 'zod';
import {
  configPath,
  confirmBodySchema,
  confirmPath,
  healthBodySchema,
  isHotAnswer,
  PATHS,
  pauseBodySchema,
  pushBodySchema,
  rollbackBodySchema,
  rollbackPath,
  telemetryBodySchema,
  telemetryPath,
  type ConfirmBody,
  type ConfirmRequest,
  type HealthBody,
  type PauseBody,
  type PauseRequest,
  type PushBody,
  type PushRequest,
  type ResumeRequest,
  type RollbackBody,
  type RollbackRequest,
  type TelemetryBody,
} from '../protocol/v1.js';
import { isErrorBody } from '../protocol/wire-errors.js';
import { plainAnswer } from './answer-shapes.js';
import type { DroneTls } from './drone-tls.js';
import { DroneTargets } from './drone-targets.js';
import { requestJson, TlsHangUpError, type JsonAnswer, type JsonRequest } from './json-request.js';
import { TLS_REFUSED_STATUS, tlsCheck, tlsFailure, tlsHangUp } from './tls-failure.js';

/** A drone's answer, sorted the way the rollout decides on it. */
export type DroneReply<T> =
  | { readonly ok: true; readonly body: T }
  /** 409 lock_mismatch HOT: the drone's local lock is held by another owner. */
  | { readonly ok: false; readonly kind: 'hot'; readonly message: string }
  /** 409 stale_fence: the drone accepted a higher fence (another rollout took the lock since); never HOT. */
  | { readonly ok: false; readonly kind: 'stale'; readonly highestFence: number | null; readonly message: string }
  /** A 2xx whose body is not the protocol's: the drone may have acted, and it is a failure of that drone. */
  | { readonly ok: false; readonly kind: 'bad_answer'; readonly message: string }
  /**
   * Any other 4xx/5xx answer: the drone is there and said no. Or, with `status` TLS_REFUSED_STATUS (0:
   * no HTTP answer), the TLS handshake failed on a certificate: the drone's did not verify (`code`
   * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, CERT_HAS_EXPIRED…), or the drone
   * refused ours; the message names the drone and why.
   */
  | {
      readonly ok: false;
      readonly kind: 'refused';
      readonly status: number;
      readonly code: string;
      readonly message: string;
    }
  /** No answer: refused connection, timeout, reset. */
  | { readonly ok: false; readonly kind: 'unreachable'; readonly message: string }
  /** This request was cancelled by the rollout (abort); the drone may or may not have acted. */
  | { readonly ok: false; readonly kind: 'cancelled'; readonly message: string };

export type DroneFailure = Exclude<DroneReply<unknown>, { ok: true }>;

/** Answers that say the rollout is set up wrong rather than the drone unwell, with what to check. */
const MISCONFIGURED: Readonly<Record<number, string>> = {
  401: "check the agents' token (--token-file or $ROLLOUT_TOKEN)",
  403: "check the agents' token (--token-file or $ROLLOUT_TOKEN)",
  404: "check the drone's url in the inventory (the agent's base URL, without /v1)",
};

/**
 * What to check when a failure is the rollout's configuration (wrong token, wrong URL, a certificate
 * that does not verify); else undefined.
 */
export function misconfiguration(failure: DroneFailure): string | undefined {
  // A refused signature is the push's, not the rollout's access: it counts as a failed push.
  if (failure.kind !== 'refused' || failure.code === 'bad_signature') return undefined;
  return failure.status === TLS_REFUSED_STATUS ? tlsCheck(failure.code) : MISCONFIGURED[failure.status];
}

export interface DroneClientOptions {
  /** Per-request timeout (each try). */
  readonly timeoutMs: number;
  /** Tries after the first, for answers that may be transient (timeouts, resets, 502/503/504). */
  readonly retries: number;
  /** Sockets kept open per drone host; set it to the push concurrency. @default 64 */
  readonly maxSockets?: number;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** For `https://` drones: the CA their certificates must chain to, our client certificate. @default Node's CAs, none */
  readonly tls?: DroneTls;
}

/** Idle keep-alive sockets are closed after this (or sooner, when the drone's Keep-Alive hint says so). */
const IDLE_SOCKET_TIMEOUT_MS = 4_000;
const RETRIED_STATUS: ReadonlySet<number> = new Set([408, 429, 502, 503, 504]);
/** Network errors worth another try: the drone may simply not have answered this once. */
const RETRIED_ERRORS: ReadonlySet<string> = new Set([
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'EADDRINUSE',
  'ENOTFOUND',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/** Wait before try n (1-based retry count): 250 ms, 500 ms, then 1 s at most. */
const backoffMs = (retry: number) => Math.min(1000, 250 * 2 ** (retry - 1));

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const JSON_TYPE = 'application/json';

/** A JSON body as sent: its text and its length in bytes. */
interface SerializedBody {
  readonly text: string;
  readonly length: number;
}

function serialized(json: object): SerializedBody {
  const text = JSON.stringify(json);
  return { text, length: Buffer.byteLength(text) };
}

/** The headers of a request without a body, and of one with a JSON body of `length` bytes. */
interface RequestHeaders {
  readonly plain: Readonly<Record<string, string>>;
  readonly json: (length: number) => Readonly<Record<string, string | number>>;
}

/**
 * A body's headers are an object literal made per request: V8 makes one from its template at once,
 * where a spread of shared headers with content-length added took about 2 µs a request (a CPU profile
 * of 120,000 requests).
 */
function requestHeaders(token: string | undefined): RequestHeaders {
  // An empty token (an empty --token-file) sends no authorization, as none does.
  if (token === undefined || token === '') {
    return {
      plain: { accept: JSON_TYPE },
      json: (length) => ({ accept: JSON_TYPE, 'content-type': JSON_TYPE, 'content-length': length }),
    };
  }
  const authorization = `Bearer ${token}`;
  return {
    plain: { accept: JSON_TYPE, authorization },
    json: (length) => ({ accept: JSON_TYPE, authorization, 'content-type': JSON_TYPE, 'content-length': length }),
  };
}

/**
 * The orchestrator's side of the drone protocol: keep-alive sockets, an explicit timeout and retry policy
 * (every request here is idempotent on the agent, pushes included), and answers sorted into DroneReply.
 */
export class DroneClient {
  readonly #agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  readonly #headers: RequestHeaders;
  /** Each push request serialized once: a round sends one request, the whole config in it, to every drone. */
  readonly #pushBodies = new WeakMap<PushRequest, SerializedBody>();
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #tls: DroneTls | undefined;
  /** Drones' base URLs taken apart for node:http. */
  readonly #targets = new DroneTargets();

  constructor(options: DroneClientOptions) {
    const maxSockets = options.maxSockets ?? 64;
    // With a `timeout`, Node's agent also honours a server's `Keep-Alive: timeout=N` hint and drops idle
    // sockets before the server closes them, instead of finding out on the next request.
    const agentOptions = { keepAlive: true, maxSockets, timeout: IDLE_SOCKET_TIMEOUT_MS };
    const { tls } = options;
    this.#tls = tls;
    this.#agents = {
      http: new HttpAgent(agentOptions),
      https: new HttpsAgent({
        ...agentOptions,
        ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls?.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
      }),
    };
    this.#headers = requestHeaders(options.token);
    this.#timeoutMs = options.timeoutMs;
    this.#retries = options.retries;
  }

  async #request<T>(
    method: JsonRequest['method'],
    drone: Drone,
    path: string,
    body: SerializedBody | undefined,
    schema: z.ZodType<T>,
    signal?: AbortSignal,
  ): Promise<DroneReply<T>> {
    const target = this.#targets.of(drone.url);
    if (typeof target === 'string') {
      return { ok: false, kind: 'unreachable', message: `drone ${drone.id}: url ${target}; fix it in the inventory` };
    }
    const headers = body === undefined ? this.#headers.plain : this.#headers.json(body.length);
    for (let retry = 0; ; retry += 1) {
      if (retry > 0) await wait(backoffMs(retry), signal);
      if (signal?.aborted) return { ok: false, kind: 'cancelled', message: 'cancelled by the rollout' };
      const last = retry >= this.#retries;
      let answer: JsonAnswer;
      try {
        answer = await requestJson({
          method,
          origin: target.origin,
          path: target.basePath + path,
          body: body?.text,
          headers,
          agents: this.#agents,
          timeoutMs: this.#timeoutMs,
          signal,
        });
      } catch (error) {
        if (signal?.aborted) return { ok: false, kind: 'cancelled', message: 'cancelled by the rollout' };
        const code = errorCode(error);
        // A certificate that does not verify will not verify on the next try: the rollout is set up wrong.
        const tls = tlsFailure(error, drone, this.#tls);
        if (tls !== undefined) return { ok: false, kind: 'refused', status: TLS_REFUSED_STATUS, ...tls };
        if (!last && code !== undefined && RETRIED_ERRORS.has(code)) continue;
        // A hang-up after our client certificate may be a drone that died in the middle: tried again first.
        if (error instanceof TlsHangUpError && this.#tls?.cert !== undefined)
          return { ok: false, kind: 'refused', status: TLS_REFUSED_STATUS, ...tlsHangUp(drone, this.#tls) };
        const message = error instanceof Error ? error.message : String(error);
        return { ok: false, kind: 'unreachable', message: `${method} ${drone.url}${path}: ${message}` };
      }
      if (!last && RETRIED_STATUS.has(answer.status)) continue;
      return sortAnswer(answer, method, drone.url + path, schema);
    }
  }

  health(drone: Drone, signal?: AbortSignal): Promise<DroneReply<HealthBody>> {
    return this.#request('GET', drone, PATHS.health, undefined, healthBodySchema, signal);
  }

  /** Pauses the drone, or renews this rollout's hold on it; `holdMs`: the hold lapses unless renewed within it. */
  pause(
    drone: Drone,
    rollout: string,
    { holdMs, signal }: { readonly holdMs?: number; readonly signal?: AbortSignal } = {},
  ): Promise<DroneReply<PauseBody>> {
    const request: PauseRequest = holdMs === undefined ? { rollout } : { rollout, holdMs };
    return this.#request('POST', drone, PATHS.pause, serialized(request), pauseBodySchema, signal);
  }

  resume(drone: Drone, rollout: string, signal?: AbortSignal): Promise<DroneReply<PauseBody>> {
    const request: ResumeRequest = { rollout };
    return this.#request('POST', drone, PATHS.resume, serialized(request), pauseBodySchema, signal);
  }

  /** `request` is serialized at its first push and not again: a changed request is a new object. */
  push(drone: Drone, file: string, request: PushRequest, signal?: AbortSignal): Promise<DroneReply<PushBody>> {
    let body = this.#pushBodies.get(request);
    if (body === undefined) {
      body = serialized(request);
      this.#pushBodies.set(request, body);
    }
    return this.#request('PUT', drone, configPath(file), body, pushBodySchema, signal);
  }

  rollback(
    drone: Drone,
    file: string,
    rollout: string,
    fence: number,
    signal?: AbortSignal,
  ): Promise<DroneReply<RollbackBody>> {
    const request: RollbackRequest = { rollout, fence };
    return this.#request('POST', drone, rollbackPath(file), serialized(request), rollbackBodySchema, signal);
  }

  /** Confirms the drone's trial of the config `request.sha256`, so it keeps it. */
  confirm(drone: Drone, file: string, request: ConfirmRequest, signal?: AbortSignal): Promise<DroneReply<ConfirmBody>> {
    return this.#request('POST', drone, confirmPath(file), serialized(request), confirmBodySchema, signal);
  }

  telemetry(drone: Drone, since: number, signal?: AbortSignal): Promise<DroneReply<TelemetryBody>> {
    return this.#request('GET', drone, telemetryPath(since), undefined, telemetryBodySchema, signal);
  }

  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}

function sortAnswer<T>(answer: JsonAnswer, method: string, url: string, schema: z.ZodType<T>): DroneReply<T> {
  const { status, body } = answer;
  if (status >= 200 && status < 300) {
    // The drone (or something in front of it) said yes without saying what it did: it may have acted.
    if (body === undefined)
      return { ok: false, kind: 'unreachable', message: `HTTP ${status} without a JSON answer from ${method} ${url}` };
    const plain = plainAnswer(schema, body);
    if (plain !== undefined) return { ok: true, body: plain };
    const parsed = schema.safeParse(body);
    if (parsed.success) return { ok: true, body: parsed.data };
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return {
      ok: false,
      kind: 'bad_answer',
      message: `${method} ${url} answered ${status} with a body that is not the drone protocol (${field}${issue?.message ?? 'invalid'}): check the agent's version`,
    };
  }
  if (isErrorBody(body)) {
    if (isHotAnswer(status, body)) return { ok: false, kind: 'hot', message: body.message };
    if (status === 409 && body.error === 'stale_fence') {
      return {
        ok: false,
        kind: 'stale',
        highestFence: typeof body.highestFence === 'number' ? body.highestFence : null,
        message: body.message,
      };
    }
    return { ok: false, kind: 'refused', status, code: body.error, message: body.message };
  }
  return {
    ok: false,
    kind: 'refused',
    status,
    code: 'unexpected_answer',
    message: `HTTP ${status} without a JSON error body from ${method} ${url}`,
  };
}
