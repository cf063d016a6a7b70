import { RolloutError } from '../errors.js';
import { checkKeyPair, describePem, readCertificates, readPrivateKey, type PemSource } from '../infra/pem-files.js';
import type { TlsFiles } from '../spec/types.js';

/**
 * TLS to `https://` drones, read once before any request: the CA their certificates must chain to, and
 * the client certificate this orchestrator presents to drones that ask for one (mutual TLS).
 */
export interface DroneTls {
  /** CA certificates (PEM); absent: Node's built-in CAs. */
  readonly ca?: string;
  /** Client certificate (PEM), with `key`. */
  readonly cert?: string;
  readonly key?: string;
  /** Where the CA came from, for errors: `fleet.tls.ca (/srv/ca.pem)` or `--ca-file /srv/ca.pem`. */
  readonly caFrom?: string;
  /** Where the client certificate came from, for errors. */
  readonly certFrom?: string;
}

/** `--ca-file`, `--client-cert`, `--client-key` of `run`, `plan` and `resume`: absolute paths. */
export interface DroneTlsFlags {
  readonly caFile?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

const flag = (name: string, path: string): PemSource => ({ name, path, code: 'E_USAGE' });
const specKey = (name: string, path: string): PemSource => ({ name, path, code: 'E_SPEC_INVALID' });

/**
 * Reads the spec's `fleet.tls` files, each replaced by its flag when given (`--ca-file` the CA,
 * `--client-cert` with `--client-key` the client certificate), and checks them: each one parses, and the
 * key is the certificate's. Undefined when neither names a file. A bad file is an error naming the flag
 * or key and the file (exit 2), before anything is sent to a drone.
 */
export async function loadDroneTls(
  files: TlsFiles | undefined,
  flags: DroneTlsFlags = {},
): Promise<DroneTls | undefined> {
  if ((flags.clientCert === undefined) !== (flags.clientKey === undefined)) {
    const [given, missing] =
      flags.clientCert === undefined ? ['--client-key', '--client-cert'] : ['--client-cert', '--client-key'];
    throw new RolloutError(
      'E_USAGE',
      `${given} given without ${missing}: a client certificate needs its private key; give both (they replace fleet.tls.cert and fleet.tls.key)`,
    );
  }
  const ca =
    flags.caFile !== undefined
      ? flag('--ca-file', flags.caFile)
      : files?.caFile === undefined
        ? undefined
        : specKey('fleet.tls.ca', files.caFile);
  let pair: { readonly cert: PemSource; readonly key: PemSource } | undefined;
  if (flags.clientCert !== undefined && flags.clientKey !== undefined) {
    pair = { cert: flag('--client-cert', flags.clientCert), key: flag('--client-key', flags.clientKey) };
  } else if (files?.certFile !== undefined && files.keyFile !== undefined) {
    pair = { cert: specKey('fleet.tls.cert', files.certFile), key: specKey('fleet.tls.key', files.keyFile) };
  }
  if (ca === undefined && pair === undefined) return undefined;
  const caPem = ca === undefined ? undefined : await readCertificates(ca);
  let client: { readonly cert: string; readonly key: string; readonly from: string } | undefined;
  if (pair !== undefined) {
    const cert = await readCertificates(pair.cert);
    const key = await readPrivateKey(pair.key);
    checkKeyPair(pair.cert, cert, pair.key, key);
    client = { cert: cert.pem, key: key.pem, from: describePem(pair.cert) };
  }
  return {
    ...(ca === undefined || caPem === undefined ? {} : { ca: caPem.pem, caFrom: describePem(ca) }),
    ...(client === undefined ? {} : { cert: client.cert, key: client.key, certFrom: client.from }),
  };
}
