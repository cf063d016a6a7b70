import type { z } from 'zod';
import { pauseBodySchema, pushBodySchema, rollbackBodySchema } from '../protocol/v1.js';

/**
 * Plain checks of the answers a rollout gets once per drone (pause, resume, push, rollback), run before
 * their zod schemas: at 10,000 drones parsing those answers with zod took about a tenth of the
 * orchestrator's CPU. Each check is stricter than its schema: it accepts only the usual shape (no trial,
 * no lapsed hold), every field typed as the schema types it, and answers undefined for anything else,
 * which the schema then judges, with its message. So no answer passes here that the schema refuses.
 */

type Plain = Readonly<Record<string, unknown>>;

const isPlain = (value: unknown): value is Plain =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';
/** A non-negative integer a fence or seq may be (the schemas' bounds included). */
const isCount = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) < Number.MAX_SAFE_INTEGER;

function isVersionRef(value: unknown): boolean {
  return isPlain(value) && isString(value.version) && isString(value.sha256);
}

/** A config's state without `trial` or `reverted`: those go to the schema. */
function isPlainConfigState(value: unknown): boolean {
  return (
    isVersionRef(value) &&
    isPlain(value) &&
    (value.lock === 'free' || value.lock === 'HOT') &&
    isCount(value.fence) &&
    value.trial === undefined &&
    value.reverted === undefined
  );
}

function isPauseBody(body: Plain): boolean {
  if (body.state !== 'active' && body.state !== 'paused') return false;
  const { configs, holds, lapsed } = body;
  if (configs !== undefined && !(isPlain(configs) && Object.values(configs).every(isPlainConfigState))) return false;
  if (lapsed !== undefined && !(Array.isArray(lapsed) && lapsed.length === 0)) return false;
  return (
    holds === undefined ||
    (Array.isArray(holds) &&
      holds.every(
        (hold: unknown) =>
          isPlain(hold) &&
          isString(hold.rollout) &&
          (hold.expiresInMs === null || (typeof hold.expiresInMs === 'number' && hold.expiresInMs >= 0)),
      ))
  );
}

function isPushBody(body: Plain): boolean {
  return (
    isVersionRef(body) &&
    (body.previous === null || isVersionRef(body.previous)) &&
    (body.seq === undefined || isCount(body.seq)) &&
    body.trial === undefined
  );
}

function isRollbackBody(body: Plain): boolean {
  return (
    (body.version === null || isString(body.version)) &&
    (body.sha256 === null || isString(body.sha256)) &&
    (body.restored === undefined || typeof body.restored === 'boolean') &&
    (body.seq === undefined || isCount(body.seq))
  );
}

const CHECKS = new Map<z.ZodType, (body: Plain) => boolean>([
  [pauseBodySchema, isPauseBody],
  [pushBodySchema, isPushBody],
  [rollbackBodySchema, isRollbackBody],
]);

/** `body` as `schema`'s type when the plain check for that schema passes it; undefined otherwise. */
export function plainAnswer<T>(schema: z.ZodType<T>, body: unknown): T | undefined {
  const check = CHECKS.get(schema);
  return check !== undefined && isPlain(body) && check(body) ? (body as T) : undefined;
}
