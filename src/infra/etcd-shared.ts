import { ClientClosedError, isRecoverableError, type IOptions } from 'etcd3';
import { RolloutError, type ErrorCode } from '../errors.js';

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/**
 * etcd3 puts a circuit breaker on each endpoint by default: after three failed calls it refuses every call
 * for 5 s without trying. With one endpoint that outlasts a short outage: etcd is back after a second, but
 * lease renewals and the rollout's writes still fail for five. So each call goes through; the client's own
 * retry still moves past a dead endpoint, which refuses the connection at once. The lock and the state
 * store both build their etcd clients with it. It is async: when a watch or keepalive stream fails, etcd3
 * hands it a callback that throws at once and catches only a rejection, so a synchronous call would let
 * that throw escape as an uncaught exception and kill the process.
 */
export const PASS_THROUGH = {
  execute: async (call: (context: { signal: AbortSignal }) => unknown) =>
    call({ signal: new AbortController().signal }),
} as unknown as HostPolicy;

/** What etcd or the network threw, as an operator reads it: `code` says which store it failed. */
export function etcdFailure(
  code: Extract<ErrorCode, 'E_LOCK_STORE' | 'E_STATE_STORE'>,
  endpoints: string,
  what: string,
  error: unknown,
): RolloutError {
  const cause = error instanceof Error ? error : new Error(String(error));
  if (isRecoverableError(cause) || cause instanceof ClientClosedError) {
    // grpc-js ends its connection errors with an empty "Resolution note: ".
    const detail = cause.message.replace(/\s*Resolution note:\s*$/, '');
    return new RolloutError(
      code,
      `etcd at ${endpoints} did not answer (${what}: ${detail}): check that it runs and that --store etcd://${endpoints} names its client endpoints`,
      { cause },
    );
  }
  return new RolloutError(code, `etcd at ${endpoints} refused to ${what}: ${cause.message}`, { cause });
}

/** The end of etcd's key range holding every key that starts with `prefix`. */
export function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let index = end.length - 1; index >= 0; index -= 1) {
    if ((end[index] ?? 0) < 0xff) {
      end[index] = (end[index] ?? 0) + 1;
      return end.subarray(0, index + 1);
    }
  }
  // Every byte is 0xff: the range runs to the end of the keyspace.
  return Buffer.from([0]);
}
