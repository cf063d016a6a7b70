import { RolloutError } from '../../errors.js';

/**
 * How writes are cut to fit etcd's limits. With its defaults etcd refuses a txn with more than 128
 * operations in any of its lists (`--max-txn-ops`) and a request over 1.5 MiB (`--max-request-bytes`).
 */

/** Operations per txn list: etcd's default, so a cluster left at its defaults takes every batch. */
export const MAX_TXN_OPS = 128;

/** Keys and values per txn: 1 MiB, leaving a third of etcd's 1.5 MiB for compares and protobuf framing. */
export const MAX_TXN_BYTES = 1024 * 1024;

/** Framing of one put in the request (tags, lengths), counted against MAX_TXN_BYTES. */
const PUT_OVERHEAD_BYTES = 16;

/**
 * Audit events go into chunks of up to 64 KiB, so that a batch of 10,000 events is a handful of keys
 * and a page of chunks read back stays a few MiB.
 */
export const AUDIT_CHUNK_BYTES = 64 * 1024;

export interface Put {
  readonly key: Buffer;
  readonly value: Buffer;
}

function putBytes(put: Put): number {
  return put.key.length + put.value.length + PUT_OVERHEAD_BYTES;
}

/** Cuts `puts` into txns of at most `maxOps` puts and MAX_TXN_BYTES, in order. */
export function batchPuts<T extends Put>(puts: readonly T[], maxOps = MAX_TXN_OPS): T[][] {
  return pack(puts, putBytes, MAX_TXN_BYTES, maxOps, (put, size) => assertFits(put.key.toString(), size));
}

/** Groups lines (each ending in a newline) into chunks of at most `maxBytes`; a longer line is a chunk alone. */
export function chunkLines(lines: readonly string[], maxBytes = AUDIT_CHUNK_BYTES): string[][] {
  return pack(lines, (line) => Buffer.byteLength(line), maxBytes, Number.POSITIVE_INFINITY);
}

/**
 * Greedy, in order: a group is closed when the next item would take it past `maxBytes` or `maxCount`;
 * an item larger than `maxBytes` alone makes a group of one, unless `tooLarge` throws for it first.
 */
function pack<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxBytes: number,
  maxCount: number,
  tooLarge?: (item: T, size: number) => void,
): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (size > maxBytes) tooLarge?.(item, size);
    if (group.length > 0 && (group.length >= maxCount || bytes + size > maxBytes)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(item);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** One value etcd would refuse in any request: fails before anything is written. */
export function assertFits(what: string, bytes: number): void {
  if (bytes > MAX_TXN_BYTES) {
    throw new RolloutError(
      'E_STATE_STORE',
      `${what} is ${bytes} bytes, over the ${MAX_TXN_BYTES} bytes the etcd state store writes in one request; nothing was written`,
    );
  }
}
