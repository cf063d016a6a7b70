import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generatePushKeyPair } from '../../src/protocol/push-signature.js';
import { loadPlan, SpecError } from '../../src/spec/index.js';
import { displayPath } from '../../src/spec/spec-files.js';

/* `config.sign.key_file`: loadPlan checks the key the rollout will sign with, and keeps only its path. */

const HINT = 'generate one with `rollout keys generate --out <name>`';

let dir: string;
let outside: string;
const pair = generatePushKeyPair();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signing-key-'));
  outside = await mkdtemp(join(tmpdir(), 'signing-key-elsewhere-'));
  await mkdir(join(dir, 'configs'));
  await writeFile(join(dir, 'configs', 'app.conf'), 'mode = fast\n');
  await writeFile(join(dir, 'fleet.yaml'), 'drones:\n  - { id: d1, url: "http://127.0.0.1:7100/d/d1" }\n');
  await writeFile(join(dir, 'release.key'), pair.privatePem);
  await writeFile(join(dir, 'release.pub'), pair.publicPem);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

async function specSigningWith(keyFile: string, source = 'configs/app.conf'): Promise<string> {
  const path = join(dir, 'spec.yaml');
  await writeFile(
    path,
    [
      'name: signed',
      'config:',
      '  file: app.conf',
      `  source: ${source}`,
      `  sign: { key_file: ${JSON.stringify(keyFile)} }`,
      'fleet: { inventory: fleet.yaml }',
      'canary: { drones: 1 }',
      '',
    ].join('\n'),
  );
  return path;
}

async function specError(path: string): Promise<SpecError> {
  const error: unknown = await loadPlan(path).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SpecError);
  return error as SpecError;
}

describe('config.sign.key_file', () => {
  it("goes into the plan as the key's absolute path, never its content", async () => {
    const plan = await loadPlan(await specSigningWith('release.key'));
    expect(plan.spec.config.sign).toEqual({ keyFile: join(dir, 'release.key') });
    const printed = JSON.stringify(plan);
    expect(printed).not.toContain('PRIVATE KEY');
    expect(printed).not.toContain(pair.privatePem.split('\n')[1]);
  });

  it('may lie outside the spec folder: a private key is better kept out of the repository', async () => {
    await writeFile(join(outside, 'ci.key'), pair.privatePem);
    const plan = await loadPlan(await specSigningWith(join(outside, 'ci.key')));
    expect(plan.spec.config.sign).toEqual({ keyFile: join(outside, 'ci.key') });
  });

  it('that is missing is a spec error pinned to the key, with the other errors of the spec', async () => {
    const error = await specError(await specSigningWith('nope.key', 'configs/nope.conf'));
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.issues.map((issue) => issue.key)).toEqual(['config.source', 'config.sign.key_file']);
    expect(error.issues[1]).toMatchObject({
      line: 5,
      column: 21,
      message: `is not an Ed25519 private key (PEM): file not found: ${displayPath(join(dir, 'nope.key'))}; ${HINT}`,
    });
  });

  it.each([
    ['the public key', () => pair.publicPem, /release\.key: it holds a public key; the spec needs the private key/],
    [
      'an RSA key',
      () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
      /release\.key: it is a key of type rsa, not Ed25519/,
    ],
    ['a text file', () => 'hello\n', /release\.key: it holds no PEM block/],
  ])('holding %s is a spec error saying what it is instead', async (_what, content, message) => {
    await writeFile(join(dir, 'release.key'), content());
    const error = await specError(await specSigningWith('release.key'));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.key).toBe('config.sign.key_file');
    expect(error.issues[0]?.message).toMatch(/^is not an Ed25519 private key \(PEM\): /);
    expect(error.issues[0]?.message).toMatch(message);
    expect(error.issues[0]?.message.endsWith(HINT)).toBe(true);
  });

  it('that is a directory is refused before it is read', async () => {
    await mkdir(join(dir, 'keys'));
    const error = await specError(await specSigningWith('keys'));
    expect(error.issues[0]?.message).toMatch(/^is not an Ed25519 private key \(PEM\): is a directory/);
  });
});
