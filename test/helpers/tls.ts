import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Certificates for TLS tests, made with the system's openssl (OpenSSL 3.0 or newer) in a temp dir. */

const run = promisify(execFile);
const OPENSSL = process.env.OPENSSL ?? '/usr/bin/openssl';
/** EC P-256: a key in milliseconds, where RSA 2048 takes a good part of a second. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface TestPki {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly ca: string;
  /** A CA that signed nothing the servers use. */
  readonly wrongCa: string;
  /** For 127.0.0.1 (subjectAltName IP:127.0.0.1), signed by `ca`; key `serverKey`. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Signed by `ca`, for drone.example and 10.9.9.9 only; key `serverKey`. */
  readonly wrongNameCert: string;
  /** For 127.0.0.1, signed by `ca`, expired a day ago; key `serverKey`. */
  readonly expiredCert: string;
  /** A client certificate (extendedKeyUsage clientAuth) signed by `ca`; key `clientKey`. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** The same client key, certified by `wrongCa`. */
  readonly wrongClientCert: string;
  /** A file's PEM text. */
  pem(path: string): Promise<string>;
  remove(): Promise<void>;
}

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await run(OPENSSL, [...args], { cwd: dir });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr}`, { cause: error });
  }
}

async function newCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A certificate for `csr` signed by `ca`; `days` -1 makes one that expired (notAfter a day before notBefore). */
async function sign(
  dir: string,
  options: { csr: string; ca: string; out: string; serial: number; days: number; extensions: string },
): Promise<void> {
  const extfile = `${options.out}.ext`;
  await writeFile(join(dir, extfile), `${options.extensions}\n`);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    options.csr,
    '-CA',
    `${options.ca}.pem`,
    '-CAkey',
    `${options.ca}.key`,
    '-set_serial',
    String(options.serial),
    '-days',
    String(options.days),
    '-out',
    options.out,
    '-extfile',
    extfile,
  ]);
}

/** A CA, a wrong CA, server certificates (good, wrong name, expired) and client certificates, in a new temp dir. */
export async function createTestPki(prefix = 'tls-pki-'): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await Promise.all([newCa(dir, 'ca'), newCa(dir, 'wrong-ca')]);
    await Promise.all([
      openssl(dir, [
        'req',
        '-new',
        ...NEW_KEY,
        '-keyout',
        'server.key',
        '-out',
        'server.csr',
        '-subj',
        '/CN=127.0.0.1',
      ]),
      openssl(dir, [
        'req',
        '-new',
        ...NEW_KEY,
        '-keyout',
        'client.key',
        '-out',
        'client.csr',
        '-subj',
        '/CN=orchestrator',
      ]),
    ]);
    const server = 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth';
    const client = 'extendedKeyUsage=clientAuth';
    await Promise.all([
      sign(dir, { csr: 'server.csr', ca: 'ca', out: 'server.pem', serial: 2, days: 2, extensions: server }),
      sign(dir, {
        csr: 'server.csr',
        ca: 'ca',
        out: 'wrong-name.pem',
        serial: 3,
        days: 2,
        extensions: 'subjectAltName=DNS:drone.example,IP:10.9.9.9\nextendedKeyUsage=serverAuth',
      }),
      sign(dir, { csr: 'server.csr', ca: 'ca', out: 'expired.pem', serial: 4, days: -1, extensions: server }),
      sign(dir, { csr: 'client.csr', ca: 'ca', out: 'client.pem', serial: 5, days: 2, extensions: client }),
      sign(dir, { csr: 'client.csr', ca: 'wrong-ca', out: 'wrong-client.pem', serial: 6, days: 2, extensions: client }),
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const at = (file: string) => join(dir, file);
  return {
    dir,
    ca: at('ca.pem'),
    wrongCa: at('wrong-ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    wrongNameCert: at('wrong-name.pem'),
    expiredCert: at('expired.pem'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    wrongClientCert: at('wrong-client.pem'),
    pem: (path) => readFile(path, 'utf8'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface HttpsOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly token?: string;
  /** PEM texts. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Accept a certificate whatever names it holds (still checked against `ca`): to read a wrong-name server. */
  readonly anyName?: boolean;
}

/**
 * One HTTPS request with its own CA and client certificate (fetch cannot be given either): its status
 * and body text; rejects with Node's error (its `code` says why) when the TLS handshake fails.
 */
export function httpsText(url: string, options: HttpsOptions = {}): Promise<{ status: number; text: string }> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.anyName ? { checkServerIdentity: () => undefined } : {}),
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

/** `httpsText`, its answer parsed as JSON. */
export async function httpsJson(
  url: string,
  options: HttpsOptions = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await httpsText(url, options);
  return { status, body: JSON.parse(text) as Record<string, unknown> };
}
