import type { KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Drone } from '../spec/types.js';
import type { DroneMetrics } from '../protocol/metrics-text.js';
import { configPath } from '../protocol/v1.js';
import {
  acceptedTokens,
  DEFAULT_LOCK_TTL_MS,
  DEFAULT_SAMPLE_INTERVAL_MS,
  logTlsRefusal,
  type ServerTls,
} from '../agent/agent-server.js';
import { defaultLogger } from '../agent/default-logger.js';
import { serve } from '../agent/http-server.js';
import { LockCollector } from '../agent/lock-collector.js';
import { CONFIG_NAME_RULE, configNameProblem, shownName } from '../agent/config-name.js';
import { expectInteger } from '../infra/argument-checks.js';
import {
  createRequestHandler,
  type DroneRequestHooks,
  type DroneTarget,
  type ServerRoute,
} from '../agent/request-handler.js';
import { requireBearer, TextAnswer } from '../agent/http-io.js';
import { formatMetrics, METRICS_CONTENT_TYPE, METRICS_PATH } from '../protocol/metrics-text.js';
import { DEFAULT_SEED, modelTelemetry } from './model-telemetry.js';
import { MemoryDrones, type FleetCensus } from './memory-drones.js';
import { droneNumber, SimDrones } from './sim-drones.js';
import { plantStaleLock, resolveFaults, type SimFaults } from './sim-faults.js';
import { SIM_OPERATIONAL_PATH, SimOperational, type SimOperationalLists } from './sim-operational.js';
import { simRequestKind, SimStats, type SimStatsView } from './sim-stats.js';

export { writeInventory } from './inventory.js';

/** `airborne`, `battery` and `missions`: what drones report other than grounded, 100 % and no mission. */
export interface FleetSimOptions extends SimOperationalLists {
  /** How many drones: `drone-1` … `drone-N`. */
  readonly drones: number;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Holds every drone's config dir (`<dir>/<id>/`). @default a fresh temp dir, removed on close */
  readonly dir?: string;
  /**
   * Keep every drone's state in memory (memory-drones.ts): no config dir, no file written, no fsync, so
   * a bench measures the orchestrator rather than the fleet's disk. Refuses `dir` and `trustKeys`. @default false
   */
  readonly inMemory?: boolean;
  /** @default 'aim_lock_config.conf' */
  readonly configFile?: string;
  /** Drones holding a live foreign lock on `configFile`. */
  readonly hot?: readonly string[];
  /** Drones that take that same lock when their first push arrives, so that push and all after it get 409 HOT. */
  readonly hotOnPush?: readonly string[];
  /** Drones that boot with a dead owner's lock on `configFile`. */
  readonly stale?: readonly string[];
  /** Drones whose pushes fail with 500. */
  readonly fail?: readonly string[];
  /** Drones that answer after `slowMs`. */
  readonly slow?: readonly string[];
  /** @default 1500 */
  readonly slowMs?: number;
  /** Ed25519 public keys every drone trusts: each refuses a push not signed by one of them. @default none */
  readonly trustKeys?: readonly KeyObject[];
  /** Every drone and the simulator's own routes need `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** More tokens accepted besides `token`: the old and the new one while the token is rotated. */
  readonly tokens?: readonly string[];
  /** Serve HTTPS with this certificate (for the address the drones' URLs name); with `clientCa`, mutual TLS. */
  readonly tls?: ServerTls;
  /** Seeds the telemetry PRNG; drone i uses seed + i. @default 1 */
  readonly seed?: number;
  /** @default 200 */
  readonly sampleIntervalMs?: number;
  /** @default 15000 */
  readonly lockTtlMs?: number;
  /** @default NDJSON on stderr at level info */
  readonly logger?: Logger;
  /** The clock, injectable for tests. @default Date.now */
  readonly now?: () => number;
  /**
   * How far every drone's clock runs from the host's, in ms (negative: behind). Drones stamp telemetry
   * (`t`, `now`) and their local locks with it; `/sim/stats` stays on the host's clock. @default 0
   */
  readonly clockOffsetMs?: number;
}

export interface RunningFleet {
  /**
   * The simulator's base URL; each drone is at `<url>/d/<id>`, its counters at `<url>/sim/stats`
   * (SimStatsView), every drone's latest telemetry for Prometheus at `<url>/metrics`; `POST
   * <url>/sim/operational` changes a drone's operational state.
   */
  readonly url: string;
  readonly drones: readonly Drone[];
  close(): Promise<void>;
}

/** What every simulated drone starts with, as version v42. */
export const SIM_INITIAL_CONFIG =
  '# aim lock config\naim_sensitivity = 0.80\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
export const SIM_INITIAL_VERSION = 'v42';

const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;

/**
 * One HTTP server for a whole simulated fleet, each drone under `/d/<id>/v1/...`. A drone costs
 * nothing until its first request, which opens it: its dir is seeded then (config v42 and metadata),
 * or loaded if it exists — so 10,000 drones start at once and only drones in use take memory and disk.
 * Drones with planted faults open at start. Telemetry is computed on request, one collector serves all.
 * `GET /sim/stats` answers what the drones saw of pushes, rollbacks and resumes (see SimStatsView).
 * `GET /metrics` exposes every drone's latest telemetry sample as Prometheus gauges (metrics-text.ts)
 * without opening the drones never used; `GET /d/<id>/metrics` does so for one drone.
 * Every drone reports an operational state (grounded, 100 %, no mission unless `airborne`, `battery` or
 * `missions` say otherwise), and `POST /sim/operational` with `{"drone", "flight"?, "battery"?, "mission"?}`
 * changes it while the fleet runs, answering `{drone, operational}`.
 */
export async function startFleetSim(options: FleetSimOptions): Promise<RunningFleet> {
  expectInteger('drones', options.drones, 1);
  const port = options.port ?? 0;
  const slowMs = options.slowMs ?? 1500;
  const lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const sampleIntervalMs = options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
  const configFile = options.configFile ?? 'aim_lock_config.conf';
  expectInteger('port', port, 0, 65_535);
  expectInteger('slowMs', slowMs, 0);
  expectInteger('lockTtlMs', lockTtlMs, 1);
  expectInteger('sampleIntervalMs', sampleIntervalMs, 1);
  const nameProblem = configNameProblem(configFile);
  if (nameProblem !== undefined)
    throw new TypeError(
      `Expected \`configFile\` to be a config name (${CONFIG_NAME_RULE}), got ${shownName(configFile)}: ${nameProblem}`,
    );
  const clockOffsetMs = options.clockOffsetMs ?? 0;
  expectInteger('clockOffsetMs', clockOffsetMs, Number.MIN_SAFE_INTEGER);
  const isDrone = (id: string): boolean => droneNumber(id, options.drones) !== undefined;
  const faults = resolveFaults(options, isDrone, options.drones);
  const operational = new SimOperational(options, isDrone, options.drones);
  const logger = options.logger ?? defaultLogger('rollout-fleet-sim');
  const now = options.now ?? Date.now;
  const tokens = acceptedTokens(options);
  const droneNow = clockOffsetMs === 0 ? now : () => now() + clockOffsetMs;
  if (options.inMemory === true && (options.dir !== undefined || options.trustKeys !== undefined))
    throw new TypeError(
      'Expected `inMemory` without `dir` or `trustKeys`: in-memory drones keep no dir and check no signature',
    );
  const telemetrySeed = options.seed ?? DEFAULT_SEED;
  const telemetry = modelTelemetry({ keyOf: (id) => telemetrySeed + (droneNumber(id, options.drones) ?? 0) });
  const seed = { file: configFile, content: SIM_INITIAL_CONFIG, version: SIM_INITIAL_VERSION };
  const auth = tokens.length === 0 ? 'none' : 'bearer';
  if (options.inMemory === true) {
    const drones = new MemoryDrones({
      size: options.drones,
      seed,
      clock: { intervalMs: sampleIntervalMs, bootMs: droneNow() },
      telemetry,
      now: droneNow,
      logger,
      faults,
      auth,
      operational: (id) => operational.sourceOf(id),
    });
    const context = { options, operational, logger, stats: new SimStats(now), tokens, configFile, slowMs, faults };
    return serveFleet(drones, context);
  }
  const root = options.dir ?? (await mkdtemp(join(tmpdir(), 'fleet-sim-')));
  const removeRoot =
    options.dir === undefined
      ? () => rm(root, { recursive: true, force: true })
      : async () => {
          // The caller's dir: the caller removes it.
        };

  const collector = new LockCollector({
    intervalMs: Math.max(1, Math.floor(lockTtlMs / 3)),
    logger,
    beforeSweep: () => drones.refreshHotLocks(),
  });
  const drones = new SimDrones({
    root,
    size: options.drones,
    seed,
    clock: { intervalMs: sampleIntervalMs, bootMs: droneNow() },
    telemetry,
    lockTtlMs,
    now: droneNow,
    logger,
    faults,
    onLockSeen: (agent) => collector.watch(agent),
    auth,
    operational: (id) => operational.sourceOf(id),
    ...(options.trustKeys === undefined ? {} : { trustedKeys: options.trustKeys }),
  });

  try {
    if (options.dir !== undefined) await drones.scanRoot();
    for (const id of faults.hot) await drones.plantHot(id);
    for (const id of faults.stale) await plantStaleLock(drones.dirOf(id), configFile, droneNow());
    // Drones with planted locks boot now, so the stale ones are reclaimed (and logged) at start.
    for (const id of [...faults.hot, ...faults.stale]) await drones.open(id);
    const fleet = await serveFleet(drones, {
      options,
      operational,
      logger,
      stats: new SimStats(now),
      tokens,
      configFile,
      slowMs,
      faults,
      dir: root,
    });
    collector.start();
    return {
      ...fleet,
      close: async () => {
        await collector.stop();
        await fleet.close();
        drones.close();
        await removeRoot();
      },
    };
  } catch (error) {
    await collector.stop();
    await removeRoot();
    throw error;
  }
}

/** What the server needs of a fleet's drones, on disk (SimDrones) or in memory (MemoryDrones). */
interface ServedDrones {
  resolve(path: string): DroneTarget | Promise<DroneTarget>;
  latestMetrics(): DroneMetrics[] | Promise<DroneMetrics[]>;
  beforePush(id: string): void | Promise<void>;
  /** Only drones whose HOT lock is a file on disk need its heartbeat kept fresh. */
  refreshHotLock?(id: string): Promise<void>;
  isSlow(id: string): boolean;
  /** Only an in-memory fleet counts its drones' state at once. */
  census?(): FleetCensus;
}

interface ServeContext {
  readonly options: FleetSimOptions;
  readonly operational: SimOperational;
  readonly logger: Logger;
  readonly stats: SimStats;
  readonly tokens: readonly string[];
  readonly configFile: string;
  readonly slowMs: number;
  readonly faults: SimFaults;
  /** The drones' config dirs; none in memory. */
  readonly dir?: string;
}

/** The one HTTP server of a simulated fleet, its own routes (`/sim/stats`, `/metrics`, `/sim/operational`), and its inventory. */
async function serveFleet(drones: ServedDrones, context: ServeContext): Promise<RunningFleet> {
  const { options, operational, logger, stats, tokens } = context;
  const handler = createRequestHandler({
    resolve: (path) => drones.resolve(path),
    serverRoutes: new Map<string, ServerRoute>([
      [
        '/sim/stats',
        {
          method: 'GET',
          answer: (): SimStatsView => ({
            ...stats.view(),
            ...(drones.census === undefined ? {} : { fleet: drones.census() }),
          }),
        },
      ],
      [
        METRICS_PATH,
        {
          method: 'GET',
          answer: async () => new TextAnswer(METRICS_CONTENT_TYPE, formatMetrics(await drones.latestMetrics())),
        },
      ],
      [
        SIM_OPERATIONAL_PATH,
        {
          method: 'POST',
          answer: async (readBody) => {
            const update = operational.update(await readBody());
            logger.info(update, `${update.drone} now reports ${JSON.stringify(update.operational)}`);
            return update;
          },
        },
      ],
    ]),
    hooks: statsAndFaultHooks(drones, stats, context.configFile, context.slowMs),
    logger,
  });
  const server = await serve(tokens.length === 0 ? handler : requireBearer(handler, tokens), {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    ...(options.tls === undefined ? {} : { tls: options.tls, onTlsClientError: logTlsRefusal(logger) }),
  });
  const inventory: Drone[] = Array.from({ length: options.drones }, (_, index) => ({
    id: `drone-${index + 1}`,
    url: `${server.url}/d/drone-${index + 1}`,
    labels: { group: 'patrol', zone: ZONES[index % ZONES.length] ?? 'zone-a' },
  }));
  logger.info(
    {
      url: server.url,
      drones: options.drones,
      dir: context.dir ?? null,
      inMemory: context.dir === undefined,
      faults: summary(context.faults),
      operational: operational.changed(),
      clockOffsetMs: options.clockOffsetMs ?? 0,
    },
    `simulated fleet of ${options.drones} drones listening on ${server.url}`,
  );
  return { url: server.url, drones: inventory, close: () => server.close() };
}

/**
 * Every push, rollback and resume is counted as it arrives; a push may turn its drone HOT before it is
 * handled; a slow drone then waits `slowMs` before it starts answering.
 */
function statsAndFaultHooks(
  drones: ServedDrones,
  stats: SimStats,
  configFile: string,
  slowMs: number,
): DroneRequestHooks {
  const pushPath = configPath(configFile);
  return {
    beforeRoute: async (target, method) => {
      const kind = simRequestKind(method, target.path);
      stats.arrived(kind);
      // Only a push of the config the fault is about turns the drone HOT: the lock is planted on that file.
      if (kind === 'push' && target.path === pushPath) await drones.beforePush(target.agent.id);
      // The simulated owner of a HOT lock is alive: its heartbeat is fresh whenever the drone looks at it,
      // even when this process stalled past the lock TTL between two collector sweeps.
      await drones.refreshHotLock?.(target.agent.id);
      if (drones.isSlow(target.agent.id) && slowMs > 0) await sleep(slowMs);
    },
    answered: (target, method, status, body) =>
      stats.answered(simRequestKind(method, target.path), target.agent.id, status, body),
  };
}

function summary(faults: SimFaults): Record<string, string[]> {
  const byName: Readonly<Record<keyof SimFaults, ReadonlySet<string>>> = faults;
  return Object.fromEntries(
    Object.entries(byName)
      .filter(([, ids]) => ids.size > 0)
      .map(([name, ids]) => [name, [...ids]]),
  );
}
