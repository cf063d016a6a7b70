import { describe, expect, it } from 'vitest';
import { isPid, isPidAlive } from '../../src/infra/process.js';

describe('isPid', () => {
  it.each([1, process.pid, 2 ** 31 - 1])('takes %s', (value) => {
    expect(isPid(value)).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])(
    'refuses %s, which names no single process',
    (value) => {
      expect(isPid(value)).toBe(false);
    },
  );
});

describe('isPidAlive', () => {
  it('refuses a number above what kill(2) takes, as it refuses a process group', () => {
    expect(() => isPidAlive(2 ** 31)).toThrow(
      new TypeError('Expected `pid` to be a positive integer, got `2147483648` (number)'),
    );
    expect(() => isPidAlive(0)).toThrow(new TypeError('Expected `pid` to be a positive integer, got `0` (number)'));
  });
});
