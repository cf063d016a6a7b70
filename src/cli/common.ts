import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Level } from 'pino';
import { RolloutError } from '../errors.js';
import { createEmbeddedLockStore } from '../lock/embedded-store.js';
import type { LockStore } from '../lock/types.js';

export type OutputFormat = 'text' | 'json';

/** Flags every command takes. */
export interface CommonOptions {
  /** Where locks, logs and rollout records live. @default '.rollout' */
  readonly stateDir: string;
  readonly output: OutputFormat;
  /** What reaches stderr. @default 'warn' */
  readonly logLevel: Level | 'silent';
}

export function openLockStore(options: CommonOptions): LockStore {
  return createEmbeddedLockStore({ dir: resolve(options.stateDir) });
}

/** The token for the drones' agents: `--token-file`, else `$ROLLOUT_TOKEN`, else none. */
export async function readToken(tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile === undefined) return process.env.ROLLOUT_TOKEN || undefined;
  try {
    const token = (await readFile(tokenFile, 'utf8')).trim();
    if (token === '') throw new RolloutError('E_USAGE', `--token-file ${tokenFile} is empty: put the agents' bearer token in it`);
    return token;
  } catch (error) {
    if (error instanceof RolloutError) throw error;
    throw new RolloutError('E_USAGE', `--token-file ${tokenFile} cannot be read (${(error as Error).message}): check the path`);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Whether to redraw progress in place: a terminal, and not CI. */
export function isLiveTerminal(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && !process.env.CI;
}
