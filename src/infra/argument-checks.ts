/** Argument checks shared by the backends: bad input fails at once and says what it received. */

function received(value: unknown): string {
  return `\`${String(value)}\` (${typeof value})`;
}

export function assertNonEmptyString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${received(value)}`);
  }
}

export function assertPositiveInteger(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`Expected \`${name}\` to be an integer from 1 and up, got ${received(value)}`);
  }
}

export function assertNonNegativeInteger(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`Expected \`${name}\` to be an integer from 0 and up, got ${received(value)}`);
  }
}
