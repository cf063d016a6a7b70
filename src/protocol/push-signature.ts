import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { PushSignature } from './v1.js';

/**
 * Signed pushes, defined once for both sides: the canonical message a push's signature covers, the key
 * id, how the orchestrator signs and how an agent verifies. Ed25519 (node:crypto), keys in PEM: PKCS#8
 * for the private key (`config.sign.key_file`), SPKI for the public keys agents trust (`--trust-key`).
 */

/** What a push's signature covers: the config, and the rollout and fence it may be installed under. */
export interface SignedPush {
  /** The config's name on the drone. */
  readonly file: string;
  readonly version: string;
  /** Hex, either case: the message carries it in lower case. */
  readonly sha256: string;
  readonly rollout: string;
  readonly fence: number;
}

/** The first line of every message: a signature made for anything else never verifies as a push's. */
export const PUSH_SIGNATURE_DOMAIN = 'fleet-rollout push signature v1';

/**
 * The bytes a push's signature is over, as UTF-8: the domain line, then one line per field,
 * `<name>:<length in UTF-8 bytes>:<value>`, in this order. The lengths make it unambiguous whatever a
 * version or rollout id contains (newlines included), and any language can build it.
 *
 * ```
 * fleet-rollout push signature v1
 * file:20:aim_lock_config.conf
 * version:3:v43
 * sha256:64:<hex, lower case>
 * rollout:22:aim-sensitivity-v43-x1
 * fence:1:7
 * ```
 */
export function pushSignatureMessage(push: SignedPush): Buffer {
  if (!Number.isSafeInteger(push.fence) || push.fence < 1)
    throw new RangeError(`Expected \`fence\` to be a positive safe integer, got \`${String(push.fence)}\``);
  const field = (name: string, value: string): string => `${name}:${Buffer.byteLength(value, 'utf8')}:${value}\n`;
  return Buffer.from(
    `${PUSH_SIGNATURE_DOMAIN}\n` +
      field('file', push.file) +
      field('version', push.version) +
      field('sha256', push.sha256.toLowerCase()) +
      field('rollout', push.rollout) +
      field('fence', String(push.fence)),
    'utf8',
  );
}

/** How long a key id is, in hex digits. */
export const KEY_ID_LENGTH = 16;

/** A key's id: the first 16 hex digits of the sha256 of its public key's SPKI DER (of a private key's public half). */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, KEY_ID_LENGTH);
}

/** The orchestrator's key: an Ed25519 private key, and the id the drones know its public key by. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly keyId: string;
}

/** An Ed25519 public key an agent trusts, with its id. */
export interface TrustedKey {
  readonly publicKey: KeyObject;
  readonly keyId: string;
}

/** A key parsed from PEM, or what is wrong with the PEM, as a clause: `it is a public key (...)`. */
export type KeyParse<T> = { readonly key: T } | { readonly problem: string };

/** Signs a push: done once per fence, since every drone of a step gets the same message. */
export function signPush(key: SigningKey, push: SignedPush): PushSignature {
  return { keyId: key.keyId, sig: sign(null, pushSignatureMessage(push), key.privateKey).toString('base64') };
}

export type SignatureCheck =
  { readonly ok: true; readonly keyId: string } | { readonly ok: false; readonly problem: string };

/** An Ed25519 signature is 64 bytes: 88 characters of base64. */
const SIGNATURE_BYTES = 64;

/**
 * Whether `signature` is a valid signature of `push` by one of `trusted`; if not, a sentence saying why
 * that names the push, the key it says it was signed with and the keys trusted. `trusted` must not be
 * empty: an agent without trusted keys does not check signatures at all.
 */
export function verifyPush(
  trusted: readonly TrustedKey[],
  push: SignedPush,
  signature: PushSignature | undefined,
): SignatureCheck {
  const what = `the push of ${push.file} ${push.version} by rollout ${push.rollout}`;
  const trusts = `${trusted.length === 1 ? 'key' : 'keys'} ${trusted.map((key) => key.keyId).join(', ')}`;
  if (signature === undefined) {
    return {
      ok: false,
      problem: `${what} is not signed, and this drone takes only pushes signed by a key it trusts (${trusts}); sign it with config.sign.key_file in the rollout spec`,
    };
  }
  const key = trusted.find((candidate) => candidate.keyId === signature.keyId);
  if (key === undefined) {
    return {
      ok: false,
      problem: `${what} is signed by key ${JSON.stringify(signature.keyId)}, which this drone does not trust (it trusts ${trusts}); start the agent with --trust-key <that key's .pub>, or sign with a key it trusts`,
    };
  }
  const sig = Buffer.from(signature.sig, 'base64');
  // Buffer's base64 decoder skips what is not base64: only the canonical text of 64 bytes is a signature.
  const verified =
    sig.length === SIGNATURE_BYTES &&
    sig.toString('base64') === signature.sig &&
    verify(null, pushSignatureMessage(push), key.publicKey, sig);
  if (!verified) {
    return {
      ok: false,
      problem: `the signature of ${what} with fence ${push.fence} does not verify with key ${key.keyId}: the push is not the one that was signed (its file, version, sha256, rollout or fence differ) or the signature is damaged`,
    };
  }
  return { ok: true, keyId: key.keyId };
}

/** The key an agent trusts, checked: an Ed25519 public key. A private key is refused: a drone must not hold one. */
export function trustedKey(publicKey: KeyObject): TrustedKey {
  if (publicKey.type !== 'public' || publicKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `Expected a trusted key to be an Ed25519 public key, got a ${publicKey.type} ${publicKey.asymmetricKeyType ?? ''} key`,
    );
  }
  return { publicKey, keyId: keyIdOf(publicKey) };
}

/** The private key of `config.sign.key_file` from its PEM text, or why it is not an unencrypted Ed25519 one. */
export function parseSigningKey(pem: string): KeyParse<SigningKey> {
  if (pem.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) {
    return { problem: 'it is an OpenSSH key; fleet-rollout reads PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----")' };
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/u.test(pem)) {
    return { problem: 'it is encrypted with a passphrase, which a rollout cannot ask for' };
  }
  if (/-----BEGIN (RSA |EC )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/u.test(pem)) {
    return {
      problem:
        'it holds a public key; the spec needs the private key (the .key file), the agents the public one (.pub)',
    };
  }
  if (!pem.includes('-----BEGIN ')) return { problem: 'it holds no PEM block ("-----BEGIN PRIVATE KEY-----")' };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    return { problem: `it cannot be read as a private key (${errorText(error)})` };
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    return { problem: `it is a key of type ${privateKey.asymmetricKeyType ?? 'unknown'}, not Ed25519` };
  }
  return { key: { privateKey, keyId: keyIdOf(privateKey) } };
}

/** A public key an agent trusts (`--trust-key`) from its PEM text, or why it is not an Ed25519 public key. */
export function parseTrustedKey(pem: string): KeyParse<TrustedKey> {
  if (/^\s*ssh-ed25519 /u.test(pem)) {
    return { problem: 'it is an OpenSSH public key; fleet-rollout reads SPKI PEM ("-----BEGIN PUBLIC KEY-----")' };
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/u.test(pem)) {
    return {
      problem:
        'it is a private key: give the agent the public key (the .pub file) and keep the private key with whoever signs rollouts',
    };
  }
  if (!pem.includes('-----BEGIN ')) return { problem: 'it holds no PEM block ("-----BEGIN PUBLIC KEY-----")' };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    return { problem: `it cannot be read as a public key (${errorText(error)})` };
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    return { problem: `it is a key of type ${publicKey.asymmetricKeyType ?? 'unknown'}, not Ed25519` };
  }
  return { key: trustedKey(publicKey) };
}

/** A new key pair: the private key as PKCS#8 PEM, the public key as SPKI PEM, and the key id. */
export function generatePushKeyPair(): {
  readonly privatePem: string;
  readonly publicPem: string;
  readonly keyId: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
