import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { prepareConfigDir } from './config-dir.js';
import { defaultLogger } from './default-logger.js';
import { DroneAgent } from './drone-agent.js';
import { requireBearer } from './http-io.js';
import { serve, type RunningServer, type ServerTls, type TlsClientRefusal } from './http-server.js';
import { LockCollector } from './lock-collector.js';
import type { OperationalSource } from './operational-source.js';
import { expectInteger, expectNonEmptyString } from '../infra/argument-checks.js';
import { createRequestHandler } from './request-handler.js';
import { noTelemetry, type TelemetrySourceFactory } from './telemetry-source.js';

export type { RunningServer, ServerTls } from './http-server.js';

export interface AgentOptions {
  /** The drone's id, reported by `/v1/health`. */
  readonly id: string;
  /** The drone's config dir, created if missing; a path that cannot be a writable dir is `E_USAGE`. The agent keeps its own state in `<dir>/.agent/`. */
  readonly dir: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** When set, every request needs `Authorization: Bearer <token>`, `/metrics` included. */
  readonly token?: string;
  /**
   * More tokens accepted besides `token`, each as good as it: the old and the new one while the fleet's
   * token is rotated. @default none
   */
  readonly tokens?: readonly string[];
  /** Serve HTTPS with this certificate; with `clientCa`, mutual TLS. @default plain HTTP */
  readonly tls?: ServerTls;
  /**
   * Ed25519 public keys a push must be signed by (`--trust-key`; several during a key rotation): any other
   * push is 403 `bad_signature`, see DroneAgentOptions.trustedKeys. @default none: unsigned pushes are accepted
   */
  readonly trustedKeys?: readonly KeyObject[];
  /** A local lock whose heartbeat is older than this is stale. @default 15000 */
  readonly lockTtlMs?: number;
  /** @default NDJSON on stderr at level info */
  readonly logger?: Logger;
  /** One telemetry sample per this many milliseconds: the clock of the seqs in answers. @default 200 */
  readonly sampleIntervalMs?: number;
  /**
   * Where the drone's telemetry comes from. `rollout agent` passes the simulator's model, since this
   * project has no sensors. @default noTelemetry (empty pages; seqs still count)
   */
  readonly telemetry?: TelemetrySourceFactory;
  /**
   * Where the vehicle's operational state comes from (`operationalFile`, `operationalUrl`): health and
   * pause answers carry it, and health lists the `operational_state` feature. @default none (neither)
   */
  readonly operational?: OperationalSource;
  /** The clock, injectable for tests. @default Date.now */
  readonly now?: () => number;
}

export const DEFAULT_LOCK_TTL_MS = 15_000;
export const DEFAULT_SAMPLE_INTERVAL_MS = 200;

/**
 * Serves the `/v1` protocol for one drone whose configs live in `options.dir`, and `GET /metrics`: its
 * latest telemetry sample as Prometheus gauges, behind the same bearer token as `/v1`.
 */
export async function startAgent(options: AgentOptions): Promise<RunningServer> {
  expectNonEmptyString('id', options.id);
  expectNonEmptyString('dir', options.dir);
  const port = options.port ?? 0;
  const lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const sampleIntervalMs = options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
  expectInteger('port', port, 0, 65_535);
  expectInteger('lockTtlMs', lockTtlMs, 1);
  expectInteger('sampleIntervalMs', sampleIntervalMs, 1);
  await prepareConfigDir(options.dir);
  const logger = options.logger ?? defaultLogger('rollout-agent');
  const now = options.now ?? Date.now;
  const tokens = acceptedTokens(options);

  const collector = new LockCollector({ intervalMs: Math.max(1, Math.floor(lockTtlMs / 3)), logger });
  const agent = await DroneAgent.open({
    id: options.id,
    dir: options.dir,
    clock: { intervalMs: sampleIntervalMs, bootMs: now() },
    telemetry: options.telemetry ?? noTelemetry,
    lockTtlMs,
    now,
    logger,
    auth: tokens.length === 0 ? 'none' : 'bearer',
    ...(options.operational === undefined ? {} : { operational: options.operational }),
    ...(options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys }),
  });
  collector.pin(agent);
  const handler = createRequestHandler({ resolve: (path) => ({ agent, path }), logger });
  const server = await serve(tokens.length === 0 ? handler : requireBearer(handler, tokens), {
    port,
    host: options.host ?? '127.0.0.1',
    ...(options.tls === undefined ? {} : { tls: options.tls, onTlsClientError: logTlsRefusal(logger) }),
  });
  collector.start();
  logger.info(
    { drone: options.id, url: server.url, dir: options.dir },
    `drone agent ${options.id} listening on ${server.url}`,
  );
  if (options.operational !== undefined) await warnIfUnknown(options.operational, options.id, logger);
  return {
    url: server.url,
    close: async () => {
      await collector.stop();
      await server.close();
      agent.close();
    },
  };
}

/** `token` and `tokens` together; an empty token would let anyone in who sends `Bearer `. */
export function acceptedTokens(options: { readonly token?: string; readonly tokens?: readonly string[] }): string[] {
  const tokens = [...(options.token === undefined ? [] : [options.token]), ...(options.tokens ?? [])];
  for (const token of tokens) expectNonEmptyString('token', token);
  return tokens;
}

/** A client turned away for its certificate is the drone operator's to see; other failed handshakes are noise. */
export function logTlsRefusal(logger: Logger): (refusal: TlsClientRefusal) => void {
  return (refusal) => {
    const message = `refused a TLS client at ${refusal.peer}: ${refusal.reason}`;
    if (refusal.certificate) logger.warn({ peer: refusal.peer }, message);
    else logger.info({ peer: refusal.peer }, message);
  };
}

/**
 * Said once at start, so a wrong path or URL shows before a rollout finds every push to this drone held
 * back; the agent serves anyway, since the vehicle's software may simply start later.
 */
async function warnIfUnknown(source: OperationalSource, id: string, logger: Logger): Promise<void> {
  const view = await source.read().catch((error: unknown) => ({
    error: error instanceof Error ? error.message : String(error),
  }));
  if ('error' in view)
    logger.warn({ drone: id, operational: view }, `operational state unknown at start: ${view.error}`);
}
