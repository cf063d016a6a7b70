import type { LockOwner, LockRecord, LockStatus, StaleReason } from './types.js';

/** What a store knows about the machine it runs on, to judge whether a lock's owner is still there. */
export interface HostView {
  readonly now: number;
  readonly host: string;
  readonly bootId: string;
  readonly isPidAlive: (pid: number) => boolean;
}

/**
 * Why a lock is stale, or undefined while it is held. Boot id and pid can be checked only for an owner on
 * this host; an owner elsewhere is judged by its heartbeat alone.
 */
export function staleReason(record: LockRecord, view: HostView): StaleReason | undefined {
  if (record.owner.host === view.host) {
    if (record.owner.bootId !== view.bootId) {
      return 'rebooted';
    }
    if (!view.isPidAlive(record.owner.pid)) {
      return 'owner_dead';
    }
  }
  return view.now - record.heartbeatAt > record.ttlMs ? 'expired' : undefined;
}

export function lockStatus(record: LockRecord, view: HostView): LockStatus {
  const reason = staleReason(record, view);
  return reason === undefined ? { ...record, state: 'held' } : { ...record, state: 'stale', staleReason: reason };
}

/** The same process of the same rollout: it may take its own live lease over (a retried acquire). */
export function isSameProcess(a: LockOwner, b: LockOwner): boolean {
  return a.host === b.host && a.bootId === b.bootId && a.pid === b.pid && a.rollout === b.rollout;
}
