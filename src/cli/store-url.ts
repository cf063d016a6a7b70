import { RolloutError } from '../errors.js';
import { redactUrl } from '../infra/redact.js';

/** Where locks and rollout records live: the state dir (one machine) or an etcd cluster (a team). */
export type StoreLocation =
  { readonly kind: 'embedded' } | { readonly kind: 'etcd'; readonly endpoints: readonly string[] };

const ENDPOINT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;

/**
 * Reads `--store` (else `$ROLLOUT_STORE`): empty or `embedded` is the state dir;
 * `etcd://host:port[,host:port...]` is an etcd cluster.
 */
export function parseStoreUrl(value: string | undefined): StoreLocation {
  if (value === undefined || value === '' || value === 'embedded') return { kind: 'embedded' };
  const match = /^etcd:\/\/(.+)$/.exec(value);
  if (!match?.[1]) {
    throw new RolloutError(
      'E_USAGE',
      `--store ${redactUrl(value)}: expected etcd://host:port[,host:port...] or embedded (the state dir)`,
    );
  }
  const endpoints = match[1]
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const bad = endpoints.find((e) => !ENDPOINT.test(e));
  if (endpoints.length === 0 || bad !== undefined) {
    throw new RolloutError(
      'E_USAGE',
      `--store ${redactUrl(value)}: "${redactUrl(bad ?? '')}" is not host:port (credentials in the URL are not supported); expected etcd://host:port[,host:port...]`,
    );
  }
  return { kind: 'etcd', endpoints };
}
