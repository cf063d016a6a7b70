import { parseStored } from '../record-schemas.js';
import type { IKeyValue } from 'etcd3';
import type { z } from 'zod';
import { RolloutError } from '../../errors.js';

/**
 * Values read back from etcd are checked with the schemas the embedded store uses (record-schemas.ts):
 * a value put by hand, or by another tool, fails with the key and the field that is wrong.
 */

export function corruptKey(key: string, detail: string, cause?: unknown): RolloutError {
  return new RolloutError(
    'E_STATE_STORE',
    `etcd key ${key} is corrupt: ${detail}. Fix it (etcdctl put) or delete it (etcdctl del); nothing was changed`,
    cause === undefined ? undefined : { cause },
  );
}

/** Parses and checks JSON `text` read from `where` (an etcd key, or `key:line` inside an audit chunk). */
export function decodeJson<T>(schema: z.ZodType<T>, text: string, where: string): T {
  return parseStored(schema, text, where, corruptKey);
}

export function decodeKv<T>(schema: z.ZodType<T>, kv: IKeyValue): T {
  return decodeJson(schema, kv.value.toString(), kv.key.toString());
}
