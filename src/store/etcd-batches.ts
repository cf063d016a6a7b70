import { RolloutError } from '../errors.js';

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

export function putBytes(put: Put): number {
  return put.key.length + put.value.length + PUT_OVERHEAD_BYTES;
}

/** Cuts `puts` into txns of at most `maxOps` puts and MAX_TXN_BYTES, in order. */
export function batchPuts<T extends Put>(puts: readonly T[], maxOps = MAX_TXN_OPS): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const put of puts) {
    const size = putBytes(put);
    assertFits(put.key.toString(), size);
    if (batch.length > 0 && (batch.length >= maxOps || bytes + size > MAX_TXN_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(put);
    bytes += size;
  }
  if (batch.length > 0) {
    batches.push(batch);
  }
  return batches;
}

/** Groups lines (each ending in a newline) into chunks of at most `maxBytes`; a longer line is a chunk alone. */
export function chunkLines(lines: readonly string[], maxBytes = AUDIT_CHUNK_BYTES): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line);
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(line);
    bytes += size;
  }
  if (chunk.length > 0) {
    chunks.push(chunk);
  }
  return chunks;
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
