import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, tempDir, type CliResult, type SimProcess } from '../helpers/cli.js';
import { fixture } from '../spec/fixtures.js';
import { copyRollouts, FUZZ_SEED, mutatedSpec } from '../spec/spec-mutations.js';

/*
 * What a CI job validating other people's specs runs into, through the real CLI: paths leading out of
 * the spec's folder, files that never end, inputs too large, secrets in URLs. Each is exit 2 with an
 * issue naming the file, line, column and key.
 */

interface Issue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly key: string;
  readonly message: string;
}

let work: { path: string; remove(): Promise<void> };
let outside: { path: string; remove(): Promise<void> };
let valid: string;

beforeAll(async () => {
  work = await tempDir('spec-inputs-');
  outside = await tempDir('spec-inputs-outside-');
  valid = await readFile(fixture('valid.yaml'), 'utf8');
  await mkdir(join(work.path, 'configs'));
  await copyFile(fixture('configs/app.conf'), join(work.path, 'configs', 'app.conf'));
  await copyFile(fixture('fleet.yaml'), join(work.path, 'fleet.yaml'));
  await writeFile(join(outside.path, 'secret.conf'), 'password = hunter2\n');
  await copyFile(fixture('fleet.yaml'), join(outside.path, 'fleet.yaml'));
});
afterAll(async () => {
  await work.remove();
  await outside.remove();
});

/** valid.yaml (line 4: `  source: configs/app.conf`, line 7: `  inventory: fleet.yaml`) with its paths changed. */
async function specWith(name: string, paths: { source?: string; inventory?: string; text?: string }): Promise<string> {
  const path = join(work.path, name);
  const text = (paths.text ?? valid)
    .replace('source: configs/app.conf', `source: ${paths.source ?? 'configs/app.conf'}`)
    .replace('inventory: fleet.yaml', `inventory: ${paths.inventory ?? 'fleet.yaml'}`);
  await writeFile(path, text);
  return path;
}

async function validate(spec: string, ...args: string[]): Promise<CliResult & { readonly issues: readonly Issue[] }> {
  const result = await runCli(['validate', spec, '--output', 'json', ...args], { cwd: work.path });
  const issues = result.code === 2 ? ((JSON.parse(result.stdout) as { issues?: Issue[] }).issues ?? []) : [];
  return { ...result, issues };
}

function noStackTrace(result: CliResult): void {
  expect(result.stderr).not.toMatch(/^ {4}at /m);
}

describe('config.source and fleet.inventory stay inside the spec folder', () => {
  it.each([
    ['a relative path climbing out', '../../../../etc/shadow'],
    ['an absolute path', '/etc/passwd'],
  ])('%s is exit 2 naming config.source at its line', async (_, source) => {
    const result = await validate(await specWith(`out-${source.length}.yaml`, { source }));
    expect(result.code, result.stderr).toBe(2);
    expect(result.issues).toEqual([expect.objectContaining({ line: 4, column: 11, key: 'config.source' })]);
    expect(result.issues[0]?.message).toMatch(/^must be inside the spec's folder/);
    expect(result.stderr).toMatch(/^out-\d+\.yaml:4:11 config\.source: must be inside the spec's folder/m);
    noStackTrace(result);
  });

  it('a symlink to a file outside, and a file in a symlinked folder outside, are exit 2', async () => {
    await symlink(join(outside.path, 'secret.conf'), join(work.path, 'configs', 'linked.conf'));
    await symlink(outside.path, join(work.path, 'linked-dir'));
    for (const source of ['configs/linked.conf', 'linked-dir/secret.conf']) {
      const result = await validate(await specWith('linked.yaml', { source }));
      expect(result.code, result.stderr).toBe(2);
      expect(result.issues).toEqual([expect.objectContaining({ line: 4, key: 'config.source' })]);
      expect(result.issues[0]?.message).toMatch(/which resolves to .*secret\.conf/);
    }
  });

  it("the spec's fleet.inventory outside is exit 2; the same file given with --inventory is the user's choice", async () => {
    const spec = await specWith('inventory-out.yaml', { inventory: join(outside.path, 'fleet.yaml') });
    const refused = await validate(spec);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.issues).toEqual([expect.objectContaining({ line: 7, column: 14, key: 'fleet.inventory' })]);
    const allowed = await validate(spec, '--inventory', join(outside.path, 'fleet.yaml'));
    expect(allowed.code, allowed.stderr).toBe(0);
  });
});

describe('only regular files are read, and only so much', () => {
  it('a FIFO as config.source, /dev/zero as --inventory and /dev/urandom as the spec end at once with exit 2', async () => {
    execFileSync('mkfifo', [join(work.path, 'configs', 'pipe.conf')]);
    const fifo = await validate(await specWith('fifo.yaml', { source: 'configs/pipe.conf' }));
    expect(fifo.code, fifo.stderr).toBe(2);
    expect(fifo.issues).toEqual([
      expect.objectContaining({
        line: 4,
        key: 'config.source',
        message: 'is a FIFO, not a regular file: configs/pipe.conf',
      }),
    ]);

    const zero = await validate(await specWith('zero.yaml', {}), '--inventory', '/dev/zero');
    expect(zero.code, zero.stderr).toBe(2);
    expect(zero.issues).toEqual([
      expect.objectContaining({ file: '/dev/zero', key: '', message: 'is a device, not a regular file: /dev/zero' }),
    ]);

    const random = await validate('/dev/urandom');
    expect(random.code, random.stderr).toBe(2);
    expect(random.issues[0]?.message).toBe('cannot read the spec: is a device, not a regular file: /dev/urandom');
  });

  it('a config over the 1 MiB a drone accepts is exit 2 at validate time, naming its size and the limit', async () => {
    await writeFile(join(work.path, 'configs', 'big.conf'), Buffer.alloc(1_500_000, 'a'));
    const big = await validate(await specWith('big.yaml', { source: 'configs/big.conf' }));
    expect(big.code, big.stderr).toBe(2);
    expect(big.issues).toEqual([expect.objectContaining({ line: 4, key: 'config.source' })]);
    expect(big.issues[0]?.message).toMatch(
      /is 1,500,000 bytes \(1\.4 MiB\), over the limit of 1,048,576 bytes \(1 MiB\)/,
    );

    // Under 1 MiB on disk, but every quote doubles as \" in the push.
    await writeFile(join(work.path, 'configs', 'quotes.conf'), '"'.repeat(600_000));
    const escaped = await validate(await specWith('quotes.yaml', { source: 'configs/quotes.conf' }));
    expect(escaped.code, escaped.stderr).toBe(2);
    expect(escaped.issues[0]?.message).toMatch(
      /makes a push of 1,200,\d{3} bytes \(1\.1 MiB\), over the limit of 1,048,576 bytes \(1 MiB\)/,
    );
  });
});

describe('size limits and linear time', () => {
  it('a 50 MB spec is refused before parsing: exit 2, under a second beyond starting the CLI', async () => {
    const huge = join(work.path, 'huge.yaml');
    await writeFile(huge, `name: x\n${'junk: 1\n'.repeat(6_553_600)}`);
    const timed = async (spec: string) => {
      const start = performance.now();
      const result = await validate(spec);
      return { result, ms: performance.now() - start };
    };
    // The CLI's own start-up is measured on a valid spec, so a loaded machine does not fail the test.
    const baseline = await timed(fixture('valid.yaml'));
    const refused = await timed(huge);
    expect(baseline.result.code, baseline.result.stderr).toBe(0);
    expect(refused.result.code, refused.result.stderr).toBe(2);
    expect(refused.result.issues[0]?.message).toMatch(
      /is 52,428,808 bytes \(50\.0 MiB\), over the limit of 1,048,576 bytes \(1 MiB\) for a spec$/,
    );
    expect(refused.ms - baseline.ms).toBeLessThan(1_000);
  });

  it('5,000 problems print 50 lines and one counting the rest', async () => {
    const spec = await specWith('many.yaml', {
      text: `${valid}${Array.from({ length: 5_000 }, (_, i) => `junk_${i}: ${i}\n`).join('')}`,
    });
    const result = await runCli(['validate', spec], { cwd: work.path });
    expect(result.code, result.stderr).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(51);
    expect(lines[0]).toBe('many.yaml:27:1 junk_0: unknown key');
    expect(lines.at(-1)).toBe('and 4,950 more issues');
  });

  it('SIGTERM ends a validate at once', async () => {
    const spec = await specWith('many-more.yaml', {
      text: `${valid}${Array.from({ length: 50_000 }, (_, i) => `k${i}: ${i}\n`).join('')}`,
    });
    const cli = startCli(['validate', spec], { cwd: work.path });
    cli.child.once('spawn', () => cli.child.kill('SIGTERM'));
    const result = await cli.done;
    expect(result.signal).toBe('SIGTERM');
  });
});

describe('inventory URLs', () => {
  const inventory = [
    'drones:',
    '  - { id: d1, url: http://127.0.0.1:7100/d/d1, labels: { group: patrol } }',
    '  - { id: d2, url: http://127.0.0.1:7100/d/d2, labels: { group: patrol } }',
    '  - { id: d3, url: http://127.0.0.1:7100/d/d3, labels: { group: patrol } }',
    '  - { id: d4, url: "http://op:hunter2@127.0.0.1:7100/d/d4", labels: { group: patrol } }',
    '  - { id: d5, url: "file:///etc/passwd", labels: { group: patrol } }',
    '  - { id: d6, url: "http://127.0.0.1:7100/d/d6?token=s3cr3t", labels: { group: patrol } }',
    '',
  ].join('\n');

  it('a user:password@ URL, or one with a query, is exit 2 from validate and plan, naming the file, line and key, never the secret', async () => {
    await writeFile(join(work.path, 'creds.yaml'), inventory);
    const spec = await specWith('creds-spec.yaml', { inventory: 'creds.yaml' });
    for (const command of ['validate', 'plan']) {
      const result = await runCli([command, spec, '--output', 'json', '--state-dir', join(work.path, '.rollout')], {
        cwd: work.path,
      });
      expect(result.code, result.stderr).toBe(2);
      const { issues } = JSON.parse(result.stdout) as { issues: Issue[] };
      expect(issues.map(({ file, line, column, key }) => `${file}:${line}:${column} ${key}`)).toEqual([
        'creds.yaml:5:20 drones[3].url',
        'creds.yaml:6:20 drones[4].url',
        'creds.yaml:7:20 drones[5].url',
      ]);
      expect(issues[0]?.message).toMatch(
        /^must not carry a user or password, got "http:\/\/op:\*\*\*@127\.0\.0\.1:7100\/d\/d4"; .*--token-file/,
      );
      expect(issues[1]?.message).toMatch(/^must be an http:\/\/ or https:\/\/ URL/);
      expect(issues[2]?.message).toMatch(/^must be the agent's base URL, without a query or fragment/);
      expect(`${result.stdout}${result.stderr}`).not.toContain('hunter2');
      expect(`${result.stdout}${result.stderr}`).not.toContain('s3cr3t');
      noStackTrace(result);
    }
  });
});

describe('durations in the spec units', () => {
  let sim: SimProcess;
  beforeAll(async () => {
    sim = await startSimProcess(['--drones', '4']);
  });
  afterAll(() => sim.stop());

  it('plan warns in 500ms and 1s, and counts one drone as one drone; validate prints bakes the same way', async () => {
    const text = valid
      .replace('percent: 25', 'drones: 1')
      .replace('interval: 2s', 'interval: 1s')
      .replace('min_samples: 5', 'min_samples: 1000')
      .replace('selector: { group: patrol }', 'selector: {}');
    const spec = await specWith('units.yaml', { text });
    const plan = await runCli(
      ['plan', spec, '--inventory', sim.inventory, '--output', 'json', '--state-dir', join(work.path, '.rollout')],
      {
        cwd: work.path,
      },
    );
    const { warnings } = JSON.parse(plan.stdout) as { warnings: string[] };
    expect(warnings).toContain(
      'canary: bake 500ms is shorter than analysis.interval 1s, so it runs one short interval',
    );
    expect(warnings.find((w) => w.startsWith('canary: about'))).toMatch(
      /^canary: about \d+ canary samples? per interval \(1 drone at [\d.]+\/s over 500ms\)/,
    );
    const shown = await runCli(['validate', spec, '--inventory', sim.inventory], { cwd: work.path });
    expect(shown.stdout).toMatch(/canary +1 drone +→ 25% {2}bake 500ms/);
    expect(shown.stdout).toMatch(/wave 1 .* bake 1s/);
  });
});

describe('mutated shipped specs through the real CLI', () => {
  it('exit 0 or 2, and never a stack trace', async () => {
    const dir = join(work.path, 'fuzz');
    await mkdir(dir);
    const texts = await copyRollouts(dir);
    // The 2,000 in-process runs of test/spec/spec-fuzz.test.ts cover the validator; these cover the
    // process boundary: how the real CLI reports what the validator throws.
    const samples = fc.sample(mutatedSpec(texts), { seed: FUZZ_SEED, numRuns: 12 });
    const paths = await Promise.all(
      samples.map(async ({ text }, index) => {
        const path = join(dir, `mutated-${index}.yaml`);
        await writeFile(path, text);
        return path;
      }),
    );
    // Two at a time: the machine has two cores.
    for (let i = 0; i < paths.length; i += 2) {
      const results = await Promise.all(paths.slice(i, i + 2).map((path) => runCli(['validate', path], { cwd: dir })));
      for (const result of results) {
        expect([0, 2], result.stderr).toContain(result.code);
        noStackTrace(result);
      }
    }
  });
});
