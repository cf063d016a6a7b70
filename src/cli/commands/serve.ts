import { resolve } from 'node:path';
import { startAgent } from '../../agent/agent-server.js';
import { CONFIG_NAME_RULE, configNameProblem, shownName } from '../../agent/config-name.js';
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

/** One real drone agent writing configs under --dir, until stopped. */
export async function agentCommand(options: AgentCommandOptions): Promise<number> {
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
    ...(token === undefined ? {} : { token }),
  });
  if (token === undefined) {
    // Said on stderr whatever the log level or output: an open agent is a choice someone must see.
    process.stderr.write(
      `warning: no --token-file: this agent accepts requests from anyone who can reach ${new URL(server.url).host}; start it with --token-file <file> (or $ROLLOUT_TOKEN) to require a bearer token\n`,
    );
  }
  if (options.output === 'json') printJson({ id: options.id, url: server.url });
  else process.stdout.write(`agent ${options.id} listening on ${server.url} (configs in ${resolve(options.dir)})\n`);
  await untilStopped();
  await server.close();
  return 0;
}

/** A simulated fleet on loopback, one port, drones under /d/<id>, until stopped. */
export async function fleetSimCommand(options: FleetSimOptions): Promise<number> {
  for (const [flag, ids] of [
    ['--hot', options.hot],
    ['--hot-on-push', options.hotOnPush],
    ['--stale', options.stale],
    ['--fail', options.fail],
    ['--slow', options.slow],
  ] as const) {
    checkIds(flag, ids, options.drones);
  }
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
    const faults = Object.entries({
      hot: options.hot,
      'hot-on-push': options.hotOnPush,
      stale: options.stale,
      fail: options.fail,
      slow: options.slow,
    })
      .filter(([, ids]) => ids.length > 0)
      .map(([name, ids]) => `${name}: ${ids.join(',')}`);
    process.stdout.write(
      `fleet sim: ${fleet.drones.length} drones on ${fleet.url}/d/<id>${faults.length ? ` (${faults.join('; ')})` : ''}` +
        `${options.inventoryOut === undefined ? '' : `; inventory written to ${options.inventoryOut}`}\n`,
    );
  }
  await untilStopped();
  await fleet.close();
  return 0;
}
