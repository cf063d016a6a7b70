import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { sha256Hex, unmanagedVersion } from '../../src/agent/checksum.js';
import { ConfigStore } from '../../src/agent/config-store.js';
import { BAD_CONFIG, FILE, GOOD_CONFIG, memoryLogger, tempDirs } from './helpers.js';

const dirs = tempDirs();
afterEach(dirs.cleanup);

const GOOD = { version: 'v43', sha256: sha256Hex(GOOD_CONFIG) };
const BAD = { version: 'v44', sha256: sha256Hex(BAD_CONFIG) };

/** A drone dir as a crash left it: the config's bytes and the metadata, with the intent of the write. */
async function crashedDrone(content: string): Promise<string> {
  const dir = await dirs.make();
  await mkdir(join(dir, '.agent', 'meta'), { recursive: true });
  await writeFile(join(dir, FILE), content);
  const committed = {
    current: GOOD,
    installedBy: { rollout: 'r-1', fence: 1, action: 'push' },
    previous: null,
    highestFence: 1,
  };
  const pending = {
    current: BAD,
    installedBy: { rollout: 'r-2', fence: 2, action: 'push' },
    previous: GOOD,
    highestFence: 2,
  };
  await writeFile(join(dir, '.agent', 'meta', FILE), JSON.stringify({ ...committed, pending }));
  return dir;
}

async function open(dir: string) {
  const { logger, lines } = memoryLogger();
  return { store: await ConfigStore.open({ dir, droneId: 'drone-1', logger }), lines };
}

describe('config store after a crash', () => {
  test('finishes a write whose new content reached the disk', async () => {
    const dir = await crashedDrone(BAD_CONFIG);

    const { store, lines } = await open(dir);

    expect(store.get(FILE)?.meta).toEqual({
      current: BAD,
      installedBy: { rollout: 'r-2', fence: 2, action: 'push' },
      previous: GOOD,
      highestFence: 2,
      fenceOwner: null,
      retired: null,
      // Metadata written before trials loads as no trial.
      trial: null,
      reverted: null,
    });
    expect(JSON.parse(await readFile(join(dir, '.agent', 'meta', FILE), 'utf8'))).toMatchObject({
      current: BAD,
      pending: null,
    });
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, file: FILE }));
  });

  test('forgets a write that never replaced the file', async () => {
    const dir = await crashedDrone(GOOD_CONFIG);

    const { store } = await open(dir);

    expect(store.get(FILE)?.meta).toMatchObject({ current: GOOD, highestFence: 1 });
    // Its intent is forgotten on disk too, so nothing refers to what it kept.
    expect(JSON.parse(await readFile(join(dir, '.agent', 'meta', FILE), 'utf8'))).toMatchObject({
      current: GOOD,
      pending: null,
    });
  });

  test('adopts content changed by hand as unmanaged, keeping the fence', async () => {
    const dir = await crashedDrone('edited = by hand\n');

    const { store } = await open(dir);

    const sha256 = sha256Hex('edited = by hand\n');
    expect(store.get(FILE)?.meta).toEqual({
      current: { version: unmanagedVersion(sha256), sha256 },
      installedBy: null,
      previous: null,
      highestFence: 1,
      fenceOwner: null,
      retired: null,
      // Metadata written before trials loads as no trial.
      trial: null,
      reverted: null,
    });
  });

  test('refuses to start on damaged metadata, naming the file and what to do', async () => {
    const dir = await crashedDrone(GOOD_CONFIG);
    await writeFile(join(dir, '.agent', 'meta', FILE), '{"current": 7}');

    await expect(open(dir)).rejects.toThrow(`${join(dir, '.agent', 'meta', FILE)} is damaged`);
  });
});
