import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isErrno } from '../infra/errno.js';
import { namesIn, readFileIfExists } from '../infra/optional-files.js';
import { isPid, isPidAlive } from '../infra/process.js';
import { writeAgentFile } from './agent-files.js';

/**
 * The drone's LOCAL lock: one JSON file per config at `<dir>/.agent/locks/<file>`, present only while
 * someone is writing that config. Being a file, it survives a crash of its owner — which is exactly
 * the incident this project exists for — so every reader judges it: a lock whose owner pid is dead on
 * this host, or whose heartbeat is older than the TTL, is stale and gets reclaimed.
 */

export interface LockOwnerInfo {
  readonly pid: number;
  readonly host: string;
  readonly rollout: string;
}

export interface LocalLockRecord {
  readonly file: string;
  readonly owner: LockOwnerInfo;
  readonly fence: number;
  /** Epoch milliseconds. */
  readonly acquired: number;
  readonly heartbeat: number;
  /** Tells two acquisitions of the same file apart, so a release or reclaim never deletes a successor's lock. */
  readonly token: string;
}

export type StaleReason = 'owner_dead' | 'expired' | 'corrupt';

export interface LocalLockStatus {
  readonly record: LocalLockRecord;
  readonly state: 'held' | 'stale';
  readonly staleReason?: StaleReason;
  /** Held by this very instance, for a write in progress; never stale, never HOT. */
  readonly ours: boolean;
  /** The file's bytes when read: a reclaim deletes only if they are unchanged. */
  readonly raw: string;
}

export type AcquireOutcome =
  { readonly acquired: true; readonly token: string } | { readonly acquired: false; readonly holder: LocalLockRecord };

export interface LocalLocksOptions {
  /** The drone's config dir. */
  readonly dir: string;
  readonly droneId: string;
  readonly ttlMs: number;
  readonly now: () => number;
  readonly logger: Logger;
  /** Told whenever a lock file is known to exist, so a collector knows where to look. */
  readonly onLockSeen?: () => void;
}

const THIS_HOST = hostname();
/** Acquire retries after reclaiming a stale lock; only a racing process makes it need more than one. */
const ACQUIRE_ATTEMPTS = 4;
/** Reads of one lock file before it is judged as last read; only a lock rewritten on every read needs more than two. */
const STATUS_READS = 8;

function lockDirOf(dir: string): string {
  return join(dir, '.agent', 'locks');
}

/** Writes (or refreshes) a lock file as is; fault injection uses it to plant HOT and stale locks. */
export async function writeLockRecord(dir: string, record: LocalLockRecord): Promise<void> {
  await writeAgentFile(join(lockDirOf(dir), record.file), JSON.stringify(record), { durable: false });
}

export class LocalLocks {
  readonly #dir: string;
  readonly #droneId: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #onLockSeen: (() => void) | undefined;
  /** file → token of the locks this instance holds right now. */
  readonly #held = new Map<string, string>();

  constructor(options: LocalLocksOptions) {
    this.#dir = lockDirOf(options.dir);
    this.#droneId = options.droneId;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#onLockSeen = options.onLockSeen;
  }

  /** Takes the lock on `file`, reclaiming a stale one; a live holder is returned instead. */
  async acquire(file: string, rollout: string, fence: number): Promise<AcquireOutcome> {
    let holder: LocalLockRecord | undefined;
    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt += 1) {
      const now = this.#now();
      const token = randomUUID();
      const record: LocalLockRecord = {
        file,
        owner: { pid: process.pid, host: THIS_HOST, rollout },
        fence,
        acquired: now,
        heartbeat: now,
        token,
      };
      // Ours before the file appears: a reader that sees the file must already know it is our own write.
      this.#held.set(file, token);
      let created = false;
      try {
        created = await this.#createExclusive(file, JSON.stringify(record));
      } finally {
        if (!created) this.#held.delete(file);
      }
      if (created) {
        this.#onLockSeen?.();
        return { acquired: true, token };
      }
      const status = await this.#status(file);
      if (status === undefined) continue;
      if (status.state === 'held') return { acquired: false, holder: status.record };
      holder = status.record;
      await this.#reclaim(status);
    }
    // Another process keeps re-taking the lock between our reclaim and our create: it is live.
    return { acquired: false, holder: holder ?? unknownRecord(file) };
  }

  async release(file: string, token: string): Promise<void> {
    try {
      const status = await this.#status(file);
      if (status?.record.token === token) {
        await this.#removeIfUnchanged(file, status.raw);
      } else {
        this.#logger.warn(
          { drone: this.#droneId, file },
          `our local lock on ${file} was removed or taken over before we released it (reclaimed as stale by another process?)`,
        );
      }
    } finally {
      // Forgotten only once the file is gone, so no reader ever sees our own lock as someone else's.
      this.#held.delete(file);
    }
  }

  async list(): Promise<LocalLockStatus[]> {
    const statuses = await Promise.all((await this.#lockFiles()).map((file) => this.#status(file)));
    return statuses.filter((status): status is LocalLockStatus => status !== undefined);
  }

  /** Frees every stale lock (logging each) and answers how many live ones remain. */
  async reclaimStale(): Promise<{ readonly reclaimed: readonly LocalLockStatus[]; readonly live: number }> {
    const reclaimed: LocalLockStatus[] = [];
    let live = 0;
    for (const status of await this.list()) {
      if (status.state === 'stale') {
        await this.#reclaim(status);
        reclaimed.push(status);
      } else {
        live += 1;
      }
    }
    return { reclaimed, live };
  }

  async #lockFiles(): Promise<string[]> {
    const names = await namesIn(this.#dir);
    if (names.length > 0) this.#onLockSeen?.();
    // Dot names are our temp files mid-creation, not locks.
    return names.filter((name) => !name.startsWith('.')).sort();
  }

  /**
   * Judges the lock file of `file`. Our own lock file exists only while its token is in `#held` (set
   * before the file appears, dropped after it is gone), but a read can finish after we released that
   * lock: a token we no longer hold is read again, and only the same bytes twice are someone else's.
   */
  async #status(file: string): Promise<LocalLockStatus | undefined> {
    const path = join(this.#dir, file);
    let bytes = await readFileIfExists(path);
    for (let read = 1; bytes !== undefined; read += 1) {
      const raw = bytes.toString('utf8');
      const record = parseLockRecord(raw, file);
      if (record === undefined)
        return { record: unknownRecord(file), state: 'stale', staleReason: 'corrupt', ours: false, raw };
      if (this.#held.get(file) === record.token) return { record, state: 'held', ours: true, raw };
      const again = read < STATUS_READS ? await readFileIfExists(path) : bytes;
      if (again?.equals(bytes) === true) {
        const staleReason = this.#staleReason(record);
        return staleReason === undefined
          ? { record, state: 'held', ours: false, raw }
          : { record, state: 'stale', staleReason, ours: false, raw };
      }
      bytes = again;
    }
    return undefined;
  }

  #staleReason(record: LocalLockRecord): StaleReason | undefined {
    // A pid only means something on the host that wrote it; elsewhere the heartbeat decides.
    if (record.owner.host === THIS_HOST && !isRecordedPidAlive(record.owner.pid)) return 'owner_dead';
    if (this.#now() - record.heartbeat > this.#ttlMs) return 'expired';
    return undefined;
  }

  async #reclaim(status: LocalLockStatus): Promise<void> {
    if (await this.#removeIfUnchanged(status.record.file, status.raw)) {
      this.#logger.warn(
        {
          drone: this.#droneId,
          file: status.record.file,
          owner: status.record.owner,
          fence: status.record.fence,
          reason: status.staleReason,
        },
        `reclaimed stale local lock on ${status.record.file} (${status.staleReason ?? 'stale'})`,
      );
    }
  }

  /** Compare-and-delete: a lock re-taken since we read it is someone else's now and stays. */
  async #removeIfUnchanged(file: string, raw: string): Promise<boolean> {
    const current = await readFileIfExists(join(this.#dir, file));
    if (current?.toString('utf8') !== raw) return false;
    await rm(join(this.#dir, file), { force: true });
    return true;
  }

  /** Creates the lock file only if absent; the content is complete before the name appears. */
  async #createExclusive(file: string, content: string): Promise<boolean> {
    try {
      await writeAgentFile(join(this.#dir, file), content, { durable: false, exclusive: true });
      return true;
    } catch (error) {
      if (isErrno(error, 'EEXIST')) return false;
      throw error;
    }
  }
}

/** Whether the process of a pid read from disk (a lock owner, a temp file's writer) is alive: a number that names no process is not. */
export function isRecordedPidAlive(pid: number): boolean {
  return isPid(pid) && isPidAlive(pid);
}

function parseLockRecord(raw: string, file: string): LocalLockRecord | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LocalLockRecord>;
    const owner = value.owner;
    if (
      typeof owner?.pid !== 'number' ||
      typeof owner.host !== 'string' ||
      typeof owner.rollout !== 'string' ||
      typeof value.fence !== 'number' ||
      typeof value.acquired !== 'number' ||
      typeof value.heartbeat !== 'number' ||
      typeof value.token !== 'string'
    ) {
      return undefined;
    }
    return {
      file,
      owner: { pid: owner.pid, host: owner.host, rollout: owner.rollout },
      fence: value.fence,
      acquired: value.acquired,
      heartbeat: value.heartbeat,
      token: value.token,
    };
  } catch {
    return undefined;
  }
}

/** Stands in for a lock file nobody can read: its owner is unknown, so it cannot prove it is alive. */
function unknownRecord(file: string): LocalLockRecord {
  return {
    file,
    owner: { pid: 0, host: 'unknown', rollout: 'unknown' },
    fence: 0,
    acquired: 0,
    heartbeat: 0,
    token: '',
  };
}
