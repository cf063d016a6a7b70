import { createHash } from 'node:crypto';

/** Lowercase hex sha256 of a config's bytes (strings are hashed as UTF-8, as they are written). */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The version label of content the agent did not install itself: the first 12 hex digits of its sha256. */
export function unmanagedVersion(sha256: string): string {
  return sha256.slice(0, 12);
}
