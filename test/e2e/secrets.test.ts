import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, tempDir, type CliResult, type SimProcess } from '../helpers/cli.js';
import { parseReport, runArgs, writeSpec } from '../helpers/fleet.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/*
 * Secrets stay secret: a whole rollout over mutual TLS with signed configs, a token, a webhook secret,
 * notification URL credentials and a Prometheus password, at --log-level trace; then every byte it wrote
 * (stdout, stderr, the state dir) and what status, history and audit export print is searched for each.
 */

const TOKEN = 'tok-7731-Qx9vLmN2pR';
const WEBHOOK_SECRET = 'whsec-5d1e-Kp0ZyTq8';
const NOTIFY_PASSWORD = 'n0tify-Pw-8812-zz';
const PROMETHEUS_PASSWORD = 'pr0m-Pw-4471-yy';

/** Every file under `dir`, recursively, as one string each. */
async function everyFile(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.set(path, await readFile(path, 'latin1'));
  }
  return found;
}

/** The base64 body of a PEM file, joined: what would show if the key leaked in any form that keeps it. */
function pemBodies(pem: string): string[] {
  return pem
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('-----'))
    .filter((line) => line.length >= 24);
}

describe('secrets stay secret (a whole rollout at --log-level trace)', () => {
  let pki: TestPki;
  let work: { path: string; remove(): Promise<void> };
  let sim: SimProcess;
  let receiver: WebhookReceiver;
  let outputs: CliResult[];
  let stateDir: string;

  beforeAll(async () => {
    pki = await createTestPki('secrets-pki-');
    work = await tempDir('secrets-');
    const tokenFile = join(work.path, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const keys = await runCli(['keys', 'generate', '--out', join(work.path, 'release')]);
    expect(keys.code, keys.stderr).toBe(0);
    receiver = await startWebhookReceiver();
    sim = await startSimProcess([
      '--drones',
      '6',
      '--tls-cert',
      pki.serverCert,
      '--tls-key',
      pki.serverKey,
      '--client-ca',
      pki.ca,
      '--token-file',
      tokenFile,
      '--trust-key',
      join(work.path, 'release.pub'),
    ]);
    for (const [from, to] of [
      [pki.ca, 'ca.pem'],
      [pki.clientCert, 'client.pem'],
      [pki.clientKey, 'client.key'],
    ] as const) {
      await copyFile(from, join(work.path, to));
    }
    await writeFile(join(work.path, 'hook-secret'), WEBHOOK_SECRET);
    await writeFile(join(work.path, 'prom-password'), PROMETHEUS_PASSWORD);
    const notifyUrl = receiver.url('/notify').replace('http://', `http://bot:${NOTIFY_PASSWORD}@`);
    const spec = await writeSpec(work.path, 'secrets', {
      canary: 2,
      metrics: [
        '{ name: heart_rate, max: 120 }',
        // Prometheus is not running: its errors are logged and, dry_run, never change the result.
        '{ name: prom_rate, provider: prom, query: "up{drone=~\\"{{drones}}\\"}", max: 1, dry_run: true }',
      ],
      extra: [
        'providers:',
        '  prom: { prometheus: { url: "http://127.0.0.1:1", timeout: 1s, basic_auth: { username: ops, password_file: prom-password } } }',
        'webhooks:',
        `  - { name: audit, type: post-rollout, url: "${receiver.url('/done')}", secret_file: hook-secret }`,
        'notify:',
        `  - { url: "${notifyUrl}", format: json }`,
      ].join('\n'),
    });
    const text = await readFile(spec, 'utf8');
    await writeFile(
      spec,
      text
        .replace('fleet:\n', 'fleet:\n  tls: { ca: ca.pem, cert: client.pem, key: client.key }\n')
        .replace(/^(config:\n)/mu, '$1  sign: { key_file: release.key }\n'),
    );
    stateDir = join(work.path, 'state');
    const env = { ROLLOUT_TOKEN: undefined };
    const run = await runCli([...runArgs(spec, sim, stateDir), '--token-file', tokenFile, '--log-level', 'trace'], {
      env,
    });
    const report = parseReport(run);
    expect(report.result, `${report.reason}\n${run.stderr.slice(-2000)}`).toBe('promoted');
    outputs = [
      run,
      await runCli(['status', report.id, '--state-dir', stateDir, '--output', 'json', '--log-level', 'trace']),
      await runCli(['history', '--state-dir', stateDir, '--output', 'json', '--log-level', 'trace']),
      await runCli(['audit', 'export', report.id, '--state-dir', stateDir, '--log-level', 'trace']),
    ];
  }, 120_000);

  afterAll(async () => {
    await sim.stop();
    await receiver.close();
    await work.remove();
    await pki.remove();
  });

  it('logs at trace level, and writes its record, yet no secret appears in any byte', async () => {
    const written = new Map<string, string>();
    outputs.forEach((result, index) => {
      written.set(`output ${index} stdout`, result.stdout);
      written.set(`output ${index} stderr`, result.stderr);
    });
    for (const [path, text] of await everyFile(stateDir)) written.set(path, text);
    // The run did log (every level down to trace reaches stderr), and did call the webhook and the notification target.
    expect(outputs[0]?.stderr).toContain('"level":30');
    expect(receiver.calls('/done').length).toBe(1);
    expect(receiver.calls('/notify').length).toBeGreaterThan(0);
    const secrets = [
      TOKEN,
      WEBHOOK_SECRET,
      NOTIFY_PASSWORD,
      PROMETHEUS_PASSWORD,
      ...pemBodies(await readFile(join(work.path, 'release.key'), 'utf8')),
      ...pemBodies(await pki.pem(pki.clientKey)),
      ...pemBodies(await pki.pem(pki.serverKey)),
    ];
    for (const [where, text] of written) {
      for (const secret of secrets) expect(text.includes(secret), `${where} holds a secret`).toBe(false);
    }
  });
});
