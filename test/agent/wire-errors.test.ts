import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lockMismatch, staleFence, WIRE_ERRORS, WireError } from '../../src/protocol/wire-errors.js';

/** The drone side: the real agent, and the simulator that serves the same protocol for many drones. */
const SOURCE_DIRS = ['agent', 'simulator'].map((folder) => join(import.meta.dirname, '..', '..', 'src', folder));

/** The helpers that build a registry error, by the code they raise. */
const HELPERS = { lockMismatch: 'lock_mismatch', staleFence: 'stale_fence' } as const;

/** Every wire code the drone side's source can raise: `new WireError('<code>'` and the 409 helpers. */
async function emittedCodes(): Promise<Set<string>> {
  const codes = new Set<string>();
  for (const dir of SOURCE_DIRS) {
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.ts')) continue;
      const source = await readFile(join(dir, name), 'utf8');
      for (const match of source.matchAll(/new WireError\(\s*'([a-z_]+)'/gu)) codes.add(match[1] ?? '');
      for (const [helper, code] of Object.entries(HELPERS))
        if (new RegExp(`\\b${helper}\\(`, 'u').test(source)) codes.add(code);
    }
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

    expect([error.status, error.toBody()]).toEqual([
      404,
      { error: 'unknown_config', message: 'drone-1 has no config named x' },
    ]);
  });

  test("the HOT 409 body reads in the contract's order, the reason after it", () => {
    const body = lockMismatch('aim_lock_config.conf', { pid: 7, host: 'h', rollout: 'r-9' }).toBody();

    expect(JSON.stringify(body)).toBe(
      '{"error":"lock_mismatch","file":"aim_lock_config.conf","lock":"HOT","message":"lock mismatch: aim_lock_config.conf HOT","reason":"held","holder":{"pid":7,"host":"h","rollout":"r-9"}}',
    );
  });

  test("a stale fence is its own 409 in the contract's order, never HOT", () => {
    const error = staleFence('aim_lock_config.conf', 7, 9);

    expect(error.status).toBe(409);
    expect(JSON.stringify(error.toBody())).toBe(
      '{"error":"stale_fence","file":"aim_lock_config.conf","highestFence":9,"message":"stale fence 7 for aim_lock_config.conf: this drone has accepted fence 9; another rollout has taken the config lock since","fence":7}',
    );
  });
});
