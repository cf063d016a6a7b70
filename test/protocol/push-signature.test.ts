import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  generatePushKeyPair,
  keyIdOf,
  parseSigningKey,
  parseTrustedKey,
  pushSignatureMessage,
  signPush,
  trustedKey,
  verifyPush,
  type SignedPush,
  type SigningKey,
  type TrustedKey,
} from '../../src/protocol/push-signature.js';
import { pushRequestSchema } from '../../src/protocol/v1.js';

const SHA = 'ab'.repeat(32);
const PUSH: SignedPush = {
  file: 'aim_lock_config.conf',
  version: 'v43',
  sha256: SHA,
  rollout: 'aim-v43-x1',
  fence: 7,
};

/** A fresh key pair as the orchestrator and an agent hold it. */
function keyPair(): { readonly signing: SigningKey; readonly trusted: TrustedKey } {
  const pair = generatePushKeyPair();
  const signing = parseSigningKey(pair.privatePem);
  const trusted = parseTrustedKey(pair.publicPem);
  if (!('key' in signing) || !('key' in trusted)) throw new Error('a generated pair must parse');
  return { signing: signing.key, trusted: trusted.key };
}

describe('the canonical message', () => {
  test('is the domain line and one length-prefixed line per field, in order', () => {
    expect(pushSignatureMessage(PUSH).toString('utf8')).toBe(
      [
        'fleet-rollout push signature v1',
        'file:20:aim_lock_config.conf',
        'version:3:v43',
        `sha256:64:${SHA}`,
        'rollout:10:aim-v43-x1',
        'fence:1:7',
        '',
      ].join('\n'),
    );
  });

  test('counts UTF-8 bytes and carries the sha256 in lower case', () => {
    const message = pushSignatureMessage({ ...PUSH, version: 'v43-é', sha256: SHA.toUpperCase() }).toString('utf8');
    expect(message).toContain('version:6:v43-é\n');
    expect(message).toContain(`sha256:64:${SHA}\n`);
  });

  test('cannot be made the same by moving text between fields', () => {
    const a = pushSignatureMessage({ ...PUSH, version: 'v4', rollout: `3\nrollout:10:${PUSH.rollout}` });
    expect(a.equals(pushSignatureMessage(PUSH))).toBe(false);
  });

  test('refuses a fence that is not a positive safe integer', () => {
    for (const fence of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1])
      expect(() => pushSignatureMessage({ ...PUSH, fence }), String(fence)).toThrow(RangeError);
  });
});

describe('signing and verifying', () => {
  test('a push signed with a trusted key verifies, naming the key', () => {
    const { signing, trusted } = keyPair();
    const signature = signPush(signing, PUSH);

    expect(signature.keyId).toBe(trusted.keyId);
    expect(Buffer.from(signature.sig, 'base64')).toHaveLength(64);
    expect(verifyPush([trusted], PUSH, signature)).toEqual({ ok: true, keyId: trusted.keyId });
    expect(pushRequestSchema.safeParse({ ...PUSH, content: 'x', signature }).success).toBe(true);
  });

  test('either of two trusted keys (a rotation) verifies its own pushes', () => {
    const old = keyPair();
    const next = keyPair();
    const trusted = [old.trusted, next.trusted];
    expect(verifyPush(trusted, PUSH, signPush(old.signing, PUSH)).ok).toBe(true);
    expect(verifyPush(trusted, PUSH, signPush(next.signing, PUSH)).ok).toBe(true);
  });

  test('an unsigned push is refused, naming the keys the drone trusts', () => {
    const { trusted } = keyPair();
    const check = verifyPush([trusted], PUSH, undefined);
    expect(check).toEqual({ ok: false, problem: expect.stringContaining('is not signed') });
    expect(check.ok ? '' : check.problem).toContain(trusted.keyId);
  });

  test('a push signed by a key the drone does not trust is refused', () => {
    const { trusted } = keyPair();
    const stranger = keyPair();
    const check = verifyPush([trusted], PUSH, signPush(stranger.signing, PUSH));
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.problem).toMatch(
      new RegExp(
        `signed by key "${stranger.signing.keyId}", which this drone does not trust \\(it trusts key ${trusted.keyId}\\)`,
      ),
    );
  });

  test("a stranger's signature under a trusted key's id does not verify", () => {
    const { trusted } = keyPair();
    const stranger = keyPair();
    const forged = { ...signPush(stranger.signing, PUSH), keyId: trusted.keyId };
    const check = verifyPush([trusted], PUSH, forged);
    expect(check.ok ? '' : check.problem).toMatch(/does not verify with key/);
  });

  test.each<[string, Partial<SignedPush>]>([
    ['another fence', { fence: 8 }],
    ['another rollout', { rollout: 'aim-v43-x2' }],
    ['a tampered sha256', { sha256: `cd${SHA.slice(2)}` }],
    ['another version', { version: 'v44' }],
    ['another file', { file: 'safety.conf' }],
  ])('a signature replayed with %s does not verify', (_what, change) => {
    const { signing, trusted } = keyPair();
    const signature = signPush(signing, PUSH);
    const check = verifyPush([trusted], { ...PUSH, ...change }, signature);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.problem).toMatch(
      /does not verify with key .*: the push is not the one that was signed/,
    );
  });

  test('the sha256 may arrive in either case', () => {
    const { signing, trusted } = keyPair();
    expect(verifyPush([trusted], { ...PUSH, sha256: SHA.toUpperCase() }, signPush(signing, PUSH)).ok).toBe(true);
  });

  test('a damaged or non-canonical signature does not verify', () => {
    const { signing, trusted } = keyPair();
    const { keyId, sig } = signPush(signing, PUSH);
    const flipped = Buffer.from(sig, 'base64');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    for (const bad of [
      flipped.toString('base64'),
      sig.slice(0, -4),
      `${sig}AAAA`,
      `${sig.slice(0, 10)}!${sig.slice(10)}`,
      'x',
    ])
      expect(verifyPush([trusted], PUSH, { keyId, sig: bad }).ok, bad).toBe(false);
  });
});

describe('keys', () => {
  test('a key id is the first 16 hex digits of the sha256 of the SPKI DER, the same from either half', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(der).digest('hex').slice(0, 16);
    expect(keyIdOf(publicKey)).toBe(expected);
    expect(keyIdOf(privateKey)).toBe(expected);
  });

  test('a generated pair is PKCS#8 and SPKI PEM with the id of its public key', () => {
    const pair = generatePushKeyPair();
    expect(pair.privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(pair.publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(pair.keyId).toBe(keyIdOf(createPublicKey(pair.publicPem)));
  });

  test('a signing key must be an unencrypted Ed25519 private key in PEM', () => {
    const pair = generatePushKeyPair();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const encrypted = generateKeyPairSync('ed25519').privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'secret',
    });
    const problem = (pem: string) => {
      const parsed = parseSigningKey(pem);
      return 'problem' in parsed ? parsed.problem : undefined;
    };
    expect(problem(pair.privatePem)).toBeUndefined();
    expect(problem(pair.publicPem)).toMatch(/holds a public key/);
    expect(problem(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toMatch(
      /type rsa, not Ed25519/,
    );
    expect(problem(encrypted.toString())).toMatch(/encrypted with a passphrase/);
    expect(problem('-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n')).toMatch(/OpenSSH/);
    expect(problem('not a key')).toMatch(/no PEM block/);
    expect(problem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toMatch(/cannot be read/);
  });

  test('a trusted key must be an Ed25519 public key in PEM, never a private one', () => {
    const pair = generatePushKeyPair();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const problem = (pem: string) => {
      const parsed = parseTrustedKey(pem);
      return 'problem' in parsed ? parsed.problem : undefined;
    };
    expect(problem(pair.publicPem)).toBeUndefined();
    expect(problem(pair.privatePem)).toMatch(/is a private key: give the agent the public key/);
    expect(problem(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString())).toMatch(/type rsa/);
    expect(problem('ssh-ed25519 AAAAC3Nza me@host')).toMatch(/OpenSSH public key/);
    expect(problem('')).toMatch(/no PEM block/);
    expect(() => trustedKey(generateKeyPairSync('ed25519').privateKey)).toThrow(TypeError);
    expect(() => trustedKey(rsa.publicKey)).toThrow(TypeError);
  });
});
