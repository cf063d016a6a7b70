import { resolve } from 'node:path';
import { startAgent } from '../../agent/agent-server.js';
import { CONFIG_NAME_RULE, configNameProblem, shownName } from '../../agent/config-name.js';
import {
  DEFAULT_OPERATIONAL_MAX_AGE_MS,
  isHttpUrl,
  operationalFile,
  operationalUrl,
  type OperationalSource,
} from '../../agent/operational-source.js';
import { MAX_MISSION_LENGTH } from '../../protocol/v1.js';
import { startFleetSim, writeInventory } from '../../simulator/fleet-sim.js';
import { DEFAULT_SEED, modelTelemetry } from '../../simulator/model-telemetry.js';
import { RolloutError } from '../../errors.js';
import { printJson, readToken, type OutputOptions } from '../common.js';
import { createLogger } from '../output/logger.js';

export interface AgentCommandOptions extends OutputOptions {
  readonly id: string;
  readonly dir: string;
  readonly port: number;
  readonly host: string;
  readonly tokenFile?: string;
  /** `--operational-file <path>`: the vehicle's operational state, in a JSON file its software keeps current. */
  readonly operationalFile?: string;
  /** `--operational-url <url>`: the same, from a local http(s) endpoint of that software. */
  readonly operationalUrl?: string;
  /** `--operational-max-age`: an operational file older than this reads as unknown. @default 60000 */
  readonly operationalMaxAgeMs?: number;
}

export interface FleetSimOptions extends OutputOptions {
  readonly drones: number;
  readonly port: number;
  readonly host: string;
  readonly hot: readonly string[];
  readonly hotOnPush: readonly string[];
  readonly stale: readonly string[];
  readonly fail: readonly string[];
  readonly slow: readonly string[];
  readonly slowMs: number;
  readonly configFile: string;
  readonly inventoryOut?: string;
  readonly dir?: string;
  readonly seed: number;
  readonly tokenFile?: string;
  /** `--clock-offset <ms>`: every simulated drone's clock runs this far from the host's. */
  readonly clockOffsetMs?: number;
  /** `--airborne <ids>`: drones that report they fly. */
  readonly airborne: readonly string[];
  /** `--battery drone-2=15,...`: battery percent by drone, as written (`<id>=<percent>`). */
  readonly battery: readonly string[];
  /** `--mission drone-5=survey-7,...`: the mission by drone, as written (`<id>=<mission>`). */
  readonly mission: readonly string[];
}

/** Resolves once SIGINT or SIGTERM arrives; servers close cleanly after it. */
function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function checkIds(flag: string, ids: readonly string[], drones: number): void {
  for (const id of ids) {
    const n = /^drone-(\d+)$/.exec(id)?.[1];
    if (n === undefined || Number(n) < 1 || Number(n) > drones) {
      throw new RolloutError(
        'E_USAGE',
        `${flag} ${id}: no such drone in a fleet of ${drones} (ids are drone-1 … drone-${drones})`,
      );
    }
  }
}

/** The agent's operational source from its flags; E_USAGE for a combination or value that cannot be. */
function operationalSource(options: AgentCommandOptions): OperationalSource | undefined {
  const { operationalFile: file, operationalUrl: url, operationalMaxAgeMs: maxAgeMs } = options;
  if (file !== undefined && url !== undefined) {
    throw new RolloutError(
      'E_USAGE',
      '--operational-file and --operational-url both given: the agent reads the operational state from one of them',
    );
  }
  if (maxAgeMs !== undefined && file === undefined) {
    throw new RolloutError(
      'E_USAGE',
      '--operational-max-age applies to --operational-file only: an endpoint (--operational-url) answers its current state',
    );
  }
  if (maxAgeMs !== undefined && (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 1)) {
    throw new RolloutError(
      'E_USAGE',
      `--operational-max-age ${maxAgeMs}: expected a duration of at least 1 ms, such as 30s or 2m`,
    );
  }
  if (file !== undefined) {
    if (file === '') throw new RolloutError('E_USAGE', '--operational-file is empty: give the path of the JSON file');
    return operationalFile(resolve(file), { maxAgeMs: maxAgeMs ?? DEFAULT_OPERATIONAL_MAX_AGE_MS });
  }
  if (url !== undefined) {
    if (!isHttpUrl(url)) {
      throw new RolloutError(
        'E_USAGE',
        `--operational-url ${JSON.stringify(url)}: expected an http or https URL, such as http://127.0.0.1:8900/state`,
      );
    }
    return operationalUrl(url);
  }
  return undefined;
}

/** One real drone agent writing configs under --dir, until stopped. */
export async function agentCommand(options: AgentCommandOptions): Promise<number> {
  const operational = operationalSource(options);
  const token = await readToken(options.tokenFile);
  const logger = createLogger({ level: options.logLevel, format: options.output });
  const server = await startAgent({
    id: options.id,
    dir: resolve(options.dir),
    port: options.port,
    host: options.host,
    logger,
    // No real sensors here: the agent reports the simulator's model, as every drone of this project does.
    telemetry: modelTelemetry({ keyOf: () => DEFAULT_SEED }),
    ...(operational === undefined ? {} : { operational }),
    ...(token === undefined ? {} : { token }),
  });
  if (token === undefined) {
    // Said on stderr whatever the log level or output: an open agent is a choice someone must see.
    process.stderr.write(
      `warning: no --token-file: this agent accepts requests from anyone who can reach ${new URL(server.url).host}; start it with --token-file <file> (or $ROLLOUT_TOKEN) to require a bearer token\n`,
    );
  }
  if (options.output === 'json') printJson({ id: options.id, url: server.url });
  else
    process.stdout.write(
      `agent ${options.id} listening on ${server.url} (configs in ${resolve(options.dir)}` +
        `${operationalFrom(options) ?? ''})\n`,
    );
  await untilStopped();
  await server.close();
  return 0;
}

/** Where the agent reads the operational state, for its start-up line. */
function operationalFrom(options: AgentCommandOptions): string | undefined {
  if (options.operationalFile !== undefined) return `; operational state from ${resolve(options.operationalFile)}`;
  if (options.operationalUrl !== undefined) return `; operational state from ${options.operationalUrl}`;
  return undefined;
}

/** `--battery` and `--mission`: what the value of each `<id>=<value>` pair is, and how it reads. */
interface PairFlag<T> {
  readonly flag: string;
  readonly value: string;
  readonly example: string;
  readonly parse: (text: string) => T | undefined;
}

const BATTERY: PairFlag<number> = {
  flag: '--battery',
  value: 'a battery percent from 0 to 100',
  example: 'drone-2=15',
  parse: (text) => (/^\d+(\.\d+)?$/u.test(text) && Number(text) <= 100 ? Number(text) : undefined),
};

const MISSION: PairFlag<string> = {
  flag: '--mission',
  value: `a mission id of 1 to ${MAX_MISSION_LENGTH} characters`,
  example: 'drone-5=survey-7',
  parse: (text) => (text.length >= 1 && text.length <= MAX_MISSION_LENGTH ? text : undefined),
};

/** Each `<id>=<value>` pair as written, by drone; E_USAGE naming the flag and the pair for one that is wrong. */
function pairsOf<T>(kind: PairFlag<T>, written: readonly string[], drones: number): Record<string, T> {
  const found: Record<string, T> = {};
  for (const pair of written) {
    const at = pair.indexOf('=');
    if (at <= 0) {
      throw new RolloutError(
        'E_USAGE',
        `${kind.flag} ${pair}: expected <drone>=<value>, such as ${kind.flag} ${kind.example}`,
      );
    }
    const id = pair.slice(0, at);
    checkIds(kind.flag, [id], drones);
    const value = kind.parse(pair.slice(at + 1));
    if (value === undefined)
      throw new RolloutError(
        'E_USAGE',
        `${kind.flag} ${pair}: the value must be ${kind.value}, such as ${kind.example}`,
      );
    if (Object.hasOwn(found, id)) throw new RolloutError('E_USAGE', `${kind.flag} ${pair}: ${id} is given twice`);
    found[id] = value;
  }
  return found;
}

/** A simulated fleet on loopback, one port, drones under /d/<id>, until stopped. */
export async function fleetSimCommand(options: FleetSimOptions): Promise<number> {
  for (const [flag, ids] of [
    ['--hot', options.hot],
    ['--hot-on-push', options.hotOnPush],
    ['--stale', options.stale],
    ['--fail', options.fail],
    ['--slow', options.slow],
    ['--airborne', options.airborne],
  ] as const) {
    checkIds(flag, ids, options.drones);
  }
  const battery = pairsOf(BATTERY, options.battery, options.drones);
  const missions = pairsOf(MISSION, options.mission, options.drones);
  const nameProblem = configNameProblem(options.configFile);
  if (nameProblem !== undefined) {
    throw new RolloutError(
      'E_USAGE',
      `--config-file ${shownName(options.configFile)}: ${nameProblem}; a config name is ${CONFIG_NAME_RULE}`,
    );
  }
  if (options.clockOffsetMs !== undefined && !Number.isSafeInteger(options.clockOffsetMs)) {
    throw new RolloutError(
      'E_USAGE',
      `--clock-offset ${options.clockOffsetMs}: expected a whole number of milliseconds, such as -300000 for a clock 5 minutes behind`,
    );
  }
  const token = await readToken(options.tokenFile);
  const logger = createLogger({ level: options.logLevel, format: options.output });
  const fleet = await startFleetSim({
    drones: options.drones,
    port: options.port,
    host: options.host,
    hot: [...options.hot],
    hotOnPush: [...options.hotOnPush],
    stale: [...options.stale],
    fail: [...options.fail],
    slow: [...options.slow],
    slowMs: options.slowMs,
    airborne: [...options.airborne],
    battery,
    missions,
    configFile: options.configFile,
    seed: options.seed,
    logger,
    ...(options.clockOffsetMs === undefined ? {} : { clockOffsetMs: options.clockOffsetMs }),
    ...(options.dir === undefined ? {} : { dir: resolve(options.dir) }),
    ...(token === undefined ? {} : { token }),
  });
  if (options.inventoryOut !== undefined) await writeInventory(resolve(options.inventoryOut), fleet.drones);
  if (options.output === 'json') {
    printJson({
      url: fleet.url,
      drones: fleet.drones.length,
      inventory: options.inventoryOut === undefined ? null : resolve(options.inventoryOut),
    });
  } else {
    // Faults, then operational states other than the default: what this fleet was started with.
    const planted = Object.entries({
      hot: options.hot,
      'hot-on-push': options.hotOnPush,
      stale: options.stale,
      fail: options.fail,
      slow: options.slow,
      airborne: options.airborne,
      battery: options.battery,
      mission: options.mission,
    })
      .filter(([, values]) => values.length > 0)
      .map(([name, values]) => `${name}: ${values.join(',')}`);
    process.stdout.write(
      `fleet sim: ${fleet.drones.length} drones on ${fleet.url}/d/<id>${planted.length ? ` (${planted.join('; ')})` : ''}` +
        `${options.inventoryOut === undefined ? '' : `; inventory written to ${options.inventoryOut}`}\n`,
    );
  }
  await untilStopped();
  await fleet.close();
  return 0;
}
