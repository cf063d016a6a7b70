import { setTimeout as delay } from 'node:timers/promises';
import { Etcd3, GRPCUnavailableError, type IKeyValue, type IOptions, type IRangeRequest } from 'etcd3';
import { RolloutError } from '../../errors.js';
import { etcdFailure, PASS_THROUGH, rangeEnd } from '../../infra/etcd-shared.js';

type GlobalPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * etcd3 retries every "recoverable" error three times by default, deadline exceeded included: a txn that
 * etcd applied but answered too late would be sent again, and an audit batch written twice or a command
 * taken and then reported lost. Only "unavailable" is retried (as a rule no connection to that endpoint,
 * so the request never reached etcd), each attempt on the next endpoint; anything else fails the call
 * with E_STATE_STORE.
 */
const ATTEMPTS = 3;
const RETRY_UNAVAILABLE = {
  execute: async (call: (context: { signal: AbortSignal; attempt: number }) => unknown) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call({ signal: new AbortController().signal, attempt });
      } catch (error) {
        if (attempt >= ATTEMPTS || !(error instanceof GRPCUnavailableError)) {
          throw error;
        }
      }
    }
  },
} as unknown as GlobalPolicy;

/**
 * Answers can be larger than grpc's default 4 MiB (a page of audit chunks); requests stay under etcd's
 * 1.5 MiB because the store batches them (see batches.ts).
 */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

const CAS_ATTEMPTS = 100;

/** One etcd client for the state store, and the way its failures read to an operator. */
export class EtcdStoreClient {
  readonly client: Etcd3;
  /** `host:port,host:port`, as `--store etcd://` names them. */
  readonly endpoints: string;

  constructor(endpoints: readonly string[], requestTimeoutMs: number) {
    this.endpoints = endpoints.join(',');
    this.client = new Etcd3({
      hosts: [...endpoints],
      faultHandling: { host: () => PASS_THROUGH, global: RETRY_UNAVAILABLE },
      // A deadline on each call, so a partitioned endpoint fails the call instead of hanging it.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
      grpcOptions: { 'grpc.max_receive_message_length': MAX_ANSWER_BYTES },
    });
  }

  get kv(): Etcd3['kv'] {
    return this.client.kv;
  }

  /** Whatever etcd or the network throws comes out as E_STATE_STORE; a RolloutError or a TypeError as is. */
  storeError(what: string, error: unknown): Error {
    return error instanceof RolloutError || error instanceof TypeError
      ? error
      : etcdFailure('E_STATE_STORE', this.endpoints, what, error);
  }

  /**
   * Every key under `prefix` in key order, read in pages of `pageSize` keys, all at the revision of the
   * first page so that the pages fit together. If etcd compacts that revision away meanwhile, it starts over.
   */
  async readPrefix(
    prefix: string,
    pageSize: number,
    extra: Pick<IRangeRequest, 'keys_only'> = {},
  ): Promise<IKeyValue[]> {
    const first = Buffer.from(prefix);
    const end = rangeEnd(first);
    return retryCompacted(async () => {
      const kvs: IKeyValue[] = [];
      let from: Buffer = first;
      let revision: string | undefined;
      for (;;) {
        const answer = await this.client.kv.range({
          ...extra,
          key: from,
          range_end: end,
          limit: pageSize,
          ...(revision === undefined ? {} : { revision }),
        });
        revision ??= answer.header.revision;
        kvs.push(...answer.kvs);
        const last = answer.kvs.at(-1);
        if (!answer.more || last === undefined) {
          return kvs;
        }
        from = keyAfter(last.key);
      }
    });
  }

  /**
   * Between attempts of a compare-and-swap: at once at first (the failed txn brought back what changed),
   * then after a short random wait. Each failed attempt means another writer succeeded, so this only
   * gives up under a storm of writers.
   */
  async backOff(attempt: number, key: Buffer): Promise<void> {
    if (attempt >= CAS_ATTEMPTS) {
      throw new RolloutError(
        'E_STATE_STORE',
        `${key.toString()} in etcd at ${this.endpoints} kept changing under ${attempt} attempts to write it; try again`,
      );
    }
    if (attempt > 2) {
      await delay(Math.random() * Math.min(50, attempt * 2));
    }
  }

  close(): void {
    this.client.close();
  }
}

/** The smallest key after `key`: where the next page starts. */
export function keyAfter(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

/** Runs a read pinned to one revision again (from the newest) if etcd compacted that revision away meanwhile. */
export async function retryCompacted<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 3 || !(error instanceof Error && error.message.includes('compacted'))) {
        throw error;
      }
    }
  }
}
