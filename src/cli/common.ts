import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Level } from 'pino';
import { RolloutError } from '../errors.js';
import { loadDroneTls, type DroneTls } from '../fleet/drone-tls.js';
import { createEmbeddedLockStore } from '../lock/embedded/store.js';
import { hostIdentity } from '../infra/host.js';
import type { LockStore } from '../lock/types.js';
import { createEmbeddedStateStore } from '../store/embedded/store.js';
import { parseStoreUrl } from './store-url.js';
import type { RolloutOwner, StateStore } from '../store/types.js';
import type { TlsFiles } from '../spec/types.js';

export type OutputFormat = 'text' | 'json';

/** How a command talks to people or machines: what stdout holds, and what reaches stderr. */
export interface OutputOptions {
  readonly output: OutputFormat;
  /** What reaches stderr. @default 'error' */
  readonly logLevel: Level | 'silent';
}

/** Flags of every command that reads or writes the state store. */
export interface CommonOptions extends OutputOptions {
  /**
   * Where locks, logs and rollout records live.
   * @default $ROLLOUT_STATE_DIR, else the nearest `.rollout` up from the cwd, else `./.rollout` (see state-dir.ts)
   */
  readonly stateDir: string;
  /** `etcd://host:port[,...]` for a team's shared store; else (or `embedded`) the state dir. @default $ROLLOUT_STORE */
  readonly store?: string;
}

function storeOf(options: CommonOptions) {
  return parseStoreUrl(options.store ?? process.env.ROLLOUT_STORE);
}

async function loadEtcdBackend<T>(code: 'E_LOCK_STORE' | 'E_STATE_STORE', load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new RolloutError(
      code,
      `the etcd client cannot be loaded (${why}): run \`npm install\` in fleet-rollout's folder, then try again`,
      { cause: error },
    );
  }
}

/**
 * The flags another command needs to reach the same store from the current directory, such as
 * ` --state-dir .rollout/demo` or ` --store etcd://10.0.0.5:2379`; empty for `./.rollout`.
 */
export function storeFlags(options: CommonOptions): string {
  const store = storeOf(options);
  if (store.kind === 'etcd') return ` --store etcd://${store.endpoints.join(',')}`;
  const absolute = resolve(options.stateDir);
  const nearby = relative(process.cwd(), absolute) || '.';
  if (nearby === '.rollout') return '';
  // A path that climbs out of the current directory reads better, and copies safer, from the root.
  const shown = nearby.startsWith('..') ? absolute : nearby;
  return ` --state-dir ${/\s/.test(shown) ? JSON.stringify(shown) : shown}`;
}

/** Where a command that writes keeps its state, as its first line on stderr says: `state: <dir>` or `store: etcd://…`. */
export function describeStore(options: CommonOptions): string {
  const store = storeOf(options);
  const stateDir = resolve(options.stateDir);
  if (store.kind !== 'etcd') return `state: ${stateDir}`;
  return `store: etcd://${store.endpoints.join(',')} (logs in ${join(stateDir, 'logs')})`;
}

/** The embedded lock store in the state dir, or etcd's; the etcd client is loaded only when it is asked for. */
export async function openLockStore(options: CommonOptions): Promise<LockStore> {
  const store = storeOf(options);
  if (store.kind !== 'etcd') return createEmbeddedLockStore({ dir: resolve(options.stateDir) });
  const { createEtcdLockStore } = await loadEtcdBackend('E_LOCK_STORE', () => import('../lock/etcd/store.js'));
  return createEtcdLockStore({ endpoints: store.endpoints });
}

/** The embedded state store in the state dir, or etcd's; the etcd client is loaded only when it is asked for. */
export async function openStateStore(options: CommonOptions): Promise<StateStore> {
  const store = storeOf(options);
  if (store.kind !== 'etcd') return createEmbeddedStateStore({ dir: resolve(options.stateDir) });
  const { createEtcdStateStore } = await loadEtcdBackend('E_STATE_STORE', () => import('../store/etcd/store.js'));
  return createEtcdStateStore({ endpoints: store.endpoints });
}

/** This process as the owner of a rollout: host, boot id, pid, and the user who started it. */
export function currentOwner(): RolloutOwner {
  const { host, bootId } = hostIdentity();
  let user = process.env.USER ?? '';
  if (user === '') {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return { host, bootId, pid: process.pid, user };
}

/** `user@host` of this process: who gave an operator command. */
export function operatorName(): string {
  const owner = currentOwner();
  return `${owner.user}@${owner.host}`;
}

export async function fileDigest(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** The token for the drones' agents: `--token-file`, else `$ROLLOUT_TOKEN`, else none. */
export async function readToken(tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile === undefined) {
    const token = process.env.ROLLOUT_TOKEN;
    return token === '' ? undefined : token;
  }
  return readTokenFile(tokenFile);
}

/** How many tokens an agent or the simulator accepts at once: the old one and the new one of a rotation. */
export const MAX_TOKENS = 2;

/**
 * The tokens an agent or the simulator accepts: one per `--token-file` (twice while the fleet's token is
 * rotated: the old file and the new one), else `$ROLLOUT_TOKEN`, else none.
 */
export async function readTokens(tokenFiles: readonly string[]): Promise<string[]> {
  if (tokenFiles.length > MAX_TOKENS) {
    throw new RolloutError(
      'E_USAGE',
      `--token-file given ${tokenFiles.length} times: an agent accepts ${MAX_TOKENS} tokens at once, the old one and the new one while the fleet's token is rotated; give it at most twice`,
    );
  }
  if (tokenFiles.length === 0) {
    const token = await readToken(undefined);
    return token === undefined ? [] : [token];
  }
  return Promise.all(tokenFiles.map(readTokenFile));
}

async function readTokenFile(tokenFile: string): Promise<string> {
  try {
    const token = (await readFile(tokenFile, 'utf8')).trim();
    if (token === '')
      throw new RolloutError('E_USAGE', `--token-file ${tokenFile} is empty: put the agents' bearer token in it`);
    return token;
  } catch (error) {
    if (error instanceof RolloutError) throw error;
    throw new RolloutError(
      'E_USAGE',
      `--token-file ${tokenFile} cannot be read (${(error as Error).message}): check the path`,
    );
  }
}

/** `--ca-file`, `--client-cert`, `--client-key` of the commands that talk to drones. */
export interface DroneTlsOptions {
  readonly caFile?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

/**
 * TLS to the drones: the spec's `fleet.tls` files, each replaced by its flag (relative to the cwd), read
 * and checked once, before anything is sent to a drone.
 */
export function readDroneTls(files: TlsFiles | undefined, options: DroneTlsOptions): Promise<DroneTls | undefined> {
  return loadDroneTls(files, {
    ...(options.caFile === undefined ? {} : { caFile: resolve(options.caFile) }),
    ...(options.clientCert === undefined ? {} : { clientCert: resolve(options.clientCert) }),
    ...(options.clientKey === undefined ? {} : { clientKey: resolve(options.clientKey) }),
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Whether to redraw progress in place: a terminal, and not CI. A stdout piped or redirected has no
 * `isTTY` at all, whatever the type of `process.stdout` says.
 */
export function isLiveTerminal(stream: { readonly isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.CI;
}
