import { describe, expect, it } from 'vitest';
import { describeHolder, formatDuration, formatLockTable } from '../../src/lock/describe.js';
import type { LockStatus } from '../../src/lock/types.js';

const acquiredAt = Date.parse('2026-11-26T10:00:00.250Z');
const held: LockStatus = {
  key: 'aim_lock_config.conf',
  owner: { host: 'ci-7', pid: 4123, rollout: 'aim-v43-x1y2', bootId: 'boot' },
  fence: 12,
  acquiredAt,
  heartbeatAt: acquiredAt + 60_000,
  ttlMs: 15_000,
  state: 'held',
};

describe('describeHolder', () => {
  it('names rollout, host, pid, start and heartbeat age', () => {
    expect(describeHolder(held, held.heartbeatAt + 3_240)).toBe(
      'held by rollout aim-v43-x1y2 (host ci-7, pid 4123) since 2026-11-26T10:00:00Z, heartbeat 3.2s ago',
    );
  });

  it('says why a lock is stale', () => {
    const stale: LockStatus = { ...held, state: 'stale', staleReason: 'owner_dead' };
    expect(describeHolder(stale, held.heartbeatAt + 1_000)).toMatch(
      /heartbeat 1\.0s ago; stale: its owner process is dead$/,
    );
  });

  it('does not hide a heartbeat from a clock that runs ahead', () => {
    expect(describeHolder(held, held.heartbeatAt - 2_000)).toMatch(/heartbeat 2\.0s in the future \(clock skew\)$/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0.0s'],
    [3_240, '3.2s'],
    [59_949, '59.9s'],
    [59_960, '0m59s'],
    [245_000, '4m05s'],
    [7_620_000, '2h07m'],
  ])('%i ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatLockTable', () => {
  it('lines the columns up under KEY OWNER FENCE ACQUIRED HEARTBEAT STATE', () => {
    const stale: LockStatus = {
      ...held,
      key: 'b.conf',
      fence: 3,
      owner: { ...held.owner, rollout: 'r2', pid: 7 },
      state: 'stale',
      staleReason: 'expired',
    };
    expect(formatLockTable([held, stale], held.heartbeatAt + 3_240).split('\n')).toEqual([
      'KEY                   OWNER                   FENCE  ACQUIRED              HEARTBEAT  STATE',
      'aim_lock_config.conf  aim-v43-x1y2@ci-7:4123  12     2026-11-26T10:00:00Z  3.2s ago   held',
      'b.conf                r2@ci-7:7               3      2026-11-26T10:00:00Z  3.2s ago   stale (expired)',
    ]);
  });

  it('is the header alone when nothing is locked', () => {
    expect(formatLockTable([], 0)).toBe('KEY  OWNER  FENCE  ACQUIRED  HEARTBEAT  STATE');
  });
});
