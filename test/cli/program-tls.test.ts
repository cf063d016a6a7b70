import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main, type Commands } from '../../src/cli/program.js';
import { recordingCommands, type RecordedCall } from '../helpers/recorded-commands.js';

/** argv → options of the TLS and token flags: every command replaced by one that records what it was given. */
describe('the command line: TLS and token flags', () => {
  let calls: RecordedCall[];
  let commands: Commands;

  const run = (...args: string[]) => main(['node', 'rollout', ...args], commands);

  beforeEach(() => {
    calls = [];
    commands = recordingCommands(calls);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    vi.stubEnv('ROLLOUT_STATE_DIR', '');
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('passes --ca-file, --client-cert and --client-key to run, plan and resume as they are written', async () => {
    const tls = ['--ca-file', 'ca.pem', '--client-cert', 'client.pem', '--client-key', 'client.key'];
    expect(await run('run', 's.yaml', ...tls, '--token-file', 't')).toBe(0);
    expect(await run('plan', 's.yaml', ...tls)).toBe(0);
    expect(await run('resume', 'r-1', ...tls, '--token-file', 't')).toBe(0);
    expect(await run('resume', 'r-2')).toBe(0);

    const expected = { caFile: 'ca.pem', clientCert: 'client.pem', clientKey: 'client.key' };
    expect(calls.map((call) => call.command)).toEqual(['run', 'plan', 'resume', 'resume']);
    expect(calls[0]?.options).toMatchObject({ spec: 's.yaml', tokenFile: 't', ...expected });
    expect(calls[1]?.options).toMatchObject({ spec: 's.yaml', ...expected });
    expect(calls[2]?.options).toMatchObject({ id: 'r-1', tokenFile: 't', rollback: false, ...expected });
    expect(calls[3]?.options).not.toHaveProperty('caFile');
    expect(calls[3]?.options).not.toHaveProperty('clientCert');
  });

  it('gives agent and fleet sim every --token-file, in order, and their TLS files', async () => {
    const tls = ['--tls-cert', 'cert.pem', '--tls-key', 'key.pem', '--client-ca', 'ca.pem'];
    expect(await run('agent', '--id', 'd', '--dir', 'x', '--token-file', 'old', '--token-file', 'new', ...tls)).toBe(0);
    expect(await run('fleet', 'sim', '--token-file', 'old', ...tls)).toBe(0);
    expect(await run('fleet', 'sim')).toBe(0);

    const files = { tlsCert: 'cert.pem', tlsKey: 'key.pem', clientCa: 'ca.pem' };
    expect(calls[0]?.options).toMatchObject({ id: 'd', tokenFiles: ['old', 'new'], ...files });
    expect(calls[0]?.options).not.toHaveProperty('tokenFile');
    expect(calls[1]?.options).toMatchObject({ tokenFiles: ['old'], ...files });
    expect(calls[2]?.options).toMatchObject({ tokenFiles: [] });
    expect(calls[2]?.options).not.toHaveProperty('tlsCert');
  });

  it('refuses the orchestrator TLS flags on agent and sim, and the server ones on run', async () => {
    expect(await run('agent', '--id', 'd', '--dir', 'x', '--ca-file', 'ca.pem')).toBe(2);
    expect(await run('fleet', 'sim', '--client-cert', 'c.pem')).toBe(2);
    expect(await run('run', 's.yaml', '--tls-cert', 'cert.pem')).toBe(2);
    expect(calls).toEqual([]);
  });
});
