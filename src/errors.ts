/**
 * The one registry of error codes a user can see from the orchestrator side.
 * The error table in docs/errors.md lists exactly these codes (a test checks it).
 */
export const ERROR_CODES = {
  E_SPEC_INVALID: 'the rollout spec, its config or its inventory failed validation',
  E_USAGE: 'the command line is wrong: unknown flag, missing argument, bad value',
  E_LOCK_BUSY: 'another live rollout holds the config lock',
  E_LEASE_LOST: 'this rollout no longer holds its lease (expired or reclaimed)',
  E_LOCK_NOT_FOUND: 'no lock is held on that key',
  E_LOCK_OWNER_LIVE: 'the lock owner is alive; releasing it needs --force',
  E_LOCK_STORE: 'the lock table (in the state dir, or in etcd) cannot be read or written',
  E_ROLLOUT_NOT_FOUND: 'no rollout with that id in the state store',
  E_STATE_STORE: 'the rollout records (in the state dir, or in etcd) cannot be read or written',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every error fleet-rollout raises on purpose; tests assert `code`, not message text. */
export class RolloutError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RolloutError';
    this.code = code;
  }
}
