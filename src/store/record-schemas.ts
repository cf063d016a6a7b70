import { z } from 'zod';
import type { RolloutResult } from '../rollout/machine-types.js';
import { corruptFile } from './store-errors.js';
import type { AuditEvent, DroneProgressRecord, OperatorCommand, RolloutRecord } from './types.js';

/**
 * The shapes every backend checks on the way in (bad input fails at once) and on the way out (a file
 * edited by hand fails with its name and key, not later as an undefined deep in the runner). Objects
 * are loose so that fields added by a newer version survive an update made by an older one.
 */

/** A rollout id is also a directory name: no separators, no leading dot, short enough for any filesystem. */
export const ROLLOUT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const RESULTS = {
  promoted: 'promoted',
  rolled_back: 'rolled_back',
  unchanged: 'unchanged',
  invalid: 'invalid',
  aborted_hot: 'aborted_hot',
  lock_busy: 'lock_busy',
  needs_attention: 'needs_attention',
  interrupted: 'interrupted',
} as const satisfies { readonly [Result in RolloutResult]: Result };

const epochMs = z.number().int().nonnegative();
const configVersion = z.looseObject({ version: z.string(), sha256: z.string() });

export const rolloutIdSchema = z
  .string()
  .regex(ROLLOUT_ID_PATTERN, { error: 'must be letters, digits, `.`, `_` or `-`, not starting with `.`' });

export const rolloutRecordSchema: z.ZodType<RolloutRecord> = z.looseObject({
  id: rolloutIdSchema,
  name: z.string().min(1),
  specPath: z.string(),
  specDigest: z.string(),
  inventory: z.string(),
  config: z.looseObject({ file: z.string().min(1), version: z.string(), sha256: z.string() }),
  owner: z.looseObject({ host: z.string(), pid: z.number().int().positive(), bootId: z.string(), user: z.string() }),
  drones: z.number().int().nonnegative(),
  stage: z.string(),
  step: z.looseObject({ index: z.number().int(), name: z.string(), total: z.number().int().nonnegative() }),
  updated: epochMs,
  result: z.enum(RESULTS).nullable(),
  reason: z.string(),
  started: epochMs,
  ended: epochMs.nullable(),
  heartbeat: epochMs,
});

export const droneProgressSchema: z.ZodType<DroneProgressRecord> = z.looseObject({
  before: configVersion.nullable(),
  now: configVersion.nullable(),
  pauseSent: z.boolean(),
  pushSent: z.boolean(),
  rolledBack: z.boolean(),
  lastError: z.string().nullable(),
});

/** One batch of progress, keyed by drone id. */
export const progressBatchSchema: z.ZodType<Record<string, DroneProgressRecord>> = z.record(
  z.string().min(1),
  droneProgressSchema,
);

export const auditEventSchema: z.ZodType<AuditEvent> = z.looseObject({ t: z.number(), kind: z.string().min(1) });

/** One batch of audit events, in order. */
export const auditBatchSchema: z.ZodType<AuditEvent[]> = z.array(auditEventSchema);

/*
 * Plain checks of the two batches a rollout writes all the time (every drone's progress, an audit event
 * per drone and stage): at 10,000 drones their schemas took about 170 ms of CPU, and copied every
 * record. What passes a plain check is taken as it is; anything else goes to the schema, which accepts
 * or describes it. A property test holds that a plain check never passes what its schema refuses.
 */

/**
 * An object, and not one with an own `__proto__` key (JSON.parse makes one from `"__proto__": …`): the
 * schemas leave such a key out, so an object with one goes to them, to read back as it always did.
 */
const isRecordObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !Object.hasOwn(value, '__proto__');

const isVersionRef = (value: unknown): boolean =>
  value === null || (isRecordObject(value) && typeof value.version === 'string' && typeof value.sha256 === 'string');

function isPlainProgress(value: unknown): boolean {
  return (
    isRecordObject(value) &&
    isVersionRef(value.before) &&
    isVersionRef(value.now) &&
    typeof value.pauseSent === 'boolean' &&
    typeof value.pushSent === 'boolean' &&
    typeof value.rolledBack === 'boolean' &&
    (value.lastError === null || typeof value.lastError === 'string')
  );
}

export function isPlainProgressBatch(value: unknown): boolean {
  if (!isRecordObject(value)) return false;
  for (const id of Object.keys(value)) if (id === '' || !isPlainProgress(value[id])) return false;
  return true;
}

export function isPlainAuditBatch(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  for (const event of value as unknown[]) {
    if (!isRecordObject(event) || !Number.isFinite(event.t) || typeof event.kind !== 'string' || event.kind === '') {
      return false;
    }
  }
  return true;
}

export const operatorCommandSchema: z.ZodType<OperatorCommand> = z.object({
  type: z.enum(['abort', 'promote']),
  by: z.string(),
  reason: z.string().optional(),
  at: epochMs,
});

/**
 * Checks an argument; the TypeError names the argument and the first keys that are wrong. A value that
 * passes `plain` (a check that never passes what the schema refuses) is taken as it is, uncopied.
 */
export function checkInput<T>(
  schema: z.ZodType<T>,
  value: unknown,
  name: string,
  plain?: (value: unknown) => boolean,
): T {
  if (plain?.(value) === true) return value as T;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new TypeError(`Expected \`${name}\` to be valid: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * Parses and checks the JSON text read from `where` (a file or `file:line`; for etcd a key or `key:line`),
 * failing with the error `corrupt` makes: the embedded store names a file, the etcd store a key. What
 * passes `plain` (a check that never passes what the schema refuses) is taken as parsed.
 */
export function parseStored<T>(
  schema: z.ZodType<T>,
  text: string,
  where: string,
  corrupt: (where: string, detail: string, cause?: unknown) => Error = corruptFile,
  plain?: (value: unknown) => boolean,
): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corrupt(where, `not valid JSON (${(error as Error).message})`, error);
  }
  if (plain?.(json) === true) return json as T;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw corrupt(where, describeIssues(parsed.error), parsed.error);
  }
  return parsed.data;
}

/** `step.index: expected number, received string`, for the first few issues. */
function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((issue) => {
    const key = issue.path.length === 0 ? '(top level)' : issue.path.map(String).join('.');
    return `${key}: ${issue.message}`;
  });
  const more = error.issues.length - shown.length;
  return more > 0 ? `${shown.join('; ')} (and ${more} more)` : shown.join('; ');
}

/**
 * How both backends store a record. Indented: the record is the one file people open to see what a
 * rollout is doing.
 */
export function serializeRecord(record: RolloutRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}
