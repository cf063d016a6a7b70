import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main, type Commands } from '../../src/cli/program.js';
import { recordingCommands, type RecordedCall } from '../helpers/recorded-commands.js';

/** argv → options: every command replaced by one that records what it was given. */
describe('the command line', () => {
  let calls: RecordedCall[];
  let commands: Commands;

  const run = (...args: string[]) => main(['node', 'rollout', ...args], commands);

  beforeEach(() => {
    calls = [];
    commands = recordingCommands(calls);
    // Commander's own usage errors would clutter the test output.
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    vi.stubEnv('ROLLOUT_STATE_DIR', '');
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('passes --clock-offset to fleet sim as clockOffsetMs, negative values included', async () => {
    expect(await run('fleet', 'sim', '--clock-offset=-300000')).toBe(0);
    expect(await run('fleet', 'sim', '--clock-offset', '-5', '--drones', '3')).toBe(0);
    expect(await run('fleet', 'sim')).toBe(0);
    expect(calls.map((call) => call.options['clockOffsetMs'])).toEqual([-300000, -5, undefined]);
    expect(calls[1]?.options).toMatchObject({ drones: 3, output: 'text', logLevel: 'error' });
    expect(await run('fleet', 'sim', '--clock-offset', '1.5')).toBe(2);
    expect(await run('fleet', 'sim', '--clock-offset=soon')).toBe(2);
  });

  it('maps ui and report: loopback port 7300 and read-only by default; md, html, --out', async () => {
    expect(await run('ui')).toBe(0);
    expect(await run('ui', '--port', '0', '--host', '0.0.0.0', '--allow-actions')).toBe(0);
    expect(calls.map((call) => [call.options['port'], call.options['host'], call.options['allowActions']])).toEqual([
      [7300, '127.0.0.1', false],
      [0, '0.0.0.0', true],
    ]);
    expect(await run('report', 'r-1')).toBe(0);
    expect(await run('report', 'r-1', '--format', 'html', '--out', 'r.html')).toBe(0);
    expect(calls.slice(2).map((call) => [call.options['id'], call.options['format'], call.options['out']])).toEqual([
      ['r-1', undefined, undefined],
      ['r-1', 'html', 'r.html'],
    ]);
    expect(await run('report', 'r-1', '--format', 'pdf')).toBe(2);
    expect(await run('ui', '--port', '-1')).toBe(2);
  });

  it('gives schema no flags, and agent and fleet sim only --output and --log-level', async () => {
    expect(await run('schema')).toBe(0);
    expect(calls[0]).toEqual({ command: 'schema', options: {} });
    for (const args of [
      ['schema', '--output', 'json'],
      ['schema', '--state-dir', 'x'],
      ['agent', '--id', 'd', '--dir', 'x', '--state-dir', 'y'],
      ['agent', '--id', 'd', '--dir', 'x', '--store', 'etcd://h:1'],
      ['fleet', 'sim', '--store', 'etcd://h:1'],
      ['fleet', 'sim', '--state-dir', 'y'],
    ]) {
      expect(await run(...args)).toBe(2);
    }
    expect(await run('agent', '--id', 'd', '--dir', 'x', '--output', 'json', '--log-level', 'info')).toBe(0);
    expect(calls[1]?.options).toMatchObject({ id: 'd', dir: 'x', output: 'json', logLevel: 'info' });
    expect(calls[1]?.options).not.toHaveProperty('stateDir');
  });

  it('finds the state dir: --state-dir, else $ROLLOUT_STATE_DIR, both relative to the cwd', async () => {
    await run('lock', 'ls', '--state-dir', 'here');
    vi.stubEnv('ROLLOUT_STATE_DIR', '/srv/rollout-state');
    await run('history');
    await run('status', '--state-dir', '/flag/wins');
    expect(calls.map((call) => call.options['stateDir'])).toEqual([
      join(process.cwd(), 'here'),
      '/srv/rollout-state',
      '/flag/wins',
    ]);
  });

  it('reads history --prune as an age with days or a count, and refuses anything else', async () => {
    await run('history', '--prune', '30d');
    await run('history', '--prune', '50');
    await run('history');
    expect(calls.map((call) => call.options['prune'])).toEqual([
      { kind: 'age', ms: 30 * 86_400_000 },
      { kind: 'count', keep: 50 },
      undefined,
    ]);
    expect(await run('history', '--prune', '30days')).toBe(2);
    expect(calls).toHaveLength(3);
  });
});
