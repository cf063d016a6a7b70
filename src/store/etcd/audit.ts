import type { IKeyValue, IRequestOp } from 'etcd3';
import { z } from 'zod';
import { batchPuts, chunkLines, MAX_TXN_OPS, type Put } from './batches.js';
import type { EtcdStoreClient } from './client.js';
import { auditChunkKey, recordExists, type RolloutKeys } from './keys.js';
import { corruptKey, decodeJson, decodeKv } from './values.js';
import { auditEventSchema } from '../record-schemas.js';
import type { AuditEvent } from '../types.js';

/**
 * The audit log in etcd: events in chunks of up to 64 KiB (one JSON per line) under
 * `audit/<seq of the chunk's first event>`, and `audit-next`, the seq the next event gets. A txn adds
 * chunks and raises `audit-next` past them only if `audit-next` is unchanged since it was read, so two
 * writers never number two events alike, and a reader always sees a prefix of the log.
 */

/** `audit-next` as a writer last saw it; absent in etcd it is `NO_COUNTER`. */
export interface AuditCounter {
  readonly next: number;
  readonly modRevision: string;
}

export const NO_COUNTER: AuditCounter = { next: 0, modRevision: '0' };

export interface AuditChunk extends Put {
  /** How many events the chunk holds, so how far it moves the counter. */
  readonly events: number;
}

const counterSchema = z.number().int().nonnegative();

/** A batch cut into chunks, and the chunks into txns (up to 127 chunks and 1 MiB; the counter's put is the 128th op). */
export function auditTxns(keys: RolloutKeys, events: readonly AuditEvent[]): AuditChunk[][] {
  const chunks = chunkLines(events.map((event) => `${JSON.stringify(event)}\n`)).map((lines) => ({
    // Any seq has as many digits as seq 0, so this key sizes the put exactly; the seq is set at write time.
    key: auditChunkKey(keys, 0),
    value: Buffer.from(lines.join('')),
    events: lines.length,
  }));
  return batchPuts(chunks, MAX_TXN_OPS - 1);
}

/**
 * Writes one txn of chunks numbered from `counter`, renumbering from what another writer left whenever
 * the counter moved. Resolves to the counter after the write, or to undefined if the rollout has no record.
 * If the first seq is taken although the counter says it is free (the counter was reset by hand), it
 * writes nothing and fails naming the counter: the log is never overwritten.
 */
export async function appendAuditChunks(
  etcd: EtcdStoreClient,
  keys: RolloutKeys,
  start: AuditCounter,
  chunks: readonly AuditChunk[],
): Promise<AuditCounter | undefined> {
  let counter = start;
  for (let attempt = 1; ; attempt += 1) {
    const puts: IRequestOp[] = [];
    let seq = counter.next;
    for (const chunk of chunks) {
      puts.push({ request_put: { key: auditChunkKey(keys, seq), value: chunk.value } });
      seq += chunk.events;
    }
    const first = auditChunkKey(keys, counter.next);
    const answer = await etcd.kv.txn({
      compare: [
        recordExists(keys),
        { key: keys.auditNext, target: 'Mod', result: 'Equal', mod_revision: counter.modRevision },
        { key: first, target: 'Create', result: 'Equal', create_revision: 0 },
      ],
      success: [...puts, { request_put: { key: keys.auditNext, value: Buffer.from(String(seq)) } }],
      failure: [
        { request_range: { key: keys.record, keys_only: true } },
        { request_range: { key: keys.auditNext } },
        { request_range: { key: first, keys_only: true } },
      ],
    });
    if (answer.succeeded) {
      return { next: seq, modRevision: answer.header.revision };
    }
    const [record, seen, taken] = answer.responses.map((response) => response.response_range.kvs[0]);
    if (record === undefined) {
      return undefined;
    }
    const current =
      seen === undefined ? NO_COUNTER : { next: decodeKv(counterSchema, seen), modRevision: seen.mod_revision };
    if (current.modRevision === counter.modRevision && taken !== undefined) {
      throw corruptKey(
        keys.auditNext.toString(),
        `it says the next audit event is ${counter.next}, but ${first.toString()} exists`,
      );
    }
    counter = current;
    await etcd.backOff(attempt, keys.auditNext);
  }
}

/** The events of the chunks read back, in order; a bad line fails naming `key:line`. */
export function decodeAuditChunks(kvs: readonly IKeyValue[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const kv of kvs) {
    const key = kv.key.toString();
    const lines = kv.value.toString().split('\n');
    // Every event ends with a newline: the last piece is empty.
    lines.pop();
    lines.forEach((line, index) => events.push(decodeJson(auditEventSchema, line, `${key}:${index + 1}`)));
  }
  return events;
}
