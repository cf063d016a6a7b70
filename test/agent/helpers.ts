import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { sha256Hex } from '../../src/agent/checksum.js';

/** A pino logger writing NDJSON into memory, each line parsed, so tests can assert what was logged. */
export function memoryLogger(): { readonly logger: Logger; readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Temp dirs removed by `cleanup()` (call it in afterEach). */
export function tempDirs(): { readonly make: () => Promise<string>; readonly cleanup: () => Promise<void> } {
  const made: string[] = [];
  return {
    make: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'agent-test-'));
      made.push(dir);
      return dir;
    },
    cleanup: async () => {
      await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

export interface JsonReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export const GOOD_CONFIG = '# aim lock config\naim_sensitivity = 0.85\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
export const BAD_CONFIG = '# aim lock config\naim_sensitivity = 1.60\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
export const FILE = 'aim_lock_config.conf';

export function pushBody(
  content: string,
  fields: { rollout?: string; version?: string; fence?: number } = {},
): Record<string, unknown> {
  return {
    rollout: fields.rollout ?? 'r-1',
    version: fields.version ?? 'v43',
    sha256: sha256Hex(content),
    fence: fields.fence ?? 1,
    content,
  };
}

/** Who holds a drone's local lock, as its 409 HOT answer names it. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly rollout: string;
}

/** The 409 body of a push or rollback to FILE that a live `holder` of the drone's local lock refuses: HOT. */
export function hotBody(holder: LockHolder): Record<string, unknown> {
  return {
    error: 'lock_mismatch',
    file: FILE,
    lock: 'HOT',
    message: `lock mismatch: ${FILE} HOT`,
    reason: 'held',
    holder,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

export const INITIAL_CONFIG =
  '# aim lock config\naim_sensitivity = 0.80\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';
