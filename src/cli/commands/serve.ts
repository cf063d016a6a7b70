import { resolve } from 'node:path';
import { startAgent, type ServerTls } from '../../agent/agent-server.js';
import { CONFIG_NAME_RULE, configNameProblem, shownName } from '../../agent/config-name.js';
import {
  DEFAULT_OPERATIONAL_MAX_AGE_MS,
  isHttpUrl,
  operationalFile,
  operationalUrl,
  type OperationalSource,
} from '../../agent/operational-source.js';
import { keyIdOf } from '../../protocol/push-signature.js';
import { MAX_MISSION_LENGTH } from '../../protocol/v1.js';
import { startFleetSim, writeInventory } from '../../simulator/fleet-sim.js';
import { DEFAULT_SEED, modelTelemetry } from '../../simulator/model-telemetry.js';
import { RolloutError } from '../../errors.js';
import { checkKeyPair, readCertificates, readPrivateKey, type PemSource } from '../../infra/pem-files.js';
import { printJson, readTokens, type OutputOptions } from '../common.js';
import { createLogger } from '../output/logger.js';
import { untilStopped } from '../until-stopped.js';
import { readTrustedKeys } from './keys.js';

/** `--tls-cert`, `--tls-key` and `--client-ca` of `agent` and `fleet sim`. */
export interface ServerTlsOptions {
  /** The server's certificate (PEM); with `tlsKey`, it serves HTTPS. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** With it, mutual TLS: clients need a certificate this CA (PEM) signed. */
  readonly clientCa?: string;
}

export interface AgentCommandOptions extends OutputOptions, ServerTlsOptions {
  readonly id: string;
  readonly dir: string;
  readonly port: number;
  readonly host: string;
  /** One `--token-file` per accepted token: two while the fleet's token is rotated. @default $ROLLOUT_TOKEN */
  readonly tokenFiles?: readonly string[];
  /** `--operational-file <path>`: the vehicle's operational state, in a JSON file its software keeps current. */
  readonly operationalFile?: string;
  /** `--operational-url <url>`: the same, from a local http(s) endpoint of that software. */
  readonly operationalUrl?: string;
  /** `--operational-max-age`: an operational file older than this reads as unknown. @default 60000 */
  readonly operationalMaxAgeMs?: number;
  /** `--trust-key <pub>` (repeatable): refuse every push not signed by one of these Ed25519 public keys. */
  readonly trustKeyFiles?: readonly string[];
}

export interface FleetSimOptions extends OutputOptions, ServerTlsOptions {
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
  /** `--in-memory`: the drones keep their state in memory, with no dir and no fsync (for benches). @default false */
  readonly inMemory?: boolean;
  readonly seed: number;
  /** One `--token-file` per accepted token: two while the fleet's token is rotated. @default $ROLLOUT_TOKEN */
  readonly tokenFiles?: readonly string[];
  /** `--clock-offset <ms>`: every simulated drone's clock runs this far from the host's. */
  readonly clockOffsetMs?: number;
  /** `--airborne <ids>`: drones that report they fly. */
  readonly airborne: readonly string[];
  /** `--battery drone-2=15,...`: battery percent by drone, as written (`<id>=<percent>`). */
  readonly battery: readonly string[];
  /** `--mission drone-5=survey-7,...`: the mission by drone, as written (`<id>=<mission>`). */
  readonly mission: readonly string[];
  /** `--trust-key <pub>` (repeatable): every drone refuses a push not signed by one of these. */
  readonly trustKeyFiles?: readonly string[];
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

const flagFile = (name: string, path: string): PemSource => ({ name, path: resolve(path), code: 'E_USAGE' });

/**
 * HTTPS from `--tls-cert` and `--tls-key`, mutual TLS with `--client-ca`: each file read and checked
 * (it parses, the key is the certificate's), E_USAGE naming the flag and the file otherwise.
 */
export async function readServerTls(options: ServerTlsOptions): Promise<ServerTls | undefined> {
  const { tlsCert, tlsKey, clientCa } = options;
  if (tlsCert === undefined && tlsKey === undefined) {
    if (clientCa === undefined) return undefined;
    throw new RolloutError(
      'E_USAGE',
      '--client-ca needs --tls-cert and --tls-key: mutual TLS is HTTPS that also asks each client for a certificate; give the server its certificate and key too',
    );
  }
  if (tlsCert === undefined || tlsKey === undefined) {
    const [given, missing] = tlsCert === undefined ? ['--tls-key', '--tls-cert'] : ['--tls-cert', '--tls-key'];
    throw new RolloutError(
      'E_USAGE',
      `${given} given without ${missing}: HTTPS needs both the server's certificate (--tls-cert, PEM) and its private key (--tls-key, PEM)`,
    );
  }
  const certSource = flagFile('--tls-cert', tlsCert);
  const keySource = flagFile('--tls-key', tlsKey);
  const cert = await readCertificates(certSource);
  const key = await readPrivateKey(keySource);
  checkKeyPair(certSource, cert, keySource, key);
  const ca = clientCa === undefined ? undefined : await readCertificates(flagFile('--client-ca', clientCa));
  return { cert: cert.pem, key: key.pem, ...(ca === undefined ? {} : { clientCa: ca.pem }) };
}

/** `; HTTPS`, `; mutual TLS`: what the start-up line adds about TLS. */
function tlsNote(tls: ServerTls | undefined): string {
  if (tls === undefined) return '';
  return tls.clientCa === undefined ? '; HTTPS' : '; mutual TLS: clients need a certificate signed by --client-ca';
}

/** One real drone agent writing configs under --dir, until stopped. */
export async function agentCommand(options: AgentCommandOptions): Promise<number> {
  const operational = operationalSource(options);
  const tokens = await readTokens(options.tokenFiles ?? []);
  const tls = await readServerTls(options);
  const trustedKeys = await readTrustedKeys(options.trustKeyFiles ?? []);
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
    ...(tls === undefined ? {} : { tls }),
    ...(trustedKeys.length === 0 ? {} : { trustedKeys }),
    tokens,
  });
  if (tokens.length === 0) {
    // Said on stderr whatever the log level or output: an open agent is a choice someone must see.
    process.stderr.write(
      `warning: no --token-file: this agent accepts requests from anyone who can reach ${new URL(server.url).host}; start it with --token-file <file> (or $ROLLOUT_TOKEN) to require a bearer token\n`,
    );
  }
  if (options.output === 'json') printJson({ id: options.id, url: server.url });
  else
    process.stdout.write(
      `agent ${options.id} listening on ${server.url} (configs in ${resolve(options.dir)}` +
        `${operationalFrom(options) ?? ''}${tlsNote(tls)}${tokens.length > 1 ? `; accepts ${tokens.length} tokens` : ''}` +
        `${trustedKeys.length === 0 ? '' : `; takes only pushes signed by ${trustedKeys.length === 1 ? 'key' : 'keys'} ${trustedKeys.map((key) => keyIdOf(key)).join(', ')}`})\n`,
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
  if (options.inMemory === true && (options.dir !== undefined || (options.trustKeyFiles ?? []).length > 0)) {
    throw new RolloutError(
      'E_USAGE',
      `--in-memory keeps no config dir and checks no signature: leave out ${options.dir === undefined ? '--trust-key' : '--dir'}`,
    );
  }
  const tokens = await readTokens(options.tokenFiles ?? []);
  const tls = await readServerTls(options);
  const trustKeys = await readTrustedKeys(options.trustKeyFiles ?? []);
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
    ...(tls === undefined ? {} : { tls }),
    ...(trustKeys.length === 0 ? {} : { trustKeys }),
    tokens,
    ...(options.inMemory === true ? { inMemory: true } : {}),
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
      `fleet sim: ${fleet.drones.length} drones on ${fleet.url}/d/<id>${planted.length ? ` (${planted.join('; ')})` : ''}${tlsNote(tls)}` +
        `${options.inventoryOut === undefined ? '' : `; inventory written to ${options.inventoryOut}`}\n`,
    );
  }
  await untilStopped();
  await fleet.close();
  return 0;
}
