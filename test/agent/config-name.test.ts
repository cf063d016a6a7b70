import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { assertConfigName } from '../../src/agent/config-name.js';
import { WireError } from '../../src/agent/wire-errors.js';

const codeOf = (name: string): string | undefined => {
  try {
    assertConfigName(name);
    return undefined;
  } catch (error) {
    return error instanceof WireError ? error.code : 'not a WireError';
  }
};

describe('config names', () => {
  test('plain names pass', () => {
    for (const name of ['aim_lock_config.conf', 'a', 'x'.repeat(255), 'zone-a.yaml', 'ünïcode.conf']) expect(codeOf(name), name).toBeUndefined();
  });

  test('names with a separator, "..", a leading dot, nothing, or over 255 bytes are refused', () => {
    for (const name of ['', '.hidden', '..', 'a..b', 'a/b', 'a\\b', 'x'.repeat(256), 'é'.repeat(128), 'nul\u0000byte']) {
      expect(codeOf(name), JSON.stringify(name)).toBe('invalid_config_name');
    }
  });

  test('no accepted name can leave the config dir or hide in it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
        if (codeOf(name) !== undefined) return;
        expect(name.includes('/') || name.includes('\\') || name.includes('..') || name.startsWith('.') || name === '').toBe(false);
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      }),
    );
  });
});
