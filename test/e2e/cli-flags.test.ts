import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
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
    for (const args of [
      ['schema', '--state-dir', '/tmp/x'],
      ['fleet', 'sim', '--store', 'etcd://127.0.0.1:1'],
      ['agent', '--id', 'd', '--dir', '/tmp/x', '--state-dir', '/tmp/y'],
    ]) {
      const refused = await runCli(args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(/unknown option '--(state-dir|store)'/);
    }
  });

  it('names a port already in use as a usage error (exit 2), with no stack trace, for the agent and the simulator', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as { port: number }).port);
    const dir = await mkdtemp(join(tmpdir(), 'rollout-port-'));
    try {
      for (const args of [
        ['agent', '--id', 'drone-1', '--dir', dir, '--port', port],
        ['fleet', 'sim', '--drones', '2', '--port', port],
      ]) {
        const refused = await runCli(args);
        expect(refused.code, args.join(' ')).toBe(2);
        expect(refused.stderr).toContain(
          `port ${port} on 127.0.0.1 is already in use; pick another port, or 0 for a free one`,
        );
        expect(refused.stderr).not.toMatch(/\n\s+at /);
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
