import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keysGenerateCommand, readTrustedKeys } from '../../src/cli/commands/keys.js';
import { RolloutError } from '../../src/errors.js';
import { keyIdOf, parseSigningKey, signPush, trustedKey, verifyPush } from '../../src/protocol/push-signature.js';

/* `rollout keys generate --out <name>`, called as program.ts calls it. */

let dir: string;
let stdout: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keys-generate-'));
  stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const generate = (out: string, output: 'text' | 'json' = 'text') =>
  keysGenerateCommand({ out, output, logLevel: 'silent' });

async function refusal(run: Promise<unknown>): Promise<RolloutError> {
  const error: unknown = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RolloutError);
  return error as RolloutError;
}

describe('keys generate', () => {
  it('writes an Ed25519 pair: the private key PKCS#8 PEM readable by its owner alone, the public key SPKI PEM', async () => {
    expect(await generate(join(dir, 'release'))).toBe(0);

    const keyPem = await readFile(join(dir, 'release.key'), 'utf8');
    const pubPem = await readFile(join(dir, 'release.pub'), 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(pubPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(createPrivateKey(keyPem).asymmetricKeyType).toBe('ed25519');
    expect((await stat(join(dir, 'release.key'))).mode & 0o777).toBe(0o600);
    // The two halves belong together: what the key signs, the public key verifies.
    const signing = parseSigningKey(keyPem);
    if (!('key' in signing)) throw new Error(signing.problem);
    const push = { file: 'a.conf', version: 'v1', sha256: 'a'.repeat(64), rollout: 'r', fence: 1 };
    expect(verifyPush([trustedKey(createPublicKey(pubPem))], push, signPush(signing.key, push)).ok).toBe(true);

    const keyId = keyIdOf(createPublicKey(pubPem));
    expect(stdout).toContain(`release.key: the private key (mode 0600; keep it secret)`);
    expect(stdout).toContain(`release.pub: the public key; start each agent with --trust-key `);
    expect(stdout).toContain(`key id ${keyId}\n`);
  });

  it('prints {key, pub, keyId} with --output json', async () => {
    await generate(join(dir, 'release'), 'json');
    const printed = JSON.parse(stdout) as Record<string, unknown>;
    const keyId = keyIdOf(createPublicKey(await readFile(join(dir, 'release.pub'), 'utf8')));
    expect(printed).toEqual({ key: join(dir, 'release.key'), pub: join(dir, 'release.pub'), keyId });
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('takes --out release.key as the name release', async () => {
    await generate(join(dir, 'release.key'));
    expect((await readdir(dir)).sort()).toEqual(['release.key', 'release.pub']);
  });

  it('refuses to overwrite either file, naming it, and writes nothing', async () => {
    await writeFile(join(dir, 'old.key'), 'precious');
    const keyError = await refusal(generate(join(dir, 'old')));
    expect(keyError.code).toBe('E_USAGE');
    expect(keyError.message).toMatch(/old\.key already exists: refusing to overwrite a key/);
    expect(await readFile(join(dir, 'old.key'), 'utf8')).toBe('precious');
    expect(await readdir(dir)).toEqual(['old.key']);

    await writeFile(join(dir, 'other.pub'), 'precious');
    const pubError = await refusal(generate(join(dir, 'other')));
    expect(pubError.message).toMatch(/other\.pub already exists/);
    expect((await readdir(dir)).sort()).toEqual(['old.key', 'other.pub']);
    expect(await readFile(join(dir, 'other.pub'), 'utf8')).toBe('precious');
  });

  it('says when the folder does not exist', async () => {
    const error = await refusal(generate(join(dir, 'missing', 'release')));
    expect(error.code).toBe('E_USAGE');
    expect(error.message).toMatch(/cannot write .*release\.key: the folder .*missing does not exist/);
  });
});

describe('--trust-key files', () => {
  it('read as Ed25519 public keys, the same key once', async () => {
    await generate(join(dir, 'a'));
    await generate(join(dir, 'b'));
    const keys = await readTrustedKeys([join(dir, 'a.pub'), join(dir, 'b.pub'), join(dir, 'a.pub')]);
    expect(keys.map((key) => keyIdOf(key))).toEqual([
      keyIdOf(createPublicKey(await readFile(join(dir, 'a.pub'), 'utf8'))),
      keyIdOf(createPublicKey(await readFile(join(dir, 'b.pub'), 'utf8'))),
    ]);
  });

  it('refuse a private key or a missing file, naming the flag and the file', async () => {
    await generate(join(dir, 'a'));
    const privateKey = await refusal(readTrustedKeys([join(dir, 'a.key')]));
    expect(privateKey.code).toBe('E_USAGE');
    expect(privateKey.message).toMatch(
      /^--trust-key .*a\.key: is not an Ed25519 public key \(PEM\): it is a private key/,
    );
    const missing = await refusal(readTrustedKeys([join(dir, 'nope.pub')]));
    expect(missing.message).toMatch(/^--trust-key .*nope\.pub: is not an Ed25519 public key \(PEM\): file not found/);
  });
});
