import { expect } from 'vitest';
import { RolloutError } from '../../src/errors.js';

/** The RolloutError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<RolloutError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RolloutError);
    return error as RolloutError;
  }
  throw new Error('expected the promise to reject');
}
