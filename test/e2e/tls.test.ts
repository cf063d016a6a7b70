import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, tempDir, type CliResult, type SimProcess } from '../helpers/cli.js';
import { FILE, droneIds, lockTable, parseReport, runArgs, writeSpec, type Health } from '../helpers/fleet.js';
import { createTestPki, httpsJson, httpsText, type HttpsOptions, type TestPki } from '../helpers/tls.js';

/**
 * The real CLI over TLS: `rollout fleet sim --tls-cert --tls-key [--client-ca]` serves HTTPS (mutual TLS
 * with the CA), `run` and `plan` trust a CA and present a client certificate, and a certificate that does
 * not verify is a configuration error (exit 2) that names the drone and why, with nothing pushed.
 */

const DRONES = 6;
/** No `$ROLLOUT_TOKEN` leaks in from the shell running the tests. */
const NO_TOKEN_ENV = { ROLLOUT_TOKEN: undefined };

interface PlanReport {
  readonly exitCode: number;
  readonly unreachable: readonly { readonly id: string; readonly error: string }[];
  readonly misconfigured: readonly { readonly id: string; readonly error: string; readonly check: string }[];
}

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki('e2e-tls-');
});
afterAll(async () => {
  await pki.remove();
});

describe('rollout over TLS through the real CLI', () => {
  let sim: SimProcess | undefined;
  let work: { path: string; remove(): Promise<void> };
  let state: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    work = await tempDir('e2e-tls-work-');
    state = await tempDir('e2e-tls-state-');
  });

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
    expect(await lockTable(state.path)).toEqual([]);
    await Promise.all([work.remove(), state.remove()]);
  });

  /** The CA and our client certificate as PEM texts, for reading the sim ourselves. */
  async function asOrchestrator(extra: HttpsOptions = {}): Promise<HttpsOptions> {
    return {
      ca: await pki.pem(pki.ca),
      cert: await pki.pem(pki.clientCert),
      key: await pki.pem(pki.clientKey),
      ...extra,
    };
  }

  function tlsSim(cert: string, mutual: boolean): Promise<SimProcess> {
    return startSimProcess([
      '--drones',
      String(DRONES),
      '--tls-cert',
      cert,
      '--tls-key',
      pki.serverKey,
      ...(mutual ? ['--client-ca', pki.ca] : []),
    ]);
  }

  async function stats(fleet: SimProcess, extra: HttpsOptions = {}): Promise<Record<string, unknown>> {
    const answer = await httpsJson(`${fleet.url}/sim/stats`, await asOrchestrator(extra));
    expect(answer.status).toBe(200);
    return answer.body;
  }

  async function versions(fleet: SimProcess, extra: HttpsOptions = {}): Promise<Record<string, Health>> {
    const options = await asOrchestrator(extra);
    const answers = await Promise.all(
      droneIds(DRONES).map((id) => httpsJson(`${fleet.url}/d/${id}/v1/health`, options)),
    );
    return Object.fromEntries(answers.map((answer, i) => [`drone-${i + 1}`, answer.body as unknown as Health]));
  }

  it("promotes over mutual TLS with the spec's fleet.tls: exit 0, every drone on the new version", async () => {
    sim = await tlsSim(pki.serverCert, true);
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const inventory = await readFile(sim.inventory, 'utf8');
    expect(inventory).toContain(`"url":"${sim.url}/d/drone-1"`);
    // fleet.tls paths are relative to the spec, inside its folder.
    await Promise.all(
      [pki.ca, pki.clientCert, pki.clientKey].map((file, i) =>
        copyFile(file, join(work.path, ['ca.pem', 'client.pem', 'client.key'][i] ?? '')),
      ),
    );
    const spec = await writeSpec(work.path, 'mtls');
    const text = await readFile(spec, 'utf8');
    await writeFile(
      spec,
      text.replace('fleet:\n', 'fleet:\n  tls: { ca: ca.pem, cert: client.pem, key: client.key }\n'),
    );

    const run = await runCli(runArgs(spec, sim, state.path), { env: NO_TOKEN_ENV });

    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = parseReport(run);
    expect(report).toMatchObject({ result: 'promoted', exitCode: 0, hot: [], attention: [] });
    expect(Object.keys(report.drones)).toHaveLength(DRONES);
    for (const [id, drone] of Object.entries(await versions(sim))) {
      expect(drone.state, id).toBe('active');
      expect(drone.configs[FILE], id).toMatchObject({ version: 'v43', sha256: report.config.sha256, lock: 'free' });
    }
    expect(await stats(sim)).toMatchObject({ pushes: DRONES });
  });

  it('the sim refuses a client without a certificate, or with one another CA signed', async () => {
    sim = await tlsSim(pki.serverCert, true);
    const health = `${sim.url}/d/drone-1/v1/health`;
    const ca = await pki.pem(pki.ca);

    await expect(httpsText(health, { ca })).rejects.toMatchObject({
      code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    });
    await expect(
      httpsText(health, { ca, cert: await pki.pem(pki.wrongClientCert), key: await pki.pem(pki.clientKey) }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(fetch(health.replace('https:', 'http:'))).rejects.toThrow();
    expect((await httpsText(health, await asOrchestrator())).status).toBe(200);
  });

  it('plan with the wrong CA, or against an expired certificate, exits 2 naming each drone and why', async () => {
    const spec = await writeSpec(work.path, 'plan-tls');
    const cases = [
      { cert: pki.serverCert, ca: pki.wrongCa, reason: /is not signed by the CA in --ca-file .*wrong-ca\.pem/ },
      { cert: pki.expiredCert, ca: pki.ca, reason: /has expired \(CERT_HAS_EXPIRED/ },
    ];
    for (const { cert, ca, reason } of cases) {
      sim = await tlsSim(cert, false);
      const args = ['plan', spec, '--inventory', sim.inventory, '--state-dir', state.path, '--ca-file', ca];

      const plan = await runCli([...args, '--output', 'json'], { env: NO_TOKEN_ENV });

      expect(plan.code, plan.stdout + plan.stderr).toBe(2);
      const report = JSON.parse(plan.stdout) as PlanReport;
      expect(report.unreachable).toEqual([]);
      expect(report.misconfigured.map((drone) => drone.id).sort()).toEqual(droneIds(DRONES).sort());
      for (const drone of report.misconfigured) {
        expect(drone.error).toContain(`certificate of ${drone.id} (${sim.url}/d/${drone.id})`);
        expect(drone.error).toMatch(reason);
        expect(drone.check).toMatch(/--tls-cert/);
      }
      const text = await runCli(args, { env: NO_TOKEN_ENV });
      expect(text.code).toBe(2);
      expect(text.stdout).toMatch(
        /^ {2}error: drone-1: certificate of drone-1 \(https:\/\/127\.0\.0\.1:\d+\/d\/drone-1\) /m,
      );
      await sim.stop();
      sim = undefined;
    }
  });

  it('run against a certificate for another name exits 2 at the pause: nothing pushed, fleet active, lock free', async () => {
    sim = await tlsSim(pki.wrongNameCert, false);
    const spec = await writeSpec(work.path, 'wrong-name');

    const run = await runCli([...runArgs(spec, sim, state.path), '--ca-file', pki.ca], { env: NO_TOKEN_ENV });

    expect(run.code, run.stdout + run.stderr).toBe(2);
    const report = parseReport(run);
    expect(report).toMatchObject({ result: 'invalid', exitCode: 2, hot: [] });
    expect(report.reason).toMatch(
      /drone-\d .*while pausing the fleet: certificate of drone-\d \(https:\/\/127\.0\.0\.1:\d+\/d\/drone-\d\) is not issued for the host its url names \(ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    for (const drone of Object.values(report.drones)) expect(drone.state).toBe('unchanged');
    const seen = { anyName: true };
    expect(await stats(sim, seen)).toMatchObject({ pushes: 0, rollbacks: 0 });
    for (const drone of Object.values(await versions(sim, seen))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
  });

  it('a TLS file that cannot be used is exit 2 before any drone is reached, naming the flag and the file', async () => {
    const spec = await writeSpec(work.path, 'bad-files');
    const missing = join(work.path, 'missing.pem');
    const inventory = ['--inventory', join(work.path, 'unused.json'), '--state-dir', state.path];
    // Nobody listens on port 9: a run that got past the files would find every drone unreachable (exit 6).
    const drones = [1, 2, 3, 4].map((n) => ({ id: `d${n}`, url: `https://127.0.0.1:9/d/d${n}` }));
    await writeFile(join(work.path, 'unused.json'), JSON.stringify({ drones }));
    const cases: [string[], RegExp][] = [
      [['--ca-file', missing], /^--ca-file .*missing\.pem cannot be read \(ENOENT/m],
      [['--client-cert', pki.clientCert], /^--client-cert given without --client-key/m],
      [
        ['--client-cert', pki.clientCert, '--client-key', pki.serverKey],
        /^--client-key .* is not the private key of --client-cert/m,
      ],
    ];
    for (const command of ['run', 'plan']) {
      for (const [flags, message] of cases) {
        const result: CliResult = await runCli([command, spec, ...inventory, ...flags], { env: NO_TOKEN_ENV });
        expect(result.code, `${command} ${flags.join(' ')}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toMatch(message);
        expect(result.stdout).not.toMatch(/pausing/);
      }
    }
  });
});

describe('rollout fleet sim TLS flags', () => {
  it('exit 2 naming the flag, the file and what to do', async () => {
    const missing = join(pki.dir, 'missing.pem');
    const cases: [string[], RegExp][] = [
      [['--tls-cert', pki.serverCert], /--tls-cert given without --tls-key: HTTPS needs both/],
      [['--tls-key', pki.serverKey], /--tls-key given without --tls-cert/],
      [['--client-ca', pki.ca], /--client-ca needs --tls-cert and --tls-key/],
      [
        ['--tls-cert', missing, '--tls-key', pki.serverKey],
        /--tls-cert .*missing\.pem cannot be read .*check the path/,
      ],
      [['--tls-cert', pki.serverKey, '--tls-key', pki.serverKey], /--tls-cert .*server\.key holds no PEM certificate/],
      [
        ['--tls-cert', pki.serverCert, '--tls-key', pki.clientKey],
        /--tls-key .*client\.key is not the private key of --tls-cert/,
      ],
      [
        ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--client-ca', pki.clientKey],
        /--client-ca .*client\.key holds no PEM certificate/,
      ],
    ];
    for (const [flags, message] of cases) {
      const result = await runCli(['fleet', 'sim', '--drones', '2', '--port', '0', ...flags]);
      expect(result.code, `${flags.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });
});
