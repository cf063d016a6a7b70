import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { DroneAgent } from './drone-agent.js';
import { routeDroneRequest } from './drone-routes.js';
import { readBody, sendAnswer, TextAnswer } from './http-io.js';
import { formatMetrics, METRICS_CONTENT_TYPE, METRICS_PATH } from '../protocol/metrics-text.js';
import { WireError } from '../protocol/wire-errors.js';

/**
 * What the `/v1` router calls on a drone: the agent, or a simulator's in-memory drone
 * (src/simulator/memory-drones.ts).
 */
export type ProtocolDrone = Pick<
  DroneAgent,
  'id' | 'health' | 'pause' | 'resume' | 'push' | 'rollback' | 'confirm' | 'telemetry' | 'locks' | 'latestSample'
>;

/** Which drone a request is for, and the rest of its path. */
export interface DroneTarget {
  readonly agent: ProtocolDrone;
  /** The path below the drone's base URL, e.g. `/v1/health`. */
  readonly path: string;
}

/** Auth comes in front of this handler: `requireBearer` (http-io.ts) with the server's tokens. */
export interface RequestHandlerOptions {
  /** Maps a raw path to its drone; throws a WireError (`not_found`, `unknown_drone`) when none. */
  readonly resolve: (path: string) => DroneTarget | Promise<DroneTarget>;
  readonly logger: Logger;
  /**
   * Endpoints of the server itself by path, outside any drone (the simulator's `/sim/stats`, `/metrics`
   * and `/sim/operational`), answered after auth.
   */
  readonly serverRoutes?: ReadonlyMap<string, ServerRoute>;
  readonly hooks?: DroneRequestHooks;
}

/** An endpoint of the server itself: the one method it answers, and its answer (JSON, or a TextAnswer as it is). */
export interface ServerRoute {
  readonly method: 'GET' | 'POST';
  /** `readBody` reads the request's body, up to MAX_BODY_BYTES; a WireError thrown is the answer. */
  readonly answer: (readBody: () => Promise<Buffer>) => unknown;
}

/** Told of each request to a drone: the simulator counts requests and injects faults (HOT, slow) here. */
export interface DroneRequestHooks {
  /** Once the request's drone is known, before routing; may hold it back. */
  readonly beforeRoute?: (target: DroneTarget, method: string) => void | Promise<void>;
  /** Right after the drone's answer is sent, error or not. */
  readonly answered?: (target: DroneTarget, method: string, status: number, body: unknown) => void;
}

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/**
 * The one HTTP entry point of both the single agent and the simulated fleet, behind `requireBearer`: the drone
 * (or one of the server's own routes), then its router; every failure leaves as `{"error","message"}`
 * with the registry's status. A drone's `/metrics` (its latest telemetry for Prometheus) is answered
 * here, beside the `/v1` protocol rather than in it, behind the same auth.
 */
export function createRequestHandler(options: RequestHandlerOptions): RequestHandler {
  return async (request, response) => {
    const started = performance.now();
    const method = request.method ?? 'GET';
    // Split by hand: URL parsing would resolve `..` segments before the config name check sees them.
    const [path = '/', query = ''] = (request.url ?? '/').split('?', 2);
    let target: DroneTarget | undefined;
    let status = 200;
    let body: unknown;
    try {
      const own = options.serverRoutes?.get(path);
      if (own !== undefined) {
        if (method !== own.method)
          throw new WireError('method_not_allowed', `${path} answers ${own.method}, not ${method}`);
        body = await own.answer(() => readBody(request));
      } else {
        target = await options.resolve(path);
        await options.hooks?.beforeRoute?.(target, method);
        body =
          target.path === METRICS_PATH
            ? droneMetrics(target, method)
            : await routeDroneRequest(target.agent, {
                method,
                path: target.path,
                query: new URLSearchParams(query),
                readBody: () => readBody(request),
              });
      }
    } catch (error) {
      const wire = error instanceof WireError ? error : internalError(error, options.logger, method, path);
      status = wire.status;
      body = wire.toBody();
    }
    try {
      if (sendAnswer(response, status, body) && target !== undefined)
        options.hooks?.answered?.(target, method, status, body);
    } catch (error) {
      // Nothing may escape: the server runs this handler unawaited, where a rejection would end the process.
      options.logger.error({ err: error, method, path }, 'answering the request failed');
      response.destroy();
    } finally {
      options.logger.debug({ method, path, status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}

/** One drone's latest sample as Prometheus gauges; empty before its first sample. */
function droneMetrics({ agent }: DroneTarget, method: string): TextAnswer {
  if (method !== 'GET') throw new WireError('method_not_allowed', `${METRICS_PATH} answers GET, not ${method}`);
  const sample = agent.latestSample();
  return new TextAnswer(
    METRICS_CONTENT_TYPE,
    formatMetrics(sample === undefined ? [] : [{ id: agent.id, metrics: sample.metrics }]),
  );
}

function internalError(error: unknown, logger: Logger, method: string, path: string): WireError {
  logger.error({ err: error, method, path }, 'request failed unexpectedly');
  return new WireError(
    'internal_error',
    `internal error while serving ${method} ${path}: ${error instanceof Error ? error.message : String(error)}; see the agent's log`,
  );
}
