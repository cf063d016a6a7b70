import { z } from 'zod';
import { RolloutError } from '../../errors.js';
import type { LockRecord } from '../types.js';

/**
 * The embedded store's whole state. Fences live apart from the locks so that releasing or reclaiming a
 * lock never forgets the highest fence handed out for its key.
 */
export interface LockTable {
  readonly fences: Map<string, number>;
  readonly locks: Map<string, LockRecord>;
}

const TABLE_VERSION = 1;

const epochMs = z.number().int().nonnegative();

const recordSchema = z.object({
  key: z.string().min(1),
  owner: z.object({
    host: z.string().min(1),
    pid: z.number().int().positive(),
    rollout: z.string().min(1),
    bootId: z.string().min(1),
  }),
  fence: z.number().int().positive(),
  acquiredAt: epochMs,
  heartbeatAt: epochMs,
  ttlMs: z.number().int().positive(),
});

const tableSchema = z.object({
  version: z.literal(TABLE_VERSION),
  fences: z.record(z.string(), z.number().int().nonnegative()),
  locks: z.record(z.string(), recordSchema),
});

export function emptyLockTable(): LockTable {
  return { fences: new Map(), locks: new Map() };
}

export function parseLockTable(text: string, file: string): LockTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corruptTable(file, `not valid JSON (${(error as Error).message})`, error);
  }
  const parsed = tableSchema.safeParse(json);
  if (!parsed.success) {
    throw corruptTable(file, z.prettifyError(parsed.error).replaceAll('\n', '; '), parsed.error);
  }
  const locks = new Map<string, LockRecord>();
  for (const [key, record] of Object.entries(parsed.data.locks)) {
    if (record.key !== key) {
      throw corruptTable(file, `the lock under "${key}" names key "${record.key}"`);
    }
    locks.set(key, record);
  }
  return { fences: new Map(Object.entries(parsed.data.fences)), locks };
}

export function serializeLockTable(table: LockTable): string {
  const byKey = <T>(map: Map<string, T>): Record<string, T> =>
    Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify({ version: TABLE_VERSION, fences: byKey(table.fences), locks: byKey(table.locks) }, null, 2)}\n`;
}

/**
 * The largest fence handed out for `key`. The record's own fence counts too, so a table edited by hand (a
 * fence counter removed or lowered) can still never hand out a fence that was already used.
 */
export function highestFence(table: LockTable, key: string): number {
  return Math.max(table.fences.get(key) ?? 0, table.locks.get(key)?.fence ?? 0);
}

/** The fence for the next acquisition of `key`: above every one handed out, and at least `minFence`. */
export function nextFence(table: LockTable, key: string, minFence: number): number {
  return Math.max(highestFence(table, key) + 1, minFence);
}

function corruptTable(file: string, detail: string, cause?: unknown): RolloutError {
  return new RolloutError(
    'E_LOCK_STORE',
    `Lock table ${file} is corrupt: ${detail}. Nothing was changed. If no rollout is running from this state ` +
      `dir, move the file aside (mv ${file} ${file}.corrupt) and run again: the table then starts empty and ` +
      "each rollout's fence starts above the highest its paused fleet reports; the old file keeps the last fences.",
    cause === undefined ? undefined : { cause },
  );
}
