import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_PUSH_BODY_BYTES } from '../spec/limits.js';
import { WireError } from '../protocol/wire-errors.js';
import type { RequestHandler } from './request-handler.js';

/** The largest request body a drone accepts: a config file is a few KiB; 1 MiB is generous. */
export const MAX_BODY_BYTES = MAX_PUSH_BODY_BYTES;
/** An oversized body is drained so the client can read our 400; past this we just drop the connection. */
const MAX_DRAIN_BYTES = 64 * MAX_BODY_BYTES;

export async function readBody(request: IncomingMessage, limit: number = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_DRAIN_BYTES) {
      request.destroy();
      break;
    }
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) {
    throw new WireError(
      'body_too_large',
      `the request body is ${size > MAX_DRAIN_BYTES ? 'over 64 MiB' : `${size} bytes`}, over the limit of ${limit} bytes (1 MiB); config files must be smaller`,
    );
  }
  return Buffer.concat(chunks, size);
}

/** An answer that is not JSON, such as `/metrics` in the Prometheus text format. */
export class TextAnswer {
  constructor(
    readonly contentType: string,
    readonly text: string,
  ) {}
}

/** Answers with `body`: a TextAnswer as it is, anything else as JSON. False when it could not be sent. */
export function sendAnswer(response: ServerResponse, status: number, body: unknown): boolean {
  return body instanceof TextAnswer
    ? sendText(response, status, body.contentType, body.text)
    : sendJson(response, status, body);
}

/** Answers with `body` as JSON; false when the response was already sent or its connection is gone. */
export function sendJson(response: ServerResponse, status: number, body: unknown): boolean {
  return sendText(response, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function sendText(response: ServerResponse, status: number, contentType: string, text: string): boolean {
  if (response.headersSent || response.destroyed) return false;
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
  return true;
}

/**
 * A check of `Authorization: Bearer <token>` against one token or several (the old and the new one while
 * a fleet's token is rotated), in constant time: both sides are hashed first, so even the length of an
 * expected header does not leak through timing, and every token is compared whichever matches.
 */
export function bearerCheck(
  tokens: string | readonly string[],
  /** The constant-time comparison of two digests; a test counts its calls. */
  compare: (a: Buffer, b: Buffer) => boolean = timingSafeEqual,
): (header: string | undefined) => boolean {
  const expected = (typeof tokens === 'string' ? [tokens] : tokens).map((token) => digest(`Bearer ${token}`));
  if (expected.length === 0) throw new TypeError('Expected at least one bearer token, got none');
  return (header) => {
    const given = digest(header ?? '');
    let matched = false;
    // No early exit: which token matched, and whether it was the first, must not show in the time taken.
    for (const token of expected) matched = compare(token, given) || matched;
    return matched;
  };
}

/** What a request without an accepted token is told: the same words whichever server refuses it. */
export const UNAUTHORIZED_MESSAGE =
  'missing or wrong bearer token; send Authorization: Bearer <token> with the token the agent was started with';

/**
 * `handler` behind a bearer token: a request that carries none of `tokens` is answered 401
 * `unauthorized` before anything else, server routes (`/sim/stats`, `/metrics`) included.
 */
export function requireBearer(handler: RequestHandler, tokens: readonly string[]): RequestHandler {
  const isAuthorized = bearerCheck(tokens);
  return async (request, response) => {
    if (isAuthorized(request.headers.authorization)) return handler(request, response);
    const refusal = new WireError('unauthorized', UNAUTHORIZED_MESSAGE);
    sendJson(response, refusal.status, refusal.toBody());
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
