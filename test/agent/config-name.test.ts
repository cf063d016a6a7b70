import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { assertConfigName } from '../../src/agent/config-name.js';
import { WireError } from '../../src/protocol/wire-errors.js';

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
    for (const name of ['aim_lock_config.conf', 'a', 'x'.repeat(255), 'zone-a.yaml', 'A-Z_0.9', 'trailing.'])
      expect(codeOf(name), name).toBeUndefined();
  });

  test('names with a separator, "..", a leading dot, nothing, or over 255 characters are refused', () => {
    for (const name of ['', '.', '..', '.hidden', 'a..b', 'a/b', 'a\\b', 'x'.repeat(256), 'nul\u0000byte']) {
      expect(codeOf(name), JSON.stringify(name)).toBe('invalid_config_name');
    }
  });

  test('names outside [A-Za-z0-9._-] are refused: a right-to-left override, a full-width dot, a space, non-ASCII letters', () => {
    for (const name of [
      'aim\u202Efnoc.exe',
      'aim\uFF0Econf',
      'aim lock.conf',
      ' ',
      'ünïcode.conf',
      'tab\tname',
      'a:b',
      'a*b',
    ]) {
      expect(codeOf(name), JSON.stringify(name)).toBe('invalid_config_name');
    }
  });

  test('the refusal names the rule and shows an invisible character by its code point', () => {
    expect(() => assertConfigName('aim\u202Efnoc.exe')).toThrow(/U\+202E.*A-Z a-z 0-9 \. _ -/u);
  });

  test('every accepted name is in the safe set, and every name in the safe set is accepted', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
        const safe = /^[A-Za-z0-9._-]{1,255}$/u.test(name) && !name.startsWith('.') && !name.includes('..');
        expect(codeOf(name) === undefined).toBe(safe);
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/u), (name) => {
        expect(codeOf(name) === undefined).toBe(!name.includes('..'));
      }),
    );
  });
});
