import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { withFileLock, type FileLockOptions } from '../../src/infra/critical-section.js';
import { hostIdentity } from '../../src/infra/host.js';
import { ROOT } from '../helpers/cli.js';

let dir: string;
let file: string;
const section: FileLockOptions = { name: 'the test file', code: 'E_STATE_STORE' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-rollout-section-'));
  file = join(dir, 'guarded.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('withFileLock', () => {
  it('never lets two sections on one file overlap, and lets every one in', async () => {
    let inside = 0;
    let most = 0;
    const entered: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        withFileLock(file, section, async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(5);
          entered.push(index);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(entered.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('answers what the work answers, and removes its marker after work that throws', async () => {
    await expect(withFileLock(file, section, async () => 42)).resolves.toBe(42);
    const failure = new Error('the work failed');
    await expect(
      withFileLock(file, section, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await readdir(dir)).toEqual([]);
  });

  it('times out with the given code, naming the file and its marker, while another process holds it', async () => {
    await mkdir(`${file}.lock`);
    const error: unknown = await withFileLock(file, { ...section, retries: 2 }, async () => undefined).catch(
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(RolloutError);
    expect(error).toMatchObject({
      code: 'E_STATE_STORE',
      message:
        `Timed out waiting for the critical section of the test file: ${file}.lock is held by another process. ` +
        `If no rollout process is running from this state dir, remove ${file}.lock`,
    });
  });

  it('breaks a marker left untouched for longer than staleMs', async () => {
    await mkdir(`${file}.lock`);
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(`${file}.lock`, longAgo, longAgo);
    await expect(withFileLock(file, { ...section, retries: 0 }, async () => 'in')).resolves.toBe('in');
  });

  it('fails at once on a missing directory, as is or as lockFailure makes it', async () => {
    const missing = join(dir, 'gone', 'guarded.json');
    await expect(withFileLock(missing, section, async () => undefined)).rejects.toMatchObject({ code: 'ENOENT' });
    const wrapped = new Error('wrapped');
    await expect(withFileLock(missing, { ...section, lockFailure: () => wrapped }, async () => undefined)).rejects.toBe(
      wrapped,
    );
  });

  it('lets the work see that another process broke in, before it commits', async () => {
    const error: unknown = await withFileLock(
      file,
      { ...section, code: 'E_LOCK_STORE', staleMs: 2_000 },
      async (assertHeld) => {
        assertHeld();
        // What a process that judged this marker stale does: removes it; the holder's next touch notices.
        await rm(`${file}.lock`, { recursive: true });
        for (let waited = 0; waited < 5_000; waited += 50) {
          await sleep(50);
          try {
            assertHeld();
          } catch (lost) {
            return lost;
          }
        }
        return undefined;
      },
    );
    expect(error).toBeInstanceOf(RolloutError);
    expect(error).toMatchObject({
      code: 'E_LOCK_STORE',
      message: expect.stringMatching(
        /^Lost the critical section of the test file \(.+\); nothing was written, try again$/u,
      ),
    });
  });

  describe('a marker that names its holder', () => {
    /** A pid no process has any more: a child that has already exited. */
    const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;
    const markerOf = (owner: { host: string; bootId: string; pid: number }) =>
      writeFile(`${file}.lock`, JSON.stringify(owner));
    const ownerOfMarker = async () => JSON.parse(await readFile(`${file}.lock`, 'utf8')) as unknown;

    it('held by a dead process of this host and boot, is broken at once, leaving nothing behind', async () => {
      await markerOf({ ...hostIdentity(), pid: deadPid() });
      await expect(withFileLock(file, { ...section, retries: 0 }, async () => 'in')).resolves.toBe('in');
      expect(await readdir(dir)).toEqual([]);
    });

    it('held by a process of this host from before a reboot, is broken at once', async () => {
      await markerOf({ ...hostIdentity(), bootId: 'an-earlier-boot', pid: process.pid });
      await expect(withFileLock(file, { ...section, retries: 0 }, async () => 'in')).resolves.toBe('in');
    });

    it('held by a live process, or by one on another host, is waited for and left as it is', async () => {
      for (const owner of [
        { ...hostIdentity(), pid: process.pid },
        { ...hostIdentity(), host: 'hangar-2', pid: deadPid() },
      ]) {
        await markerOf(owner);
        await expect(withFileLock(file, { ...section, retries: 2 }, async () => 'in')).rejects.toMatchObject({
          code: 'E_STATE_STORE',
        });
        expect(await ownerOfMarker()).toEqual(owner);
        await rm(`${file}.lock`);
      }
    });

    it('of another host, left untouched for longer than staleMs, is broken', async () => {
      await markerOf({ ...hostIdentity(), host: 'hangar-2', pid: 1 });
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(`${file}.lock`, longAgo, longAgo);
      await expect(withFileLock(file, { ...section, retries: 0 }, async () => 'in')).resolves.toBe('in');
      expect(await readdir(dir)).toEqual([]);
    });

    it("is touched while held: a section longer than staleMs is still its holder's", async () => {
      const held = await withFileLock(file, { ...section, staleMs: 1_000 }, async (assertHeld) => {
        await sleep(1_300);
        assertHeld();
        const marker = await stat(`${file}.lock`);
        expect(Date.now() - marker.mtimeMs).toBeLessThan(1_000);
        return ownerOfMarker();
      });
      expect(held).toEqual({ ...hostIdentity(), pid: process.pid });
    });

    it('left by a process SIGKILLed inside its section is taken over without waiting', async () => {
      const module = pathToFileURL(join(ROOT, 'dist', 'infra', 'critical-section.js')).href;
      const holder = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { withFileLock } = await import(${JSON.stringify(module)});
           await withFileLock(${JSON.stringify(file)}, { name: 'x', code: 'E_STATE_STORE' }, async () => {
             process.stdout.write('inside\\n');
             await new Promise(() => setInterval(() => undefined, 1_000));
           });`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await once(holder.stdout, 'data');
      holder.kill('SIGKILL');
      await once(holder, 'exit');
      await expect(withFileLock(file, { ...section, retries: 0 }, async () => 'in')).resolves.toBe('in');
    });
  });
});
