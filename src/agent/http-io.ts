import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_PUSH_BODY_BYTES } from '../spec/limits.js';
import { WireError } from '../protocol/wire-errors.js';

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
 * A check of `Authorization: Bearer <token>` in constant time: both sides are hashed first, so even
 * the length of the expected header does not leak through timing.
 */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const expected = digest(`Bearer ${token}`);
  return (header) => timingSafeEqual(expected, digest(header ?? ''));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
