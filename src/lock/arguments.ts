import type { AcquireOptions, Lease, LockOwner } from './types.js';

/** Argument checks shared by every lock backend: bad input fails at once and says what it received. */

function received(value: unknown): string {
  return `\`${typeof value === 'string' ? value : String(value)}\` (${typeof value})`;
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') {
    throw new TypeError(`Expected \`key\` to be a non-empty string, got ${received(key)}`);
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

export function assertOwner(owner: LockOwner): void {
  for (const field of ['host', 'rollout', 'bootId'] as const) {
    if (typeof owner[field] !== 'string' || owner[field] === '') {
      throw new TypeError(`Expected \`owner.${field}\` to be a non-empty string, got ${received(owner[field])}`);
    }
  }
  assertPositiveInteger('owner.pid', owner.pid);
}

export function assertAcquireOptions(options: AcquireOptions): void {
  assertPositiveInteger('ttlMs', options.ttlMs);
  assertNonNegativeInteger('waitMs', options.waitMs);
}

export function assertLease(lease: Lease): void {
  assertKey(lease.key);
  assertPositiveInteger('lease.fence', lease.fence);
  assertPositiveInteger('lease.ttlMs', lease.ttlMs);
  assertOwner(lease.owner);
}
