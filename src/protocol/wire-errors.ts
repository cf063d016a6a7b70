import type { LockOwner } from './v1.js';

/**
 * The one registry of error codes a drone agent puts on the wire, as `{"error": "<code>", "message"}`.
 * The fleet client branches on these codes, so they are stable; a test checks that every code the
 * server raises is listed here and that nothing here is unused.
 */
export const WIRE_ERRORS = {
  unauthorized: { status: 401, meaning: 'the request lacks `Authorization: Bearer <token>` or the token is wrong' },
  not_found: { status: 404, meaning: 'no such endpoint' },
  method_not_allowed: { status: 405, meaning: 'the endpoint exists but not for this HTTP method' },
  unknown_drone: { status: 404, meaning: 'the simulated fleet has no drone with that id' },
  unknown_config: { status: 404, meaning: 'the drone has no config file of that name' },
  invalid_config_name: { status: 400, meaning: 'the config name is empty, too long, hidden or not a plain file name' },
  body_too_large: { status: 400, meaning: 'the request body exceeds 1 MiB' },
  bad_request: { status: 400, meaning: 'the body is not JSON or a field is missing or malformed' },
  checksum_mismatch: { status: 400, meaning: 'the sha256 in the body does not match the content' },
  bad_signature: {
    status: 403,
    meaning:
      'the drone trusts signing keys (rollout agent --trust-key) and the push is unsigned, signed by another key, or its signature does not match its file, version, sha256, rollout and fence',
  },
  lock_mismatch: { status: 409, meaning: "the drone's local lock on the file is held by another live owner (HOT)" },
  stale_fence: {
    status: 409,
    meaning: 'the fence is lower than the highest the drone accepted for the file, or equal to it from another rollout',
  },
  trial_reverted: {
    status: 409,
    meaning: 'the confirm is too late: the drone reverted that trial by itself, as it was not confirmed in time',
  },
  config_changed: {
    status: 409,
    meaning: "the confirm names a config the drone no longer runs, or another rollout's trial of it",
  },
  config_write_failed: { status: 500, meaning: 'the drone could not write the config or its metadata' },
  previous_unavailable: { status: 500, meaning: 'the content kept for rollback is missing or damaged' },
  internal_error: { status: 500, meaning: 'an unexpected failure inside the agent; its log has the details' },
} as const satisfies Record<string, { readonly status: number; readonly meaning: string }>;

export type WireErrorCode = keyof typeof WIRE_ERRORS;

/** The JSON body of an error answer. */
export interface WireErrorBody {
  readonly error: WireErrorCode;
  readonly message: string;
  readonly [field: string]: unknown;
}

/** Extra members of an error body: `lead` goes between `error` and `message`, `tail` after it. */
export interface WireErrorFields {
  readonly lead?: Readonly<Record<string, unknown>>;
  readonly tail?: Readonly<Record<string, unknown>>;
}

/** An error the agent answers with on purpose; the HTTP status comes from the registry. */
export class WireError extends Error {
  readonly code: WireErrorCode;
  readonly status: number;
  readonly #fields: WireErrorFields;

  constructor(code: WireErrorCode, message: string, fields: WireErrorFields = {}) {
    super(message);
    this.name = 'WireError';
    this.code = code;
    this.status = WIRE_ERRORS[code].status;
    this.#fields = fields;
  }

  toBody(): WireErrorBody {
    return { error: this.code, ...this.#fields.lead, message: this.message, ...this.#fields.tail };
  }
}

/**
 * An error answer as a client reads it: any code, since a proxy in front of a drone may answer too.
 * `lock` and `highestFence` come with the 409s.
 */
export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly lock?: string;
  readonly highestFence?: number;
}

export function isErrorBody(body: unknown): body is ErrorBody {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

/**
 * The 409 of the contract, `{"error":"lock_mismatch","file","lock":"HOT","message":"lock mismatch: <file> HOT"}`,
 * in the contract's order; the reason and the holder (who holds the local lock) are extensions and go last.
 */
export function lockMismatch(file: string, holder: LockOwner): WireError {
  return new WireError('lock_mismatch', `lock mismatch: ${file} HOT`, {
    lead: { file, lock: 'HOT' },
    tail: { reason: 'held', holder },
  });
}

/** A write of a rollout that has already rolled the file back with a fence at least as high. */
export function lateFence(
  file: string,
  fence: number,
  highestFence: number,
  rollout: string,
  retiredAt: number,
): WireError {
  return new WireError(
    'stale_fence',
    `stale fence ${fence} for ${file}: rollout ${rollout} already rolled this file back with fence ${retiredAt}, so this is a late write of it`,
    { lead: { file, highestFence }, tail: { fence } },
  );
}

/**
 * The contract's 409 `{"error":"stale_fence","file","highestFence","message"}`: a write from an
 * orchestrator whose lock is not the latest. A different fault from HOT: nothing on the drone holds the file.
 * `owner` is the rollout that set the bar, when the fence is equal to it.
 */
export function staleFence(file: string, fence: number, highestFence: number, owner?: string): WireError {
  const since =
    fence < highestFence
      ? `this drone has accepted fence ${highestFence}; another rollout has taken the config lock since`
      : `this drone has accepted fence ${highestFence} from rollout ${owner ?? '(unknown)'}; a fence belongs to one rollout, so this rollout's config lock is not the latest`;
  return new WireError('stale_fence', `stale fence ${fence} for ${file}: ${since}`, {
    lead: { file, highestFence },
    tail: { fence },
  });
}
