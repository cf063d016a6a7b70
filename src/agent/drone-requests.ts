import { z } from 'zod';
import { WireError } from './wire-errors.js';

/** The bodies the drone protocol accepts. Unknown members are ignored, so clients may add fields. */

const rollout = z.string().min(1).max(256);
/** A lock store's fences start at 1; 0 would say no lock was taken at all. */
const fence = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const pushRequest = z.object({
  rollout,
  version: z.string().min(1).max(256),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/u),
  fence,
  content: z.string(),
});
const rollbackRequest = z.object({ rollout, fence });
const pauseRequest = z.object({ rollout });
const resumeRequest = z.object({ rollout, all: z.boolean().optional() });

export type PushRequest = z.infer<typeof pushRequest>;
export type RollbackRequest = z.infer<typeof rollbackRequest>;
export type PauseRequest = z.infer<typeof pauseRequest>;
export type ResumeRequest = z.infer<typeof resumeRequest>;

/** What each field must be, worded for the message of a 400. */
const FIELD_RULES: Readonly<Record<string, string>> = {
  rollout: 'a non-empty string of at most 256 characters (the rollout id)',
  version: 'a non-empty string of at most 256 characters',
  sha256: 'the 64 hex digits of the content\'s sha256',
  fence: 'a positive safe integer (1 to 9007199254740991): the fence of the config lock',
  content: 'a string (the whole config file)',
  all: 'true or false',
};

export const parsePushRequest = (body: Buffer): PushRequest => parseBody(pushRequest, body);
export const parseRollbackRequest = (body: Buffer): RollbackRequest => parseBody(rollbackRequest, body);
export const parsePauseRequest = (body: Buffer): PauseRequest => parseBody(pauseRequest, body);
export const parseResumeRequest = (body: Buffer): ResumeRequest => parseBody(resumeRequest, body);

function parseBody<T>(schema: z.ZodType<T>, body: Buffer): T {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new WireError('bad_request', `bad request: the body is not JSON (${body.length} bytes); send a JSON object with Content-Type: application/json`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WireError('bad_request', `bad request: the body must be a JSON object, got ${describe(value)}`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const field = String(parsed.error.issues[0]?.path[0] ?? '');
  const received = (value as Record<string, unknown>)[field];
  throw new WireError('bad_request', `bad request: "${field}" must be ${FIELD_RULES[field] ?? 'valid'}, got ${describe(received)}`, { tail: { field } });
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return `${shown} (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}
