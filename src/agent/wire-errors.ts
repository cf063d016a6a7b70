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
  lock_mismatch: {
    status: 409,
    meaning: "the drone's local lock on the file is held by another live owner, or the fence is lower than one it accepted",
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

/** Why a drone refused a write with 409. */
export type LockMismatchReason =
  | { readonly reason: 'held'; readonly holder: { readonly pid: number; readonly host: string; readonly rollout: string } }
  | { readonly reason: 'stale_fence'; readonly fence: number; readonly highestFence: number };

/**
 * The 409 of the contract, `{"error":"lock_mismatch","file","lock":"HOT","message":"lock mismatch: <file> HOT"}`,
 * in the contract's order; the reason is an extension and goes last.
 */
export function lockMismatch(file: string, why: LockMismatchReason): WireError {
  return new WireError('lock_mismatch', `lock mismatch: ${file} HOT`, { lead: { file, lock: 'HOT' }, tail: why });
}
