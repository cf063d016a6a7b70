import type { IKeyValue, IRequestOp } from 'etcd3';
import { z } from 'zod';
import { rangeEnd } from '../../infra/etcd-shared.js';
import { chainEvent, chainStart, headAfter, type ChainHead } from '../audit-chain.js';
import { batchPuts, chunkLines, MAX_TXN_BYTES, MAX_TXN_OPS } from './batches.js';
import type { EtcdStoreClient } from './client.js';
import { auditChunkKey, recordExists, type RolloutKeys } from './keys.js';
import { corruptKey, decodeJson, decodeKv } from './values.js';
import { auditEventSchema } from '../record-schemas.js';
import type { AuditEvent, AuditLine } from '../types.js';

/**
 * The audit log in etcd: events in chunks of up to 64 KiB (one JSON per line) under
 * `audit/<seq of the chunk's first event>`, and `audit-next`, the seq the next event gets. A txn adds
 * chunks and raises `audit-next` past them only if `audit-next` is unchanged since it was read, so two
 * writers never number two events alike, and a reader always sees a prefix of the log. Each event is
 * chained to the one before it (audit-chain.ts): a writer that finds the counter moved reads the last
 * event anew and chains its events on from there.
 */

/** `audit-next` as a writer last saw it, and the `prev` the next event gets (the hash of the last one). */
export interface AuditCounter {
  readonly next: number;
  readonly modRevision: string;
  readonly prev: string;
}

/** The counter of a log with nothing in it yet: what a writer assumes until etcd says otherwise. */
export function emptyCounter(keys: RolloutKeys): AuditCounter {
  return { next: 0, modRevision: '0', prev: chainStart(keys.id).prev };
}

const counterSchema = z.number().int().nonnegative();

/** The next txn's worth of `events` from `from`, chained on from `counter`. */
function nextTxn(
  keys: RolloutKeys,
  counter: AuditCounter,
  events: readonly AuditEvent[],
  from: number,
): { readonly puts: IRequestOp[]; readonly events: number; readonly after: ChainHead } {
  // Chains only about as many events as one txn holds; the rest may need another head.
  const lines: string[] = [];
  const heads: ChainHead[] = [];
  let head: ChainHead = { seq: counter.next, prev: counter.prev };
  let bytes = 0;
  for (let index = from; index < events.length && bytes <= MAX_TXN_BYTES; index += 1) {
    const chained = chainEvent(events[index] as AuditEvent, head);
    lines.push(chained.line);
    heads.push(chained.next);
    head = chained.next;
    bytes += Buffer.byteLength(chained.line);
  }
  let seq = counter.next;
  const chunks = chunkLines(lines).map((chunk) => {
    const put = { key: auditChunkKey(keys, seq), value: Buffer.from(chunk.join('')), events: chunk.length };
    seq += chunk.length;
    return put;
  });
  // Up to 127 chunks and 1 MiB: the counter's put is the 128th op.
  const txn = batchPuts(chunks, MAX_TXN_OPS - 1)[0] ?? [];
  const written = txn.reduce((sum, chunk) => sum + chunk.events, 0);
  return {
    puts: txn.map((chunk) => ({ request_put: { key: chunk.key, value: chunk.value } })),
    events: written,
    after: heads[written - 1] ?? { seq: counter.next, prev: counter.prev },
  };
}

/**
 * Writes one txn of `events` from `from` on, chained on from `counter`, chaining them again from what
 * another writer left whenever the counter moved. Resolves to the counter after the write and how many
 * events it wrote, or to undefined if the rollout has no record. If the first seq is taken although the
 * counter says it is free (the counter was reset by hand), it writes nothing and fails naming the
 * counter: the log is never overwritten.
 */
export async function appendAuditTxn(
  etcd: EtcdStoreClient,
  keys: RolloutKeys,
  start: AuditCounter,
  events: readonly AuditEvent[],
  from: number,
): Promise<{ readonly counter: AuditCounter; readonly events: number } | undefined> {
  const prefix = Buffer.from(keys.audit);
  let counter = start;
  for (let attempt = 1; ; attempt += 1) {
    const txn = nextTxn(keys, counter, events, from);
    const first = auditChunkKey(keys, counter.next);
    const answer = await etcd.kv.txn({
      compare: [
        recordExists(keys),
        { key: keys.auditNext, target: 'Mod', result: 'Equal', mod_revision: counter.modRevision },
        { key: first, target: 'Create', result: 'Equal', create_revision: 0 },
      ],
      success: [...txn.puts, { request_put: { key: keys.auditNext, value: Buffer.from(String(txn.after.seq)) } }],
      failure: [
        { request_range: { key: keys.record, keys_only: true } },
        { request_range: { key: keys.auditNext } },
        { request_range: { key: first, keys_only: true } },
        // The last chunk, for the hash of the last event.
        {
          request_range: {
            key: prefix,
            range_end: rangeEnd(prefix),
            sort_order: 'Descend',
            sort_target: 'Key',
            limit: 1,
          },
        },
      ],
    });
    if (answer.succeeded) {
      return {
        counter: { next: txn.after.seq, prev: txn.after.prev, modRevision: answer.header.revision },
        events: txn.events,
      };
    }
    const [record, seen, taken, last] = answer.responses.map((response) => response.response_range.kvs[0]);
    if (record === undefined) {
      return undefined;
    }
    const next = seen === undefined ? 0 : decodeKv(counterSchema, seen);
    const modRevision = seen === undefined ? '0' : seen.mod_revision;
    if (modRevision === counter.modRevision && taken !== undefined) {
      throw corruptKey(
        keys.auditNext.toString(),
        `it says the next audit event is ${counter.next}, but ${first.toString()} exists`,
      );
    }
    counter = { next, modRevision, prev: last === undefined ? emptyCounter(keys).prev : await prevAfter(last, next) };
    await etcd.backOff(attempt, keys.auditNext);
  }
}

/** The `prev` of the event after the last one in chunk `kv`. */
async function prevAfter(kv: IKeyValue, next: number): Promise<string> {
  const lines = chunkLinesOf(kv);
  const last = lines.at(-1) ?? '';
  // The seq is the counter's, which numbers the keys; only the hash is taken from the event.
  const head = await headAfter(last, () => next);
  if ('problem' in head) {
    throw corruptKey(
      `${kv.key.toString()}:${lines.length}`,
      `${head.problem}; audit events cannot be appended after it`,
    );
  }
  return head.prev;
}

/** The lines of one chunk, without their newlines. */
function chunkLinesOf(kv: IKeyValue): string[] {
  const lines = kv.value.toString().split('\n');
  // Every event ends with a newline: the last piece is empty.
  lines.pop();
  return lines;
}

/** The lines of the chunks read back, in order, numbered from 1 across chunks. */
export function auditLinesOf(kvs: readonly IKeyValue[]): AuditLine[] {
  return kvs.flatMap(chunkLinesOf).map((text, index) => ({ number: index + 1, text }));
}

/** The events of the chunks read back, in order; a bad line fails naming `key:line`. */
export function decodeAuditChunks(kvs: readonly IKeyValue[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const kv of kvs) {
    const key = kv.key.toString();
    chunkLinesOf(kv).forEach((line, index) => events.push(decodeJson(auditEventSchema, line, `${key}:${index + 1}`)));
  }
  return events;
}
