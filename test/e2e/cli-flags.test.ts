import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';

describe('the rollout binary', () => {
  it('prints its package version with --version', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const printed = await runCli(['--version']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(`${version}\n`);
  });

  it('takes no state flags where they would do nothing', async () => {
    const schema = await runCli(['schema']);
    expect(schema.code).toBe(0);
    expect(JSON.parse(schema.stdout)).toHaveProperty('properties');
    for (const args of [['schema', '--state-dir', '/tmp/x'], ['fleet', 'sim', '--store', 'etcd://127.0.0.1:1'], ['agent', '--id', 'd', '--dir', '/tmp/x', '--state-dir', '/tmp/y']]) {
      const refused = await runCli(args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(/unknown option '--(state-dir|store)'/);
    }
  });
});
