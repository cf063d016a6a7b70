import { Command, InvalidArgumentError, Option } from 'commander';
import type { Level } from 'pino';
import { MAX_DURATION_MS, parseDuration } from '../spec/duration.js';
import type { CommonOptions, OutputFormat } from './common.js';
import { LOG_LEVELS } from './output/logger.js';
import { parsePruneRule, type PruneRule } from './prune.js';
import { resolveStateDir } from './state-dir.js';

/** The flags as commander collects them, before they become a command's options (program.ts). */
export interface RawOutput {
  output: OutputFormat;
  logLevel: Level | 'silent';
}

export interface RawCommon extends RawOutput {
  stateDir?: string;
  store?: string;
}

/** The flags of the commands that talk to drones: their token and TLS. */
export interface RawDroneAccess {
  tokenFile?: string;
  caFile?: string;
  clientCert?: string;
  clientKey?: string;
}

export interface RawFleetSim extends RawOutput {
  drones: number;
  port: number;
  host: string;
  hot: string[];
  hotOnPush: string[];
  stale: string[];
  fail: string[];
  slow: string[];
  slowMs: number;
  clockOffset?: number;
  configFile: string;
  inventoryOut?: string;
  dir?: string;
  inMemory: boolean;
  seed: number;
  tokenFile: string[];
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  airborne: string[];
  battery: string[];
  mission: string[];
  trustKey: string[];
}

export interface RawAgent extends RawOutput {
  id: string;
  dir: string;
  port: number;
  host: string;
  tokenFile: string[];
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  operationalFile?: string;
  operationalUrl?: string;
  operationalMaxAge?: number;
  trustKey: string[];
}

export function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer from ${min} up, got "${value}"`);
    return n;
  };
}

export function signedInteger(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) {
    throw new InvalidArgumentError(
      `expected an integer (negative with a minus: --clock-offset=-300000), got "${value}"`,
    );
  }
  return n;
}

/** A duration as a spec writes it (`500ms`, `30s`, `2m`, `1h`), from 1 ms to a day: milliseconds. */
export function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 1 || ms > MAX_DURATION_MS)
    throw new InvalidArgumentError(`expected a duration from 1ms to 24h, such as 30s, 2m or 500ms, got "${value}"`);
  return ms;
}

export function pruneRule(value: string): PruneRule {
  const rule = parsePruneRule(value);
  if (rule === undefined) {
    throw new InvalidArgumentError(
      `expected an age (30d, 12h, 90m) or how many ended rollouts to keep (50), got "${value}"`,
    );
  }
  return rule;
}

/** A flag that may be given more than once, each value kept. */
function repeated(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--token-file` of `run`, `plan`, `resume`; `--ca-file`, `--client-cert`, `--client-key`: TLS to the drones. */
export function withDroneAccess(command: Command): Command {
  return command
    .option('--token-file <file>', "file holding the agents' bearer token (else $ROLLOUT_TOKEN)")
    .option('--ca-file <pem>', "trust drones whose certificates this CA signed (replaces the spec's fleet.tls.ca)")
    .option('--client-cert <pem>', "present this client certificate to drones (replaces the spec's fleet.tls.cert)")
    .option('--client-key <pem>', "the client certificate's private key (replaces the spec's fleet.tls.key)");
}

/** `--token-file` (repeatable), `--tls-cert`, `--tls-key`, `--client-ca`: how `agent` and `fleet sim` admit clients. */
export function withServerAccess(command: Command): Command {
  return command
    .option(
      '--token-file <file>',
      'require this bearer token; give it twice (the old and the new file) to accept both while the token is rotated',
      repeated,
      [],
    )
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <pem>', "the certificate's private key (PEM)")
    .option('--client-ca <pem>', 'mutual TLS: refuse clients without a certificate this CA (PEM) signed')
    .option(
      '--trust-key <pub>',
      'refuse pushes not signed by this Ed25519 public key (PEM, from `rollout keys generate`); repeat it to trust several while keys are rotated',
      repeated,
      [],
    );
}

/** `tokenFile` as commander collects it, as `tokenFiles`; the TLS flags as they are. */
export function serverAccess<T extends { tokenFile: string[]; trustKey: string[] }>({
  tokenFile,
  trustKey,
  ...rest
}: T) {
  return { ...rest, tokenFiles: tokenFile, trustKeyFiles: trustKey };
}

export function idList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/** `--output` and `--log-level`: for every command that prints a result or logs. */
export function withOutput(command: Command): Command {
  return command
    .addOption(
      new Option('--output <format>', 'text for people, json for machines').choices(['text', 'json']).default('text'),
    )
    .addOption(new Option('--log-level <level>', 'log level on stderr').choices([...LOG_LEVELS]).default('error'));
}

/** `--output`, `--log-level`, and where the state lives: for every command that reads or writes it. */
export function withCommon(command: Command): Command {
  return withOutput(command)
    .option(
      '--state-dir <dir>',
      'where locks, logs and rollout records live (default: $ROLLOUT_STATE_DIR, else the nearest .rollout up from here, else ./.rollout)',
    )
    .option(
      '--store <url>',
      'etcd://host:port[,host:port...] to share locks and rollouts with a team (else $ROLLOUT_STORE, else the state dir)',
    );
}

export function common(raw: RawCommon): CommonOptions {
  const stateDir = resolveStateDir({ cwd: process.cwd(), flag: raw.stateDir, env: process.env.ROLLOUT_STATE_DIR });
  return {
    stateDir,
    output: raw.output,
    logLevel: raw.logLevel,
    ...(raw.store === undefined ? {} : { store: raw.store }),
  };
}
