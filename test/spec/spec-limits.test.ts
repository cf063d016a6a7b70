import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSpecText, loadPlan, SpecError } from '../../src/spec/index.js';
import { fixture } from './fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spec-limits-'));
  await mkdir(join(dir, 'configs'));
  await copyFile(fixture('configs/app.conf'), join(dir, 'configs', 'app.conf'));
  await copyFile(fixture('fleet.yaml'), join(dir, 'fleet.yaml'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function errorOf(promise: Promise<unknown>): Promise<SpecError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SpecError);
  return error as SpecError;
}

async function specWithUnknownKeys(count: number): Promise<string> {
  const path = join(dir, `unknown-${count}.yaml`);
  const valid = await import('node:fs/promises').then((fs) => fs.readFile(fixture('valid.yaml'), 'utf8'));
  await writeFile(path, valid + Array.from({ length: count }, (_, i) => `junk_key_${i}: ${i}\n`).join(''));
  return path;
}

/** The fastest of a few runs: the other engineers' tests share the cores, and only the best run measures us. */
async function fastestMs(run: () => Promise<unknown>, runs = 3): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

describe('bounded validation', () => {
  it('takes time linear in the number of keys: 20,000 unknown keys cost far less than 16 times 5,000', async () => {
    const [small, large] = [await specWithUnknownKeys(5_000), await specWithUnknownKeys(20_000)];
    await loadPlan(small).catch(() => undefined);
    const smallMs = await fastestMs(() => loadPlan(small).catch(() => undefined));
    const largeMs = await fastestMs(() => loadPlan(large).catch(() => undefined));
    expect(largeMs / smallMs).toBeLessThan(8);
    // Quadratic, this took 19.6 s.
    expect(largeMs).toBeLessThan(3_000);
  });

  it('lists 50 issues and counts the rest', async () => {
    const error = await errorOf(loadPlan(await specWithUnknownKeys(5_000)));
    expect(error.issues).toHaveLength(50);
    expect(error.unlisted).toBe(4_950);
    expect(error.issues[0]).toMatchObject({ line: 27, column: 1, key: 'junk_key_0', message: 'unknown key' });
    expect(error.message.split('\n').at(-1)).toBe('and 4,950 more issues');
  });

  it('refuses a spec over 1 MiB before reading it', async () => {
    const path = join(dir, 'huge.yaml');
    await writeFile(path, Buffer.alloc(50 * 1024 * 1024, 'a'));
    const error = await errorOf(loadPlan(path));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ line: 1, column: 1, key: '' });
    expect(error.issues[0]?.message).toMatch(
      /is 52,428,800 bytes \(50 MiB\), over the limit of 1,048,576 bytes \(1 MiB\) for a spec$/,
    );
  });

  it('refuses nesting deeper than 64 levels before the recursive YAML composer sees it', () => {
    for (const text of [
      `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `a: ${'{b: '.repeat(100)}1${'}'.repeat(100)}`,
    ]) {
      const { spec, issues } = checkSpecText(text, 'x.yaml', dir);
      expect(spec).toBeUndefined();
      expect(issues).toHaveLength(1);
      expect(issues[0]?.message).toBe('invalid YAML: nested deeper than 64 levels');
    }
  });

  it('names every repeated key at its line, in one pass', () => {
    const text = `name: x\n${Array.from({ length: 20_000 }, () => 'k: 1\n').join('')}`;
    const start = performance.now();
    const { issues } = checkSpecText(text, 'x.yaml', dir);
    expect(performance.now() - start).toBeLessThan(3_000);
    expect(issues).toHaveLength(19_999);
    expect(issues[0]).toMatchObject({ line: 3, column: 1, key: 'k', message: 'duplicate key (also on line 2)' });
  });
});
