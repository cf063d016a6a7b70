import type { ConfigMeta } from './config-store.js';
import { lateFence, staleFence } from '../protocol/wire-errors.js';

/**
 * A drone's bar for one config: the highest fence of a write it accepted and acted on, and the rollout
 * that sent it. Lock stores hand each fence to one rollout, so an equal fence from another rollout is
 * as stale as a lower one.
 */

/** The rollout whose write set the bar, or null when nothing says. */
export function fenceOwnerOf(meta: ConfigMeta | undefined): string | null {
  if (meta === undefined) return null;
  if (meta.fenceOwner !== null) return meta.fenceOwner;
  // Metadata written before fences had owners: the installer's fence, when it is the bar, tells whose it is.
  return meta.installedBy?.fence === meta.highestFence ? meta.installedBy.rollout : null;
}

/** Throws 409 `stale_fence` unless `fence` is above the bar, or equal to it from the rollout that set it. */
export function assertFreshFence(file: string, rollout: string, fence: number, meta: ConfigMeta | undefined): void {
  const highestFence = meta?.highestFence ?? 0;
  const retired = meta?.retired;
  // A write of a rollout that has since rolled this file back with a fence at least as high: a late one.
  if (retired?.rollout === rollout && fence <= retired.fence)
    throw lateFence(file, fence, highestFence, rollout, retired.fence);
  if (fence > highestFence) return;
  const owner = fenceOwnerOf(meta);
  if (fence === highestFence && (owner === null || owner === rollout)) return;
  throw staleFence(file, fence, highestFence, owner ?? undefined);
}
