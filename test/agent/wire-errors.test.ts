import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lockMismatch, WIRE_ERRORS, WireError } from '../../src/agent/wire-errors.js';

const SOURCE_DIR = join(import.meta.dirname, '..', '..', 'src', 'agent');

/** Every wire code the agent's source can raise: `new WireError('<code>'` and the 409 helper. */
async function emittedCodes(): Promise<Set<string>> {
  const codes = new Set<string>();
  for (const name of await readdir(SOURCE_DIR)) {
    if (!name.endsWith('.ts')) continue;
    const source = await readFile(join(SOURCE_DIR, name), 'utf8');
    for (const match of source.matchAll(/new WireError\(\s*'([a-z_]+)'/gu)) codes.add(match[1] ?? '');
    if (/\blockMismatch\(/u.test(source) && name !== 'wire-errors.ts') codes.add('lock_mismatch');
  }
  return codes;
}

describe('wire error registry', () => {
  test('lists exactly the codes the server emits', async () => {
    expect([...(await emittedCodes())].sort()).toEqual(Object.keys(WIRE_ERRORS).sort());
  });

  test('gives every code a 4xx or 5xx status and a meaning', () => {
    for (const [code, { status, meaning }] of Object.entries(WIRE_ERRORS)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(meaning.length, code).toBeGreaterThan(10);
    }
  });

  test('an error body is {"error","message"} with the registry status', () => {
    const error = new WireError('unknown_config', 'drone-1 has no config named x');

    expect([error.status, error.toBody()]).toEqual([404, { error: 'unknown_config', message: 'drone-1 has no config named x' }]);
  });

  test('the 409 body reads in the contract\'s order, the reason after it', () => {
    const body = lockMismatch('aim_lock_config.conf', { reason: 'stale_fence', fence: 1, highestFence: 2 }).toBody();

    expect(JSON.stringify(body)).toBe(
      '{"error":"lock_mismatch","file":"aim_lock_config.conf","lock":"HOT","message":"lock mismatch: aim_lock_config.conf HOT","reason":"stale_fence","fence":1,"highestFence":2}',
    );
  });
});
