import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type Got, type Method } from 'got';
import type { Drone } from '../spec/types.js';
import type {
  ErrorBody,
  HealthBody,
  PauseBody,
  PushBody,
  PushRequest,
  RollbackBody,
  TelemetryBody,
} from './protocol.js';

/** A drone's answer, sorted the way the rollout decides on it. */
export type DroneReply<T> =
  | { readonly ok: true; readonly body: T }
  /** 409 lock_mismatch HOT: the drone's local lock is held by another owner, or our fence is stale. */
  | { readonly ok: false; readonly kind: 'hot'; readonly message: string }
  /** Any other 4xx/5xx answer: the drone is there and said no. */
  | { readonly ok: false; readonly kind: 'refused'; readonly status: number; readonly code: string; readonly message: string }
  /** No answer: refused connection, timeout, reset. */
  | { readonly ok: false; readonly kind: 'unreachable'; readonly message: string }
  /** This request was cancelled by the rollout (abort); the drone may or may not have acted. */
  | { readonly ok: false; readonly kind: 'cancelled'; readonly message: string };

export type DroneFailure = Exclude<DroneReply<unknown>, { ok: true }>;

export interface DroneClientOptions {
  /** Per-request timeout (each try). */
  readonly timeoutMs: number;
  /** Tries after the first, for answers that may be transient (timeouts, resets, 502/503/504). */
  readonly retries: number;
  /** Sockets kept open per drone host; set it to the push concurrency. @default 64 */
  readonly maxSockets?: number;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
}

const RETRIED_STATUS = [408, 429, 502, 503, 504];

function isErrorBody(body: unknown): body is ErrorBody {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

function failureOf(error: unknown, signal: AbortSignal | undefined): DroneFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (signal?.aborted) return { ok: false, kind: 'cancelled', message: 'cancelled by the rollout' };
  return { ok: false, kind: 'unreachable', message };
}

/**
 * The orchestrator's side of the drone protocol: keep-alive sockets, an explicit timeout and retry policy
 * (every request here is idempotent on the agent, pushes included), and answers sorted into DroneReply.
 */
export class DroneClient {
  readonly #got: Got;
  readonly #httpAgent: HttpAgent;
  readonly #httpsAgent: HttpsAgent;

  constructor(options: DroneClientOptions) {
    const maxSockets = options.maxSockets ?? 64;
    this.#httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
    this.#httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets });
    this.#got = got.extend({
      agent: { http: this.#httpAgent, https: this.#httpsAgent },
      throwHttpErrors: false,
      responseType: 'json',
      timeout: { request: options.timeoutMs },
      retry: {
        limit: options.retries,
        methods: ['GET', 'PUT', 'POST'],
        statusCodes: RETRIED_STATUS,
        backoffLimit: 1000,
      },
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    });
  }

  async #request<T>(method: Method, drone: Drone, path: string, json: object | undefined, signal?: AbortSignal): Promise<DroneReply<T>> {
    try {
      const response = await this.#got<unknown>(`${drone.url}${path}`, {
        method,
        ...(json === undefined ? {} : { json }),
        ...(signal ? { signal } : {}),
      });
      const body = response.body;
      if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true, body: body as T };
      if (isErrorBody(body)) {
        if (response.statusCode === 409 && body.error === 'lock_mismatch' && body.lock === 'HOT') {
          return { ok: false, kind: 'hot', message: body.message };
        }
        return { ok: false, kind: 'refused', status: response.statusCode, code: body.error, message: body.message };
      }
      return {
        ok: false,
        kind: 'refused',
        status: response.statusCode,
        code: 'unexpected_answer',
        message: `HTTP ${response.statusCode} without an error body from ${drone.url}${path}`,
      };
    } catch (error) {
      return failureOf(error, signal);
    }
  }

  health(drone: Drone, signal?: AbortSignal): Promise<DroneReply<HealthBody>> {
    return this.#request('GET', drone, '/v1/health', undefined, signal);
  }

  pause(drone: Drone, rollout: string, signal?: AbortSignal): Promise<DroneReply<PauseBody>> {
    return this.#request('POST', drone, '/v1/pause', { rollout }, signal);
  }

  resume(drone: Drone, rollout: string, signal?: AbortSignal): Promise<DroneReply<PauseBody>> {
    return this.#request('POST', drone, '/v1/resume', { rollout }, signal);
  }

  push(drone: Drone, file: string, request: PushRequest, signal?: AbortSignal): Promise<DroneReply<PushBody>> {
    return this.#request('PUT', drone, `/v1/configs/${encodeURIComponent(file)}`, request, signal);
  }

  rollback(drone: Drone, file: string, rollout: string, fence: number, signal?: AbortSignal): Promise<DroneReply<RollbackBody>> {
    return this.#request('POST', drone, `/v1/configs/${encodeURIComponent(file)}/rollback`, { rollout, fence }, signal);
  }

  telemetry(drone: Drone, since: number, signal?: AbortSignal): Promise<DroneReply<TelemetryBody>> {
    return this.#request('GET', drone, `/v1/telemetry?since=${since}`, undefined, signal);
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
