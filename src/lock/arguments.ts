import type { AcquireOptions, Lease, LockOwner } from './types.js';

/** Argument checks shared by every lock backend: bad input fails at once and says what it received. */

function received(value: unknown): string {
  return `\`${String(value)}\` (${typeof value})`;
}

export function assertNonEmptyString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${received(value)}`);
  }
}

export function assertKey(key: unknown): asserts key is string {
  assertNonEmptyString('key', key);
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

export function assertOwner(owner: LockOwner): void {
  for (const field of ['host', 'rollout', 'bootId'] as const) {
    assertNonEmptyString(`owner.${field}`, owner[field]);
  }
  assertPositiveInteger('owner.pid', owner.pid);
}

export function assertAcquireOptions(options: AcquireOptions): void {
  assertPositiveInteger('ttlMs', options.ttlMs);
  assertNonNegativeInteger('waitMs', options.waitMs);
  if (options.minFence !== undefined) {
    assertNonNegativeInteger('minFence', options.minFence);
  }
}

export function assertLease(lease: Lease): void {
  assertKey(lease.key);
  assertPositiveInteger('lease.fence', lease.fence);
  assertPositiveInteger('lease.ttlMs', lease.ttlMs);
  assertOwner(lease.owner);
}
