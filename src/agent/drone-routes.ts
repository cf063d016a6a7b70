import { assertConfigName } from './config-name.js';
import type { ProtocolDrone } from './request-handler.js';
import {
  parseConfirmRequest,
  parsePauseRequest,
  parsePushRequest,
  parseResumeRequest,
  parseRollbackRequest,
} from './drone-requests.js';
import { CONFIGS_PREFIX, CONFIRM_SUFFIX, PATHS, ROLLBACK_SUFFIX } from '../protocol/v1.js';
import { WireError } from '../protocol/wire-errors.js';

/** One request as the drone's router sees it, after auth and after the simulator's `/d/<id>` prefix. */
export interface DroneRequest {
  readonly method: string;
  /** Still percent-encoded and never normalised, so `..` in a config name is seen and refused. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly readBody: () => Promise<Buffer>;
}

/**
 * The `/v1` protocol of one drone. Checks run in the contract's order: endpoint, config name, body
 * size, body fields, then whatever the drone itself decides (checksum, lock, fence).
 */
export async function routeDroneRequest(agent: ProtocolDrone, request: DroneRequest): Promise<unknown> {
  const { method, path } = request;
  switch (path) {
    case PATHS.health:
      expectMethod(request, 'GET');
      return agent.health();
    case PATHS.pause: {
      expectMethod(request, 'POST');
      const pause = parsePauseRequest(await request.readBody());
      return agent.pause(pause.rollout, pause.holdMs);
    }
    case PATHS.resume: {
      expectMethod(request, 'POST');
      const body = parseResumeRequest(await request.readBody());
      return agent.resume(body.rollout, body.all ?? false);
    }
    case PATHS.telemetry:
      expectMethod(request, 'GET');
      return agent.telemetry(sinceOf(request.query));
    case PATHS.locks:
      expectMethod(request, 'GET');
      return agent.locks();
    default:
      break;
  }
  if (path.startsWith(CONFIGS_PREFIX)) {
    const tail = path.slice(CONFIGS_PREFIX.length);
    if (method === 'POST' && tail.endsWith(ROLLBACK_SUFFIX)) {
      const file = configNameOf(tail.slice(0, -ROLLBACK_SUFFIX.length));
      return agent.rollback(file, parseRollbackRequest(await request.readBody()));
    }
    if (method === 'POST' && tail.endsWith(CONFIRM_SUFFIX)) {
      const file = configNameOf(tail.slice(0, -CONFIRM_SUFFIX.length));
      return agent.confirm(file, parseConfirmRequest(await request.readBody()));
    }
    if (method === 'PUT') {
      const file = configNameOf(tail);
      return agent.push(file, parsePushRequest(await request.readBody()));
    }
    throw new WireError(
      'method_not_allowed',
      `${method} ${path} is not an endpoint: push with PUT /v1/configs/<file>, roll back with POST /v1/configs/<file>/rollback, confirm a trial with POST /v1/configs/<file>/confirm`,
    );
  }
  throw new WireError(
    'not_found',
    `no endpoint ${method} ${path}; the drone serves /v1/health, /v1/pause, /v1/resume, /v1/configs/<file>, /v1/telemetry and /v1/locks`,
  );
}

function expectMethod(request: DroneRequest, method: string): void {
  if (request.method !== method)
    throw new WireError('method_not_allowed', `${request.path} answers ${method}, not ${request.method}`);
}

function configNameOf(encoded: string): string {
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    throw new WireError(
      'invalid_config_name',
      `invalid config name ${JSON.stringify(encoded)}: it is not valid percent-encoding; encode the name with encodeURIComponent`,
    );
  }
  assertConfigName(name);
  return name;
}

function sinceOf(query: URLSearchParams): number {
  const raw = query.get('since');
  if (raw === null || raw === '') return 0;
  const since = Number(raw);
  if (!/^\d+$/u.test(raw) || !Number.isSafeInteger(since)) {
    throw new WireError(
      'bad_request',
      `bad request: "since" must be a non-negative integer (the "next" of the previous answer), got ${JSON.stringify(raw)}`,
      { tail: { field: 'since' } },
    );
  }
  return since;
}
