import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isErrno } from '../infra/errno.js';
import { syncDirectory } from '../infra/atomic-write.js';
import { namesIn, readFileIfExists, sizeOf } from '../infra/optional-files.js';
import { readJsonFile, writeAgentFile, writeJsonAtomic } from './agent-files.js';
import { sha256Hex, unmanagedVersion } from './checksum.js';
import type { ConfigContent } from './telemetry-source.js';
import { versionRefSchema, type VersionRef } from '../protocol/v1.js';
import { WireError } from '../protocol/wire-errors.js';

/**
 * A drone's configs on disk, with what a rollback needs. Layout inside the drone's dir:
 *
 *   <file>                   the live config, replaced atomically
 *   .agent/meta/<file>       JSON: current version, who installed it, previous version, highest fence
 *   .agent/blobs/<sha256>    the previous content of some config, kept for rollback (content-addressed,
 *                            so writing a new previous never clobbers the one the metadata points at)
 *
 * A write first records its intent (`pending`) in the metadata, then replaces the config, then
 * commits the metadata. On load the config's actual sha256 decides which of the two is true, so a
 * crash between the steps never leaves metadata that lies about the file.
 */

const installer = z.object({
  rollout: z.string(),
  fence: z.number().int().nonnegative(),
  /** `auto_revert`: the drone reverted an unconfirmed trial by itself, as a rollback by its rollout would. */
  action: z.enum(['push', 'rollback', 'auto_revert']),
});
/**
 * A config on trial: the rollout that pushed it (and its fence), when the drone reverts it unless that
 * rollout confirms it (`until`, epoch ms on the drone's clock, so a restart does not extend it), and how
 * long the trial was (`ms`).
 */
const trial = z.object({
  rollout: z.string(),
  fence: z.number().int().nonnegative(),
  until: z.number(),
  ms: z.number().int().positive(),
});
/** The trial the drone reverted by itself: its version, whose it was, when, and how long it had been given. */
const revertedTrial = versionRefSchema.extend({
  rollout: z.string(),
  at: z.number(),
  trialMs: z.number().int().positive(),
});
const committedMeta = z.object({
  current: versionRefSchema.nullable(),
  installedBy: installer.nullable(),
  previous: versionRefSchema.nullable(),
  highestFence: z.number().int().nonnegative(),
  /** The rollout whose accepted write set `highestFence`; absent in metadata older than fence owners. */
  fenceOwner: z.string().nullable().default(null),
  /**
   * The latest rollback that found nothing of its rollout's to restore: that rollout's writes with a fence
   * up to this one are late (a push retried after its own rollback). Other rollouts are not affected.
   */
  retired: z.object({ rollout: z.string(), fence: z.number().int().nonnegative() }).nullable().default(null),
  /** While the current config is on trial; absent in metadata older than trials. */
  trial: trial.nullable().default(null),
  /** The current config is there because the drone reverted this trial; cleared by the next install. */
  reverted: revertedTrial.nullable().default(null),
});
const storedMeta = committedMeta.extend({ pending: committedMeta.nullable() });

export type Installer = z.infer<typeof installer>;
export type Trial = z.infer<typeof trial>;
export type RevertedTrialRecord = z.infer<typeof revertedTrial>;
/** What the metadata says of one config; `current` is null once a rollback removed a file a push had created. */
export type ConfigMeta = z.infer<typeof committedMeta>;

export interface ConfigEntry {
  readonly meta: ConfigMeta;
}

export interface LiveConfig {
  readonly file: string;
  readonly current: VersionRef;
  readonly entry: ConfigEntry;
}

/** The config a brand-new drone starts with (the simulator's drones start on one). */
export interface ConfigSeed {
  readonly file: string;
  readonly content: string;
  readonly version: string;
}

export interface ConfigStoreOptions {
  readonly dir: string;
  readonly droneId: string;
  readonly logger: Logger;
  /**
   * Told the content of each live config as it is loaded or seeded, so what derives something from
   * content (the drone's telemetry source) needs no second read of the disk.
   */
  readonly onLoaded?: (file: string, config: ConfigContent) => void;
  /** Written when the drone has neither this file nor metadata for it. */
  readonly seed?: ConfigSeed;
}

const EMPTY_META: ConfigMeta = {
  current: null,
  installedBy: null,
  previous: null,
  highestFence: 0,
  fenceOwner: null,
  retired: null,
  trial: null,
  reverted: null,
};

export class ConfigStore {
  readonly #dir: string;
  readonly #droneId: string;
  readonly #logger: Logger;
  readonly #onLoaded: ((file: string, config: ConfigContent) => void) | undefined;
  readonly #entries = new Map<string, ConfigEntry>();

  private constructor(options: ConfigStoreOptions) {
    this.#dir = options.dir;
    this.#droneId = options.droneId;
    this.#logger = options.logger;
    this.#onLoaded = options.onLoaded;
  }

  static async open(options: ConfigStoreOptions): Promise<ConfigStore> {
    const store = new ConfigStore(options);
    await store.#load();
    await store.#dropOrphanBlobs();
    if (options.seed !== undefined && !store.#entries.has(options.seed.file)) await store.#plantSeed(options.seed);
    return store;
  }

  get(file: string): ConfigEntry | undefined {
    return this.#entries.get(file);
  }

  /** Every config with a live file, by name. */
  live(): LiveConfig[] {
    const live: LiveConfig[] = [];
    for (const [file, entry] of this.#entries)
      if (entry.meta.current !== null) live.push({ file, current: entry.meta.current, entry });
    return live.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  }

  /** Every config the drone has metadata for, live or removed by a rollback. */
  all(): [string, ConfigEntry][] {
    return [...this.#entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Copies the live content of `file` into the blob store and answers what it is. Reads the disk rather
   * than trusting the metadata, so content edited by hand is still what a rollback restores.
   */
  async keepForRollback(file: string): Promise<VersionRef | null> {
    const content = await readFileIfExists(join(this.#dir, file));
    if (content === undefined) return null;
    const sha256 = sha256Hex(content);
    const current = this.#entries.get(file)?.meta.current;
    const version = current?.sha256 === sha256 ? current.version : unmanagedVersion(sha256);
    if ((await readFileIfExists(this.#blobPath(sha256))) === undefined)
      await writeAgentFile(this.#blobPath(sha256), content);
    return { version, sha256 };
  }

  /** The kept content of `ref`, checked against its sha256. */
  async readKept(file: string, ref: VersionRef): Promise<Buffer> {
    const content = await readFileIfExists(this.#blobPath(ref.sha256));
    if (content === undefined || sha256Hex(content) !== ref.sha256) {
      throw new WireError(
        'previous_unavailable',
        `the previous content of ${file} (version ${ref.version}) is ${content === undefined ? 'missing' : 'damaged'} at ${this.#blobPath(ref.sha256)}; push version ${ref.version} again to restore it`,
      );
    }
    return content;
  }

  /** Installs `content` (null removes the file) and `next` as the file's metadata, crash-safely. */
  async commit(file: string, next: ConfigMeta, content: string | Buffer | null): Promise<ConfigEntry> {
    const before = this.#entries.get(file)?.meta ?? EMPTY_META;
    await this.#writeMeta(file, { ...before, pending: next });
    const path = join(this.#dir, file);
    if (content === null) {
      await rm(path, { force: true });
      await syncDirectory(this.#dir);
    } else {
      await writeAgentFile(path, content);
    }
    await this.#writeMeta(file, { ...next, pending: null });
    const entry: ConfigEntry = { meta: next };
    this.#entries.set(file, entry);
    await this.#dropUnreferenced(before.previous);
    return entry;
  }

  /** Records `next` as the file's metadata, its content unchanged: a confirmed trial. */
  async amend(file: string, next: ConfigMeta): Promise<void> {
    const entry = this.#entries.get(file);
    if (entry === undefined) return;
    await this.#writeMeta(file, { ...next, pending: null });
    this.#entries.set(file, { ...entry, meta: next });
  }

  /** Records that `rollout` rolled `file` back at `fence` with nothing to restore; the content stays. */
  async retire(file: string, rollout: string, fence: number): Promise<void> {
    const entry = this.#entries.get(file);
    if (entry === undefined) return;
    const { retired } = entry.meta;
    if (retired !== null && retired.rollout === rollout && retired.fence >= fence) return;
    const meta: ConfigMeta = { ...entry.meta, retired: { rollout, fence } };
    await this.#writeMeta(file, { ...meta, pending: null });
    this.#entries.set(file, { ...entry, meta });
  }

  async #load(): Promise<void> {
    const files = new Set([...(await this.#configFilesOnDisk()), ...(await this.#metaFilesOnDisk())]);
    for (const file of files) this.#entries.set(file, await this.#reconcile(file));
  }

  async #configFilesOnDisk(): Promise<string[]> {
    try {
      const entries = await readdir(this.#dir, { withFileTypes: true });
      return entries.filter((entry) => entry.isFile() && !entry.name.startsWith('.')).map((entry) => entry.name);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
  }

  async #metaFilesOnDisk(): Promise<string[]> {
    return (await namesIn(join(this.#dir, '.agent', 'meta'))).filter((name) => !name.startsWith('.'));
  }

  /** Trusts the file's actual sha256 over the metadata, finishing or forgetting an interrupted write. */
  async #reconcile(file: string): Promise<ConfigEntry> {
    const content = await readFileIfExists(join(this.#dir, file));
    const actual = content === undefined ? null : sha256Hex(content);
    const stored = await this.#readMeta(file);
    const found: VersionRef | null = actual === null ? null : { version: unmanagedVersion(actual), sha256: actual };
    let meta: ConfigMeta;
    if (stored === undefined) {
      meta = { ...EMPTY_META, current: found };
    } else if (
      stored.pending !== null &&
      stored.pending.current?.sha256 === actual &&
      stored.current?.sha256 !== actual
    ) {
      this.#logger.warn(
        { drone: this.#droneId, file, version: stored.pending.current.version },
        `finished a write of ${file} interrupted by a crash`,
      );
      meta = stored.pending;
      await this.#writeMeta(file, { ...meta, pending: null });
    } else if ((stored.current?.sha256 ?? null) === actual) {
      meta = {
        current: stored.current,
        installedBy: stored.installedBy,
        previous: stored.previous,
        highestFence: stored.highestFence,
        fenceOwner: stored.fenceOwner,
        retired: stored.retired,
        trial: stored.trial,
        reverted: stored.reverted,
      };
      // A write that never replaced the file: forget its intent, so nothing on disk refers to what it kept.
      if (stored.pending !== null) await this.#writeMeta(file, { ...meta, pending: null });
    } else {
      this.#logger.warn(
        { drone: this.#droneId, file, expected: stored.current, actual },
        `${file} was changed outside the agent; adopting what is on disk`,
      );
      meta = {
        current: found,
        installedBy: null,
        previous: stored.previous,
        highestFence: stored.highestFence,
        fenceOwner: stored.fenceOwner,
        retired: stored.retired,
        // A hand edit takes the file over: no trial of ours is left to revert or confirm.
        trial: null,
        reverted: null,
      };
      await this.#writeMeta(file, { ...meta, pending: null });
    }
    if (meta.current !== null && content !== undefined)
      this.#onLoaded?.(file, { sha256: meta.current.sha256, content });
    return { meta };
  }

  async #plantSeed(seed: ConfigSeed): Promise<void> {
    const sha256 = sha256Hex(seed.content);
    const meta: ConfigMeta = { ...EMPTY_META, current: { version: seed.version, sha256 } };
    // Seeding a brand-new drone needs no fsync: a crash here leaves a drone that is simply seeded again.
    await writeAgentFile(join(this.#dir, seed.file), seed.content, { durable: false });
    await writeJsonAtomic(this.#metaPath(seed.file), { ...meta, pending: null }, { durable: false });
    this.#entries.set(seed.file, { meta });
    this.#onLoaded?.(seed.file, { sha256, content: seed.content });
  }

  async #readMeta(file: string): Promise<z.infer<typeof storedMeta> | undefined> {
    const path = this.#metaPath(file);
    let value: unknown;
    try {
      value = await readJsonFile(path);
    } catch (error) {
      // eslint-disable-next-line preserve-caught-error -- the message already quotes the parse error; as its cause too, pino's err serializer would log that text twice
      throw new Error(
        `${path} is not valid JSON (${(error as Error).message}); restore it from a backup, or delete it to adopt ${file} as unmanaged (its fence history is lost)`,
      );
    }
    if (value === undefined) return undefined;
    const parsed = storedMeta.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${path} is damaged (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); restore it from a backup, or delete it to adopt ${file} as unmanaged`,
      );
    }
    return parsed.data;
  }

  async #writeMeta(file: string, meta: z.infer<typeof storedMeta>): Promise<void> {
    await writeJsonAtomic(this.#metaPath(file), meta);
  }

  /**
   * Removes kept contents no config refers to: a write killed between keeping a copy and committing its
   * metadata, or between committing and dropping the copy it replaced, leaves one behind. The blobs of
   * every config's current and previous version stay.
   */
  async #dropOrphanBlobs(): Promise<void> {
    const referenced = new Set<string>();
    for (const { meta } of this.#entries.values())
      for (const ref of [meta.current, meta.previous]) if (ref !== null) referenced.add(ref.sha256);
    const blobs = join(this.#dir, '.agent', 'blobs');
    // Dot names are temp files of writes in progress (or of dead writers, which the boot sweep removes).
    const orphans = (await namesIn(blobs)).filter((name) => !name.startsWith('.') && !referenced.has(name));
    let bytes = 0;
    for (const name of orphans) {
      bytes += await sizeOf(join(blobs, name));
      await rm(join(blobs, name), { force: true });
    }
    if (orphans.length > 0)
      this.#logger.warn(
        { drone: this.#droneId, blobs: orphans.length, bytes },
        `removed ${orphans.length} kept contents (${bytes} bytes) that no config refers to`,
      );
  }

  async #dropUnreferenced(ref: VersionRef | null): Promise<void> {
    if (ref === null) return;
    for (const entry of this.#entries.values()) if (entry.meta.previous?.sha256 === ref.sha256) return;
    await rm(this.#blobPath(ref.sha256), { force: true });
  }

  #metaPath(file: string): string {
    return join(this.#dir, '.agent', 'meta', file);
  }

  #blobPath(sha256: string): string {
    return join(this.#dir, '.agent', 'blobs', sha256);
  }
}
