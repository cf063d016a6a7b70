import { describe, expect, it } from 'vitest';
import {
  argumentError,
  assertNonEmptyString,
  assertNonNegativeInteger,
  assertPositiveInteger,
  expectInteger,
  expectNonEmptyString,
} from '../../src/infra/argument-checks.js';

describe("the backends' checks", () => {
  it('say what they got, a string as is', () => {
    expect(() => assertNonEmptyString('key', '')).toThrow(
      new TypeError('Expected `key` to be a non-empty string, got `` (string)'),
    );
    expect(() => assertNonEmptyString('key', 7)).toThrow(
      new TypeError('Expected `key` to be a non-empty string, got `7` (number)'),
    );
    expect(() => assertPositiveInteger('ttlMs', 0)).toThrow(
      new TypeError('Expected `ttlMs` to be an integer from 1 and up, got `0` (number)'),
    );
    expect(() => assertPositiveInteger('ttlMs', '5')).toThrow(
      new TypeError('Expected `ttlMs` to be an integer from 1 and up, got `5` (string)'),
    );
    expect(() => assertNonNegativeInteger('waitMs', -1)).toThrow(
      new TypeError('Expected `waitMs` to be an integer from 0 and up, got `-1` (number)'),
    );
    expect(argumentError('now', 'a function', 3)).toEqual(
      new TypeError('Expected `now` to be a function, got `3` (number)'),
    );
  });

  it('pass what is right', () => {
    expect(() => assertNonEmptyString('key', 'a')).not.toThrow();
    expect(() => assertPositiveInteger('ttlMs', 1)).not.toThrow();
    expect(() => assertNonNegativeInteger('waitMs', 0)).not.toThrow();
  });
});

describe('the option checks of the agent and the simulator', () => {
  it('say what they got, a string quoted', () => {
    expect(() => expectNonEmptyString('id', '')).toThrow(
      new TypeError('Expected `id` to be a non-empty string, got `""` (string)'),
    );
    expect(() => expectInteger('concurrency', 0, 1)).toThrow(
      new TypeError('Expected `concurrency` to be an integer from 1 and up, got `0` (number)'),
    );
    expect(() => expectInteger('port', 70_000, 0, 65_535)).toThrow(
      new TypeError('Expected `port` to be an integer from 0 to 65535, got `70000` (number)'),
    );
    expect(() => expectInteger('port', 1.5, 0, 65_535)).toThrow(
      new TypeError('Expected `port` to be an integer from 0 to 65535, got `1.5` (number)'),
    );
  });

  it('take the bounds as inclusive', () => {
    expect(() => expectInteger('port', 0, 0, 65_535)).not.toThrow();
    expect(() => expectInteger('port', 65_535, 0, 65_535)).not.toThrow();
    expect(() => expectInteger('clockOffsetMs', -5, Number.MIN_SAFE_INTEGER)).not.toThrow();
  });
});
