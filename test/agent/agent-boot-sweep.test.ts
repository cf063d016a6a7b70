import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { sha256Hex } from '../../src/agent/checksum.js';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, pushBody } from './helpers.js';

const agents = agentFixture();
afterEach(agents.cleanup);

/** A pid no process has: the kernel's pid_max is far below it. */
const DEAD_PID = 2_147_483_646;
/** As large as the configs whose interrupted writes filled a drone's disk. */
const BIG = 'x'.repeat(800 * 1024);

const sorted = async (path: string): Promise<string[]> => (await readdir(path)).sort();

describe('boot after a crash mid-write', () => {
  test('removes temp files of dead writers and kept contents nothing refers to; the configs still read and roll back', async () => {
    const first = await agents.start();
    await call(
      first.url,
      'PUT',
      `/v1/configs/${FILE}`,
      pushBody(GOOD_CONFIG, { rollout: 'r-1', fence: 1, version: 'v43' }),
    );
    await call(
      first.url,
      'PUT',
      `/v1/configs/${FILE}`,
      pushBody(BAD_CONFIG, { rollout: 'r-2', fence: 2, version: 'v44' }),
    );
    await first.close();
    const dir = first.dir;
    const agentDir = join(dir, '.agent');
    // What a killed agent leaves: one temp file per folder it was writing to, and a copy it kept for a push that never committed.
    const orphans = [
      join(dir, `.tmp-${DEAD_PID}-1`),
      join(agentDir, `.tmp-${DEAD_PID}-2`),
      join(agentDir, 'meta', `.tmp-${DEAD_PID}-3`),
      join(agentDir, 'blobs', `.tmp-${DEAD_PID}-4`),
    ];
    await mkdir(join(agentDir, 'locks'), { recursive: true });
    orphans.push(join(agentDir, 'locks', `.tmp-${DEAD_PID}-5`));
    for (const orphan of orphans) await writeFile(orphan, BIG);
    await writeFile(join(agentDir, 'blobs', sha256Hex(BIG)), BIG);
    // A live process's write in progress is not ours to remove.
    const live = `.tmp-${process.pid}-999999`;
    await writeFile(join(dir, live), 'in progress');

    const second = await agents.start({ dir });

    expect(await sorted(dir)).toEqual([live, '.agent', FILE].sort());
    expect(await sorted(agentDir)).toEqual(['blobs', 'locks', 'meta']);
    expect(await sorted(join(agentDir, 'meta'))).toEqual([FILE]);
    expect(await sorted(join(agentDir, 'locks'))).toEqual([]);
    expect(await sorted(join(agentDir, 'blobs'))).toEqual([sha256Hex(GOOD_CONFIG)]);
    expect((await call(second.url, 'GET', '/v1/health')).body.configs).toMatchObject({
      [FILE]: { version: 'v44', sha256: sha256Hex(BAD_CONFIG), lock: 'free', fence: 2 },
    });
    const rolledBack = await call(second.url, 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-2', fence: 2 });
    expect(rolledBack.body).toMatchObject({ version: 'v43', sha256: sha256Hex(GOOD_CONFIG), restored: true });
    expect(await readFile(join(dir, FILE), 'utf8')).toBe(GOOD_CONFIG);
  });

  test("keeps the kept content of every config's previous version, and the live files", async () => {
    const first = await agents.start();
    for (const [index, file] of ['a.conf', 'b.conf'].entries()) {
      await call(first.url, 'PUT', `/v1/configs/${file}`, pushBody(`${file} = 1\n`, { fence: 1 + index * 2 }));
      await call(
        first.url,
        'PUT',
        `/v1/configs/${file}`,
        pushBody(`${file} = 2\n`, { fence: 2 + index * 2, version: 'v44' }),
      );
    }
    await first.close();

    const second = await agents.start({ dir: first.dir });

    expect(await sorted(join(first.dir, '.agent', 'blobs'))).toEqual(
      [sha256Hex('a.conf = 1\n'), sha256Hex('b.conf = 1\n')].sort(),
    );
    for (const file of ['a.conf', 'b.conf']) {
      expect(
        (await call(second.url, 'POST', `/v1/configs/${file}/rollback`, { rollout: 'r-1', fence: 4 })).body,
      ).toMatchObject({ restored: true });
      expect(await readFile(join(first.dir, file), 'utf8')).toBe(`${file} = 1\n`);
    }
  });
});
