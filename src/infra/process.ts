import { argumentError } from './argument-checks.js';
import { isErrno } from './errno.js';

/** kill(2) takes a pid_t, a signed 32-bit integer: no process has a larger pid. */
const MAX_PID = 2 ** 31 - 1;

/** Whether `value` can name one process: 0 and negatives address process groups in kill(2). */
export function isPid(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && value <= MAX_PID;
}

/**
 * Whether a process with this pid exists on this host. EPERM means it exists but belongs to another
 * user, so it is alive. A recycled pid reads as alive; the lease's TTL covers that case.
 */
export function isPidAlive(pid: number): boolean {
  if (!isPid(pid)) {
    // Asking kill(2) about a process group would answer for the wrong thing.
    throw argumentError('pid', 'a positive integer', pid);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if (isErrno(error, 'ESRCH')) return false;
    if (isErrno(error, 'EPERM')) return true;
    throw error;
  }
}
