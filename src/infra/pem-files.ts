import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RolloutError, type ErrorCode } from '../errors.js';

/** A PEM file as the user named it: by a flag (`--tls-cert`) or a spec key (`fleet.tls.ca`). */
export interface PemSource {
  /** The flag or spec key that gave the file, as the user wrote it. */
  readonly name: string;
  /** Absolute path. */
  readonly path: string;
  /** The code of the error a bad file raises: `E_USAGE` for a flag, `E_SPEC_INVALID` for a spec key. */
  readonly code: ErrorCode;
}

/** Certificates in PEM, checked; the first is the leaf of a chain. */
export interface PemCertificates {
  readonly pem: string;
  readonly certificates: readonly X509Certificate[];
}

/** A private key in PEM, checked. */
export interface PemKey {
  readonly pem: string;
  readonly key: KeyObject;
}

/** Larger than any certificate chain or CA bundle: a file this size is the wrong file. */
const MAX_PEM_BYTES = 1024 * 1024;
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** `--tls-cert /etc/drone/cert.pem`, `fleet.tls.ca (/srv/rollouts/ca.pem)`: how a file reads in a message. */
export function describePem(source: PemSource): string {
  return source.name.startsWith('-') ? `${source.name} ${source.path}` : `${source.name} (${source.path})`;
}

function fail(source: PemSource, problem: string, cause?: unknown): never {
  throw new RolloutError(source.code, `${describePem(source)} ${problem}`, cause === undefined ? {} : { cause });
}

async function readText(source: PemSource): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(source.path);
  } catch (error) {
    fail(source, `cannot be read (${(error as Error).message}): check the path and that this user may read it`, error);
  }
  if (bytes.length > MAX_PEM_BYTES)
    fail(
      source,
      `is ${bytes.length} bytes, over the 1 MiB a PEM file of certificates or a key can need: check the path`,
    );
  return bytes.toString('utf8');
}

/**
 * Reads one or more certificates in PEM (a server's certificate and its chain, or a bundle of CAs) and
 * checks that each parses.
 */
export async function readCertificates(source: PemSource): Promise<PemCertificates> {
  const pem = await readText(source);
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    fail(
      source,
      'holds no PEM certificate (a -----BEGIN CERTIFICATE----- block): give the certificate in PEM form (`openssl x509 -inform DER -outform PEM` converts a DER one)',
    );
  }
  const certificates = blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      const which = blocks.length === 1 ? 'its certificate' : `certificate ${index + 1} of ${blocks.length}`;
      return fail(source, `is not valid PEM: ${which} does not parse (${(error as Error).message})`, error);
    }
  });
  return { pem, certificates };
}

/** Reads a private key in PEM and checks that it parses without a passphrase. */
export async function readPrivateKey(source: PemSource): Promise<PemKey> {
  const pem = await readText(source);
  try {
    return { pem, key: createPrivateKey(pem) };
  } catch (error) {
    return fail(
      source,
      `holds no usable private key (${(error as Error).message}): give the certificate's private key in PEM form, without a passphrase`,
      error,
    );
  }
}

/** Fails unless `key` is the private key of the first (leaf) certificate of `cert`. */
export function checkKeyPair(certSource: PemSource, cert: PemCertificates, keySource: PemSource, key: PemKey): void {
  const leaf = cert.certificates[0];
  let matches = false;
  try {
    matches = leaf?.checkPrivateKey(key.key) ?? false;
  } catch {
    // A key of another type than the certificate's (RSA for an EC certificate) is no match either.
  }
  if (!matches) {
    fail(
      keySource,
      `is not the private key of ${describePem(certSource)}: give the key that certificate was issued for`,
    );
  }
}
