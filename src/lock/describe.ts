import type { LockStatus, StaleReason } from './types.js';

/** Human wording of the lock table for CLI messages and `rollout lock ls`. */

const STALE_WORDING: Record<StaleReason, string> = {
  rebooted: 'its host rebooted',
  owner_dead: 'its owner process is dead',
  expired: 'its lease expired',
};

/** `held by rollout aim-v43-x1y2 (host ci-7, pid 4123) since 2026-11-26T10:00:00Z, heartbeat 3.2s ago` */
export function describeHolder(status: LockStatus, now: number): string {
  const { owner } = status;
  const holder =
    `held by rollout ${owner.rollout} (host ${owner.host}, pid ${owner.pid}) since ` +
    `${formatInstant(status.acquiredAt)}, heartbeat ${formatHeartbeat(status.heartbeatAt, now)}`;
  return status.staleReason === undefined ? holder : `${holder}; stale: ${STALE_WORDING[status.staleReason]}`;
}

/** A text table with the columns KEY OWNER FENCE ACQUIRED HEARTBEAT STATE, one line per lock. */
export function formatLockTable(statuses: readonly LockStatus[], now: number): string {
  const header = ['KEY', 'OWNER', 'FENCE', 'ACQUIRED', 'HEARTBEAT', 'STATE'];
  const rows = statuses.map((status) => [
    status.key,
    `${status.owner.rollout}@${status.owner.host}:${status.owner.pid}`,
    String(status.fence),
    formatInstant(status.acquiredAt),
    formatHeartbeat(status.heartbeatAt, now),
    status.staleReason === undefined ? status.state : `${status.state} (${status.staleReason})`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  return [header, ...rows]
    .map((cells) =>
      cells
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** ISO 8601 to the second: milliseconds are noise to an operator reading the table. */
function formatInstant(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `3.2s`, `4m05s`, `2h07m`. */
export function formatDuration(ms: number): string {
  // Below 59.95 s, or one decimal would round up to a misleading `60.0s`.
  if (ms < 59_950) {
    return `${(ms / 1000).toFixed(1)}s`;
  }
  const wholeSeconds = Math.floor(ms / 1000);
  if (wholeSeconds < 3600) {
    return `${Math.floor(wholeSeconds / 60)}m${String(wholeSeconds % 60).padStart(2, '0')}s`;
  }
  return `${Math.floor(wholeSeconds / 3600)}h${String(Math.floor((wholeSeconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** Another host's clock can run ahead of ours, so a heartbeat may sit in the future; say so rather than hide it. */
function formatHeartbeat(heartbeatAt: number, now: number): string {
  const age = now - heartbeatAt;
  return age >= 0 ? `${formatDuration(age)} ago` : `${formatDuration(-age)} in the future (clock skew)`;
}
