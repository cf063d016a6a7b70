import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serve, type RunningServer, type ServerTls, type TlsClientRefusal } from '../../src/agent/http-server.js';
import { DroneClient, misconfiguration, type DroneFailure } from '../../src/fleet/drone-client.js';
import type { DroneTls } from '../../src/fleet/drone-tls.js';
import { TLS_HANG_UP_CODE, TLS_REFUSED_STATUS } from '../../src/fleet/tls-failure.js';
import { startFleetSim, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import type { Drone } from '../../src/spec/types.js';
import { memoryLogger } from '../agent/helpers.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

/** The orchestrator's client over HTTPS: a certificate that does not verify is the rollout's configuration. */

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki('drone-client-tls-');
});
afterAll(async () => {
  await pki.remove();
});

const servers: RunningServer[] = [];
const fleets: RunningFleet[] = [];
let client: DroneClient | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await Promise.all([...servers.splice(0), ...fleets.splice(0)].map((server) => server.close()));
});

/** A drone on loopback over TLS; `requests` counts the requests that got past TLS, `refusals` the handshakes that failed. */
async function tlsDrone(
  certFile: string,
  options: { readonly clientCa?: boolean; readonly plain?: boolean } = {},
): Promise<{ drone: Drone; requests: () => number; refusals: TlsClientRefusal[] }> {
  let requests = 0;
  const refusals: TlsClientRefusal[] = [];
  const tls: ServerTls = {
    cert: await pki.pem(certFile),
    key: await pki.pem(pki.serverKey),
    ...(options.clientCa ? { clientCa: await pki.pem(pki.ca) } : {}),
  };
  const server = await serve(
    async (_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    },
    {
      port: 0,
      host: '127.0.0.1',
      ...(options.plain ? {} : { tls, onTlsClientError: (refusal) => refusals.push(refusal) }),
    },
  );
  servers.push(server);
  // A plain HTTP server asked for over https:// (the inventory's scheme is wrong).
  const url = `${server.url.replace(/^http:/, 'https:')}/d/drone-3`;
  return { drone: { id: 'drone-3', url, labels: {} }, requests: () => requests, refusals };
}

async function trusting(ca: string, withClient = true): Promise<DroneTls> {
  return {
    ca: await pki.pem(ca),
    caFrom: `fleet.tls.ca (${ca})`,
    ...(withClient
      ? {
          cert: await pki.pem(pki.clientCert),
          key: await pki.pem(pki.clientKey),
          certFrom: `fleet.tls.cert (${pki.clientCert})`,
        }
      : {}),
  };
}

function failureOf(reply: { ok: boolean }): DroneFailure {
  expect(reply.ok).toBe(false);
  return reply as DroneFailure;
}

describe('DroneClient over TLS', () => {
  it('reaches drones over mutual TLS: the CA checks their certificate, they check ours', async () => {
    const fleet = await startFleetSim({
      drones: 2,
      logger: memoryLogger().logger,
      tls: { cert: await pki.pem(pki.serverCert), key: await pki.pem(pki.serverKey), clientCa: await pki.pem(pki.ca) },
    });
    fleets.push(fleet);
    expect(fleet.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(fleet.drones.map((drone) => drone.url)).toEqual([`${fleet.url}/d/drone-1`, `${fleet.url}/d/drone-2`]);
    client = new DroneClient({ timeoutMs: 2_000, retries: 0, tls: await trusting(pki.ca) });

    for (const drone of fleet.drones) {
      const reply = await client.health(drone);
      expect(reply.ok && reply.body.id).toBe(drone.id);
    }
    const paused = await client.pause(fleet.drones[0]!, 'r-1');
    expect(paused.ok && paused.body.state).toBe('paused');
  });

  it.each([
    [
      'a wrong CA',
      'wrong-ca',
      pki_('serverCert'),
      /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
      /is not signed by the CA in fleet\.tls\.ca \(.*wrong-ca\.pem\)/,
    ],
    [
      'a wrong name',
      'ca',
      pki_('wrongNameCert'),
      /^ERR_TLS_CERT_ALTNAME_INVALID$/,
      /is not issued for the host its url names .*10\.9\.9\.9/,
    ],
    ['an expired certificate', 'ca', pki_('expiredCert'), /^CERT_HAS_EXPIRED$/, /has expired/],
  ])(
    'refuses a drone certificate with %s at once: refused, status 0, the drone and the reason named, never retried',
    async (_what, ca, cert, code, reason) => {
      const { drone, requests, refusals } = await tlsDrone(cert(pki), { clientCa: true });
      client = new DroneClient({
        timeoutMs: 2_000,
        retries: 3,
        tls: await trusting(ca === 'ca' ? pki.ca : pki.wrongCa),
      });

      const failure = failureOf(await client.pause(drone, 'r-1'));

      expect(failure).toMatchObject({ kind: 'refused', status: TLS_REFUSED_STATUS, code: expect.stringMatching(code) });
      expect(failure.message).toContain(`certificate of drone-3 (${drone.url})`);
      expect(failure.message).toMatch(reason);
      expect(misconfiguration(failure)).toMatch(/--tls-cert/);
      expect(requests()).toBe(0);
      // One handshake, which the server saw fail: no second try.
      await expect.poll(() => refusals.length).toBe(1);
      await new Promise((done) => setTimeout(done, 300));
      expect(refusals).toHaveLength(1);
    },
  );

  it('without a CA, a drone certificate from a private CA is not signed by one Node trusts', async () => {
    const { drone } = await tlsDrone(pki.serverCert);
    client = new DroneClient({ timeoutMs: 2_000, retries: 0 });

    const failure = failureOf(await client.health(drone));

    expect(failure).toMatchObject({ kind: 'refused', status: 0, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(failure.message).toMatch(
      /not signed by a CA this orchestrator trusts .*neither fleet\.tls\.ca nor --ca-file/,
    );
    expect(misconfiguration(failure)).toMatch(/fleet\.tls\.ca \(or --ca-file\)/);
  });

  it('a drone that wants a client certificate and gets none refuses the handshake: named, never retried', async () => {
    const { drone, requests, refusals } = await tlsDrone(pki.serverCert, { clientCa: true });
    client = new DroneClient({ timeoutMs: 2_000, retries: 2, tls: await trusting(pki.ca, false) });

    const failure = failureOf(await client.health(drone));

    expect(failure).toMatchObject({ kind: 'refused', status: 0, code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(failure.message).toMatch(/^drone-3 \(https:.*\) refused the TLS handshake .*requires a client certificate/);
    expect(misconfiguration(failure)).toMatch(/--client-cert and --client-key/);
    expect(requests()).toBe(0);
    await expect.poll(() => refusals.length).toBe(1);
    expect(refusals[0]).toMatchObject({ certificate: true, reason: expect.stringMatching(/no client certificate/) });
  });

  it('a drone that refuses our client certificate hangs up without a word: tried again, then named as a refusal', async () => {
    const { drone, requests, refusals } = await tlsDrone(pki.serverCert, { clientCa: true });
    client = new DroneClient({
      timeoutMs: 2_000,
      retries: 1,
      tls: {
        ...(await trusting(pki.ca, false)),
        cert: await pki.pem(pki.wrongClientCert),
        key: await pki.pem(pki.clientKey),
        certFrom: `--client-cert ${pki.wrongClientCert}`,
      },
    });

    const failure = failureOf(
      await client.push(drone, 'aim.conf', { rollout: 'r', version: 'v', sha256: 'x', fence: 1, content: '' }),
    );

    expect(failure).toMatchObject({ kind: 'refused', status: 0, code: TLS_HANG_UP_CODE });
    expect(failure.message).toContain(`--client-cert ${pki.wrongClientCert}`);
    expect(failure.message).toMatch(/most likely refuses that certificate/);
    expect(misconfiguration(failure)).toMatch(/--client-ca/);
    expect(requests()).toBe(0);
    // A hang-up may be a drone that died in the middle: it gets its retry.
    await expect.poll(() => refusals.length).toBe(2);
    expect(refusals[0]).toMatchObject({
      certificate: true,
      reason: expect.stringMatching(
        /did not verify against --client-ca \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)/,
      ),
    });
  });

  it('an https:// url to a plain HTTP agent says the drone does not speak TLS', async () => {
    const { drone } = await tlsDrone(pki.serverCert, { plain: true });
    client = new DroneClient({ timeoutMs: 2_000, retries: 2, tls: await trusting(pki.ca) });

    const failure = failureOf(await client.health(drone));

    expect(failure).toMatchObject({ kind: 'refused', status: 0, code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    expect(failure.message).toMatch(/does not speak TLS/);
    expect(misconfiguration(failure)).toMatch(/http:\/\/ in the inventory/);
  });

  it('keeps its TLS connections alive: many requests, a handshake per socket', async () => {
    const server = createHttpsServer(
      { cert: await pki.pem(pki.serverCert), key: await pki.pem(pki.serverKey) },
      (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"paused"}'),
    );
    let handshakes = 0;
    server.on('secureConnection', () => (handshakes += 1));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
    try {
      const { port } = server.address() as AddressInfo;
      const drones = [1, 2, 3, 4].map((n) => ({
        id: `drone-${n}`,
        url: `https://127.0.0.1:${port}/d/drone-${n}`,
        labels: {},
      }));
      client = new DroneClient({ timeoutMs: 2_000, retries: 0, maxSockets: 2, tls: await trusting(pki.ca, false) });

      for (let round = 0; round < 5; round += 1)
        for (const reply of await Promise.all(drones.map((drone) => client!.pause(drone, 'r-1'))))
          expect(reply.ok).toBe(true);

      expect(handshakes).toBe(2);
    } finally {
      client?.close();
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});

/** A getter of one certificate path of the PKI, for it.each rows written before the PKI exists. */
function pki_(field: 'serverCert' | 'wrongNameCert' | 'expiredCert'): (of: TestPki) => string {
  return (of) => of[field];
}
