import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDroneTls } from '../../src/fleet/drone-tls.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

/** The orchestrator's TLS files: the spec's fleet.tls, each replaced by its flag, read and checked once. */

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki('drone-tls-files-');
});
afterAll(async () => {
  await pki.remove();
});

describe('loadDroneTls', () => {
  it('is undefined when neither the spec nor a flag names a file', async () => {
    expect(await loadDroneTls(undefined)).toBeUndefined();
    expect(await loadDroneTls({}, {})).toBeUndefined();
  });

  it("reads the spec's files and names them by their keys", async () => {
    const tls = await loadDroneTls({ caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey });
    expect(tls).toEqual({
      ca: await pki.pem(pki.ca),
      cert: await pki.pem(pki.clientCert),
      key: await pki.pem(pki.clientKey),
      caFrom: `fleet.tls.ca (${pki.ca})`,
      certFrom: `fleet.tls.cert (${pki.clientCert})`,
    });
  });

  it("lets --ca-file replace fleet.tls.ca, and --client-cert with --client-key replace the spec's pair", async () => {
    const spec = { caFile: pki.wrongCa, certFile: pki.wrongClientCert, keyFile: pki.clientKey };
    const tls = await loadDroneTls(spec, { caFile: pki.ca, clientCert: pki.clientCert, clientKey: pki.clientKey });
    expect(tls).toMatchObject({
      ca: await pki.pem(pki.ca),
      cert: await pki.pem(pki.clientCert),
      caFrom: `--ca-file ${pki.ca}`,
      certFrom: `--client-cert ${pki.clientCert}`,
    });
    const caOnly = await loadDroneTls(spec, { caFile: pki.ca });
    expect(caOnly).toMatchObject({
      caFrom: `--ca-file ${pki.ca}`,
      certFrom: `fleet.tls.cert (${pki.wrongClientCert})`,
    });
  });

  it('wants --client-cert and --client-key together', async () => {
    await expect(loadDroneTls(undefined, { clientCert: pki.clientCert })).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringMatching(/^--client-cert given without --client-key/),
    });
    await expect(loadDroneTls(undefined, { clientKey: pki.clientKey })).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringMatching(/^--client-key given without --client-cert/),
    });
  });

  it('names the flag or key and the file of one that cannot be read or is not what it should be', async () => {
    const missing = join(pki.dir, 'missing.pem');
    const garbage = join(pki.dir, 'garbage.pem');
    await writeFile(garbage, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    const cases: [Parameters<typeof loadDroneTls>, string, RegExp][] = [
      [
        [undefined, { caFile: missing }],
        'E_USAGE',
        /^--ca-file .*missing\.pem cannot be read \(ENOENT.*check the path/,
      ],
      [[{ caFile: missing }], 'E_SPEC_INVALID', /^fleet\.tls\.ca \(.*missing\.pem\) cannot be read/],
      [[undefined, { caFile: pki.clientKey }], 'E_USAGE', /^--ca-file .*client\.key holds no PEM certificate/],
      [
        [{ caFile: garbage }],
        'E_SPEC_INVALID',
        /^fleet\.tls\.ca \(.*garbage\.pem\) is not valid PEM: its certificate does not parse/,
      ],
      [
        [undefined, { clientCert: pki.clientCert, clientKey: pki.clientCert }],
        'E_USAGE',
        /^--client-key .*client\.pem holds no usable private key .*without a passphrase/,
      ],
      [
        [{ certFile: pki.clientCert, keyFile: pki.serverKey }],
        'E_SPEC_INVALID',
        /^fleet\.tls\.key \(.*server\.key\) is not the private key of fleet\.tls\.cert \(.*client\.pem\)/,
      ],
    ];
    for (const [args, code, message] of cases) {
      await expect(loadDroneTls(...args), message.source).rejects.toMatchObject({
        code,
        message: expect.stringMatching(message),
      });
    }
  });
});
