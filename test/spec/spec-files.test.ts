import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { confinedPath, readInputFile } from '../../src/spec/spec-files.js';

const LIMIT = { what: 'a test file', limit: 1024 };

let dir: string;
let outside: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'spec-files-')));
  outside = await realpath(await mkdtemp(join(tmpdir(), 'spec-files-outside-')));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

function problemOf(
  result: { readonly problem: string } | { readonly bytes: Buffer } | { readonly path: string },
): string {
  expect(result).toHaveProperty('problem');
  return (result as { problem: string }).problem;
}

describe('readInputFile', () => {
  it('reads a regular file under the limit', async () => {
    await writeFile(join(dir, 'a.conf'), 'x = 1\n');
    expect(await readInputFile(join(dir, 'a.conf'), LIMIT)).toEqual({ bytes: Buffer.from('x = 1\n') });
  });

  it('refuses devices that never end, without reading them', async () => {
    expect(problemOf(await readInputFile('/dev/zero', LIMIT))).toMatch(/^is a device, not a regular file/);
    expect(problemOf(await readInputFile('/dev/urandom', LIMIT))).toMatch(/^is a device, not a regular file/);
  });

  it('refuses a FIFO without waiting for a writer', async () => {
    const fifo = join(dir, 'pipe.conf');
    execFileSync('mkfifo', [fifo]);
    expect(problemOf(await readInputFile(fifo, LIMIT))).toMatch(/^is a FIFO, not a regular file/);
  });

  it('refuses a directory and names a missing file', async () => {
    expect(problemOf(await readInputFile(dir, LIMIT))).toMatch(/^is a directory, not a regular file/);
    expect(problemOf(await readInputFile(join(dir, 'nope'), LIMIT))).toMatch(/^file not found: /);
  });

  it('refuses a file over the limit, naming its size and the limit', async () => {
    await writeFile(join(dir, 'big.conf'), Buffer.alloc(1025, 'a'));
    expect(problemOf(await readInputFile(join(dir, 'big.conf'), LIMIT))).toMatch(
      /is 1,025 bytes, over the limit of 1,024 bytes for a test file$/,
    );
    await writeFile(join(dir, 'exact.conf'), Buffer.alloc(1024, 'a'));
    expect(await readInputFile(join(dir, 'exact.conf'), LIMIT)).toHaveProperty('bytes');
  });
});

describe('confinedPath', () => {
  it("gives the real path of a file inside the spec's folder", async () => {
    await mkdir(join(dir, 'configs'));
    await writeFile(join(dir, 'configs', 'a.conf'), 'x');
    await symlink(join(dir, 'configs', 'a.conf'), join(dir, 'link.conf'));
    expect(await confinedPath(dir, 'configs/a.conf')).toEqual({ path: join(dir, 'configs', 'a.conf') });
    expect(await confinedPath(dir, 'link.conf')).toEqual({ path: join(dir, 'configs', 'a.conf') });
  });

  it('refuses paths leading out of the folder, before looking at them', async () => {
    expect(problemOf(await confinedPath(dir, '../../../../etc/shadow'))).toMatch(
      /^must be inside the spec's folder .*, got "..\/..\/..\/..\/etc\/shadow"/,
    );
    expect(problemOf(await confinedPath(dir, '/etc/passwd'))).toMatch(/got "\/etc\/passwd"/);
  });

  it('refuses a symlink to a file outside, and a file under a symlinked folder outside', async () => {
    await writeFile(join(outside, 'secret'), 'x');
    await symlink(join(outside, 'secret'), join(dir, 'secret.conf'));
    await symlink(outside, join(dir, 'configs'));
    expect(problemOf(await confinedPath(dir, 'secret.conf'))).toMatch(
      new RegExp(`which resolves to ${outside}/secret`),
    );
    expect(problemOf(await confinedPath(dir, 'configs/secret'))).toMatch(
      new RegExp(`which resolves to ${outside}/secret`),
    );
  });

  it('works from a spec folder reached through a symlink', async () => {
    await writeFile(join(outside, 'a.conf'), 'x');
    const linkedDir = join(dir, 'linked');
    await symlink(outside, linkedDir);
    expect(await confinedPath(linkedDir, 'a.conf')).toEqual({ path: join(outside, 'a.conf') });
  });
});
