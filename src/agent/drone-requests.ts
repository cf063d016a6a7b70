import { z } from 'zod';
import {
  confirmRequestSchema,
  pauseRequestSchema,
  pushRequestSchema,
  resumeRequestSchema,
  rollbackRequestSchema,
  type ConfirmRequest,
  type PauseRequest,
  type PushRequest,
  type ResumeRequest,
  type RollbackRequest,
} from '../protocol/v1.js';
import { WireError } from '../protocol/wire-errors.js';

/** The v1 request bodies, checked with a 400 that says which field is wrong and what it must be. */

/** What each field must be, worded for the message of a 400. */
const FIELD_RULES: Readonly<Record<string, string>> = {
  rollout: 'a non-empty string of at most 256 characters (the rollout id)',
  version: 'a non-empty string of at most 256 characters',
  sha256: "the 64 hex digits of the content's sha256",
  fence: 'a positive safe integer (1 to 9007199254740991): the fence of the config lock',
  content: 'a string (the whole config file)',
  all: 'true or false',
  holdMs: 'a whole number of milliseconds from 1 to 86400000 (a day): how long the pause holds unless renewed',
  trialMs:
    'a whole number of milliseconds from 1 to 86400000 (a day): how long the drone waits for a confirm before reverting',
  signature:
    'an object {"keyId","sig"}: the id of the signing key (16 hex digits) and the base64 Ed25519 signature of the push',
};

export const parsePushRequest = (body: Buffer): PushRequest => parseBody(pushRequestSchema, body);
export const parseRollbackRequest = (body: Buffer): RollbackRequest => parseBody(rollbackRequestSchema, body);
export const parseConfirmRequest = (body: Buffer): ConfirmRequest => parseBody(confirmRequestSchema, body);
export const parsePauseRequest = (body: Buffer): PauseRequest => parseBody(pauseRequestSchema, body);
export const parseResumeRequest = (body: Buffer): ResumeRequest => parseBody(resumeRequestSchema, body);

function parseBody<T>(schema: z.ZodType<T>, body: Buffer): T {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new WireError(
      'bad_request',
      `bad request: the body is not JSON (${body.length} bytes); send a JSON object with Content-Type: application/json`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WireError('bad_request', `bad request: the body must be a JSON object, got ${describe(value)}`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const field = String(parsed.error.issues[0]?.path[0] ?? '');
  const received = (value as Record<string, unknown>)[field];
  throw new WireError(
    'bad_request',
    `bad request: "${field}" must be ${FIELD_RULES[field] ?? 'valid'}, got ${describe(received)}`,
    { tail: { field } },
  );
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return `${shown} (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}
