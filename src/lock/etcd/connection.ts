import { castGrpcError, Etcd3, FilterType, type KVClient } from 'etcd3';
import { RolloutError } from '../../errors.js';
import { etcdFailure, PASS_THROUGH } from '../../infra/etcd-shared.js';

/** gRPC call options (a deadline), named through etcd3 so that grpc-js stays its business. */
export type CallOptions = NonNullable<Parameters<KVClient['range']>[1]>;

/** One etcd client and the way its failures read to an operator. */
export class EtcdConnection {
  readonly client: Etcd3;
  readonly #endpoints: string;
  readonly #requestTimeoutMs: number;

  constructor(endpoints: readonly string[], requestTimeoutMs: number) {
    this.#endpoints = endpoints.join(',');
    this.#requestTimeoutMs = requestTimeoutMs;
    this.client = new Etcd3({ hosts: [...endpoints], faultHandling: { host: () => PASS_THROUGH } });
  }

  /** Call options for one request: a deadline, so a partitioned endpoint fails the call instead of hanging it. */
  options(): CallOptions {
    return { deadline: Date.now() + this.#requestTimeoutMs };
  }

  /** Runs requests to etcd; whatever etcd or the network throws comes out as E_LOCK_STORE, a RolloutError as is. */
  async run<T>(what: string, requests: () => Promise<T>): Promise<T> {
    try {
      return await requests();
    } catch (error) {
      throw this.storeError(what, error);
    }
  }

  storeError(what: string, error: unknown): RolloutError {
    return error instanceof RolloutError ? error : etcdFailure('E_LOCK_STORE', this.#endpoints, what, error);
  }

  /**
   * One keepalive for `leaseId`, as etcd answers it: the lease's remaining TTL in seconds, 0 or less when
   * it has expired or was revoked. Not etcd3's `Lease.keepaliveOnce`, which wants the Lease object that
   * granted it; this process may renew a lease it only knows by id.
   */
  async keepAliveOnce(leaseId: string): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive(this.options());
    try {
      return await new Promise<number>((resolve, reject) => {
        stream.on('data', (answer) => resolve(Number(answer.TTL)));
        stream.on('error', (error) => reject(castGrpcError(error)));
        stream.on('end', () => reject(new Error('the keepalive stream closed without an answer')));
        stream.write({ ID: leaseId });
      });
    } finally {
      stream.end();
    }
  }

  /**
   * Resolves when `key` is deleted at `fromRevision` or later (a delete between reading the key and
   * watching it is replayed, not missed), after `ms`, when a signal aborts, or when the watch breaks; the
   * caller then looks at the key again whatever woke it, and meets etcd's failure there if it lasts.
   * A watch stream of its own rather than etcd3's shared watcher: its error listener outlives the wait,
   * so a stream cancelled when the client closes has someone to tell.
   */
  async waitForDelete(
    key: Buffer,
    fromRevision: string,
    ms: number,
    signals: readonly (AbortSignal | undefined)[],
  ): Promise<void> {
    if (signals.some((signal) => signal?.aborted === true)) return;
    let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>>;
    try {
      stream = await this.client.watchClient.watch();
    } catch (error) {
      throw this.storeError(`watch ${key.toString()}`, error);
    }
    await new Promise<void>((resolve) => {
      let settled = false;
      const wake = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const signal of signals) signal?.removeEventListener('abort', wake);
        // Ended and then cancelled: etcd keeps a merely half-closed watch open, and an open call keeps the
        // client's connection, and so the process, alive after close(). Ended first, so the cancellation
        // error is not taken for a failed endpoint (etcd3 marks one only while the stream is writable).
        stream.end();
        stream.cancel();
        resolve();
      };
      const timer = setTimeout(wake, ms);
      stream.on('data', (answer) => {
        if (answer.canceled || answer.events.length > 0) wake();
      });
      stream.on('error', wake);
      stream.on('end', wake);
      for (const signal of signals) signal?.addEventListener('abort', wake, { once: true });
      stream.write({ create_request: { key, start_revision: fromRevision, filters: [FilterType.Noput] } });
    });
  }

  close(): void {
    this.client.close();
  }
}
