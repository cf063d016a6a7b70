import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh state dir under the OS temp dir, and a way to remove it. */
export async function makeStateDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-rollout-store-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
