import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { Children, sendText, startAgentProcess, tempDirPerTest, within, type AgentProcess } from '../helpers/fleet.js';
import { createTestPki, httpsJson, httpsText, type TestPki } from '../helpers/tls.js';

/** `rollout agent` as a real process: two tokens while one is rotated, HTTPS, mutual TLS. */

/** No token from the environment, whatever the shell running the tests has. */
const NO_TOKEN_ENV = { ...process.env, ROLLOUT_TOKEN: '' };

function startAgent(args: readonly string[]): Promise<AgentProcess> {
  return startAgentProcess(['--id', 'd1', '--log-level', 'warn', ...args], { env: NO_TOKEN_ENV });
}

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki('e2e-agent-tls-');
});
afterAll(async () => {
  await pki.remove();
});

describe('rollout agent: token rotation and TLS', () => {
  const children = new Children();
  const dir = tempDirPerTest('rollout-agent-tls-', children);

  async function tokenFiles(...tokens: string[]): Promise<string[]> {
    return Promise.all(
      tokens.map(async (token, i) => {
        const file = join(dir.path, `token-${i}`);
        await writeFile(file, `${token}\n`);
        return file;
      }),
    );
  }

  it('with --token-file twice accepts the old and the new token, and refuses a third', async () => {
    const [oldFile = '', newFile = ''] = await tokenFiles('old-token', 'new-token');
    const agent = children.track(
      await startAgent(['--dir', join(dir.path, 'configs'), '--token-file', oldFile, '--token-file', newFile]),
    );

    for (const token of ['old-token', 'new-token'])
      expect((await sendText(agent.url, 'GET', '/v1/health', undefined, token)).status, token).toBe(200);
    const third = await sendText(agent.url, 'GET', '/v1/health', undefined, 'third-token');
    expect(third.status).toBe(401);
    expect(JSON.parse(third.text)).toMatchObject({ error: 'unauthorized' });
    expect((await sendText(agent.url, 'GET', '/v1/health')).status).toBe(401);
    expect(agent.stderr()).not.toContain('warning:');
  });

  it('with --token-file three times exits 2: two tokens at once, the old and the new', async () => {
    const files = await tokenFiles('a', 'b', 'c');
    const result = await runCli(
      ['agent', '--id', 'd1', '--dir', dir.path, '--port', '0', ...files.flatMap((file) => ['--token-file', file])],
      { env: NO_TOKEN_ENV },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--token-file given 3 times: .*give it at most twice/);
  });

  it('with --tls-cert, --tls-key and --client-ca serves mutual TLS and says https:// where it listens', async () => {
    const [tokenFile = ''] = await tokenFiles('tok');
    const started = children.track(
      startCli(
        [
          'agent',
          '--id',
          'd1',
          '--dir',
          join(dir.path, 'configs'),
          '--port',
          '0',
          '--token-file',
          tokenFile,
          '--tls-cert',
          pki.serverCert,
          '--tls-key',
          pki.serverKey,
          '--client-ca',
          pki.ca,
        ],
        { env: NO_TOKEN_ENV },
      ),
    );
    await within(
      (async () => {
        while (!started.output().stdout.includes('\n')) await new Promise((done) => setTimeout(done, 50));
      })(),
      10_000,
      'the agent',
    );
    const line = started.output().stdout;
    expect(line).toMatch(/^agent d1 listening on https:\/\/127\.0\.0\.1:\d+ \(configs in .*; mutual TLS/);
    const url = /listening on (\S+)/.exec(line)?.[1] ?? '';
    const ca = await pki.pem(pki.ca);
    const client = { ca, cert: await pki.pem(pki.clientCert), key: await pki.pem(pki.clientKey) };

    expect(await httpsJson(`${url}/v1/health`, { ...client, token: 'tok' })).toMatchObject({
      status: 200,
      body: { id: 'd1', auth: 'bearer' },
    });
    // TLS first, then the token: a client certificate does not stand in for it.
    expect((await httpsText(`${url}/v1/health`, client)).status).toBe(401);
    await expect(httpsText(`${url}/v1/health`, { ca, token: 'tok' })).rejects.toMatchObject({
      code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    });

    started.child.kill('SIGTERM');
    expect((await started.done).code).toBe(0);
  });

  it('with --client-ca alone, or --tls-cert without --tls-key, exits 2 naming the flags', async () => {
    for (const [flags, message] of [
      [['--client-ca', pki.ca], /--client-ca needs --tls-cert and --tls-key/],
      [['--tls-cert', pki.serverCert], /--tls-cert given without --tls-key/],
    ] as const) {
      const result = await runCli(['agent', '--id', 'd1', '--dir', dir.path, '--port', '0', ...flags], {
        env: NO_TOKEN_ENV,
      });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });
});
