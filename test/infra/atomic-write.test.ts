import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, type AtomicWriteOptions } from '../../src/infra/atomic-write.js';

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-rollout-atomic-'));
  path = join(dir, 'state.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The names in `dir` just before the write commits: its temp file among them. */
async function namesBeforeCommit(options: AtomicWriteOptions = {}): Promise<string[]> {
  let names: string[] = [];
  await writeFileAtomic(path, 'new', {
    ...options,
    beforeCommit: () => {
      names = readdirSync(dir).sort();
    },
  });
  return names;
}

describe('writeFileAtomic', () => {
  it('replaces the content and leaves no temp file', async () => {
    await writeFile(path, 'old');
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('writes bytes as they are', async () => {
    await writeFileAtomic(path, Uint8Array.from([0, 255, 10]), { durable: false });
    expect([...(await readFile(path))]).toEqual([0, 255, 10]);
  });

  it('writes an iterable of strings piece by piece, each to its end', async () => {
    const pieces = ['{\n', 'é'.repeat(700_000), '\n', 'x'.repeat(1 << 20), '}\n'];
    await writeFileAtomic(path, pieces.values(), { durable: false });
    expect(await readFile(path, 'utf8')).toBe(pieces.join(''));
  });

  it('fails, and leaves the old file, when the disk takes only part of the pieces', async () => {
    await writeFile(path, 'old');
    // A file size limit of 1 MB: the write of the last piece stops short of its end, then fails (EFBIG).
    const module = resolve(import.meta.dirname, '../../dist/infra/atomic-write.js');
    const script = `import { writeFileAtomic } from ${JSON.stringify(module)};
      const pieces = ['a'.repeat(600_000), 'b'.repeat(600_000)];
      await writeFileAtomic(process.argv[1], pieces.values()).then(
        () => console.log('written'),
        (error) => console.log(error.code),
      );`;
    const { stdout } = await promisify(execFile)('bash', [
      '-c',
      'ulimit -f 1024 && exec "$0" --input-type=module -e "$1" "$2"',
      process.execPath,
      script,
      path,
    ]);
    expect(stdout.trim()).toBe('EFBIG');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('writes its temp file beside the target, under a dot name by default or the given one', async () => {
    expect(await namesBeforeCommit()).toEqual([
      expect.stringMatching(new RegExp(`^\\.state\\.json\\.${process.pid}\\.\\d+\\.tmp$`, 'u')),
    ]);
    const named = await namesBeforeCommit({ tempName: (name, sequence) => `.t-${name}-${sequence}` });
    expect(named).toEqual([expect.stringMatching(/^\.t-state\.json-\d+$/u), 'state.json']);
  });

  it("passes over a dead writer's temp file that has its temp name, and leaves that file alone", async () => {
    // A killed process with the same pid (a container's pid 1, say) left every name this one would try next.
    const leftovers = Array.from({ length: 5 }, (_, i) => `.t-${i}`);
    for (const name of leftovers) await writeFile(join(dir, name), 'a dead writer');
    let tried = 0;
    await writeFileAtomic(path, 'new', { tempName: () => `.t-${Math.min(tried++, 5)}` });
    expect(await readFile(path, 'utf8')).toBe('new');
    expect((await readdir(dir)).sort()).toEqual([...leftovers, 'state.json']);
    for (const name of leftovers) expect(await readFile(join(dir, name), 'utf8')).toBe('a dead writer');
  });

  it('leaves the old file and no temp file when the write fails before the rename', async () => {
    await writeFile(path, 'old');
    const lost = new Error('lost the section');
    await expect(
      writeFileAtomic(path, 'new', {
        beforeCommit: () => {
          throw lost;
        },
      }),
    ).rejects.toBe(lost);
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('leaves no temp file when the rename fails', async () => {
    await mkdir(join(path, 'in-the-way'), { recursive: true });
    await expect(writeFileAtomic(path, 'new')).rejects.toMatchObject({
      code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST|EPERM)$/u),
    });
    expect(await readdir(dir)).toEqual(['state.json']);
    expect(await readdir(path)).toEqual(['in-the-way']);
  });

  it('fails with ENOENT in a missing directory unless told to create it', async () => {
    const nested = join(dir, 'a', 'b', 'file');
    await expect(writeFileAtomic(nested, 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual([]);
    await writeFileAtomic(nested, 'x', { createDir: true });
    expect(await readFile(nested, 'utf8')).toBe('x');
  });

  it('with exclusive, creates a missing file but leaves an existing one, and no temp file either way', async () => {
    await writeFileAtomic(path, 'first', { exclusive: true });
    await expect(writeFileAtomic(path, 'second', { exclusive: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'utf8')).toBe('first');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('never lets a reader see a partial file while writes go on', async () => {
    const versions = Array.from({ length: 20 }, (_, index) => `${String(index)}:${'x'.repeat(64 * 1024)}`);
    await writeFileAtomic(path, versions[0] ?? '');
    let writing = true;
    const reads: string[] = [];
    // A named function, not an IIFE: TS reads an IIFE's body as inline code, where `writing` is still `true`.
    const readWhileWriting = async () => {
      while (writing) reads.push(await readFile(path, 'utf8'));
    };
    const reader = readWhileWriting();
    for (const version of versions) await writeFileAtomic(path, version, { durable: false });
    writing = false;
    await reader;
    for (const read of reads) expect(versions).toContain(read);
  });
});
