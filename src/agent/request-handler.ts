import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { DroneAgent } from './drone-agent.js';
import { routeDroneRequest } from './drone-routes.js';
import { bearerCheck, readBody, sendJson } from './http-io.js';
import { WireError } from './wire-errors.js';

/** Which drone a request is for, and the rest of its path. */
export interface DroneTarget {
  readonly agent: DroneAgent;
  /** The path below the drone's base URL, e.g. `/v1/health`. */
  readonly path: string;
  /** Fault injection: how long this drone takes before it starts answering. */
  readonly delayMs: number;
}

export interface RequestHandlerOptions {
  /** Requests must carry `Authorization: Bearer <token>` when set. */
  readonly token?: string;
  /** Maps a raw path to its drone; throws a WireError (`not_found`, `unknown_drone`) when none. */
  readonly resolve: (path: string) => DroneTarget | Promise<DroneTarget>;
  readonly logger: Logger;
}

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/**
 * The one HTTP entry point of both the single agent and the simulated fleet: auth, then the drone,
 * then its router; every failure leaves as `{"error","message"}` with the registry's status.
 */
export function createRequestHandler(options: RequestHandlerOptions): RequestHandler {
  const isAuthorized = options.token === undefined ? undefined : bearerCheck(options.token);
  return async (request, response) => {
    const started = performance.now();
    const method = request.method ?? 'GET';
    // Split by hand: URL parsing would resolve `..` segments before the config name check sees them.
    const [path = '/', query = ''] = (request.url ?? '/').split('?', 2);
    let status = 200;
    try {
      if (isAuthorized !== undefined && !isAuthorized(request.headers.authorization)) {
        throw new WireError('unauthorized', 'unauthorized: missing or wrong bearer token; send Authorization: Bearer <token> with the token the agent was started with');
      }
      const target = await options.resolve(path);
      if (target.delayMs > 0) await sleep(target.delayMs);
      const body = await routeDroneRequest(target.agent, { method, path: target.path, query: new URLSearchParams(query), readBody: () => readBody(request) });
      sendJson(response, 200, body);
    } catch (error) {
      const wire = error instanceof WireError ? error : internalError(error, options.logger, method, path);
      status = wire.status;
      sendJson(response, wire.status, wire.toBody());
    } finally {
      options.logger.debug({ method, path, status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}

function internalError(error: unknown, logger: Logger, method: string, path: string): WireError {
  logger.error({ err: error, method, path }, 'request failed unexpectedly');
  return new WireError('internal_error', `internal error while serving ${method} ${path}: ${error instanceof Error ? error.message : String(error)}; see the agent's log`);
}
