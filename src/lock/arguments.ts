import { assertNonEmptyString, assertNonNegativeInteger, assertPositiveInteger } from '../infra/argument-checks.js';
import type { AcquireOptions, Lease, LockOwner } from './types.js';

/** Argument checks shared by every lock backend: bad input fails at once and says what it received. */

export function assertKey(key: unknown): asserts key is string {
  assertNonEmptyString('key', key);
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
