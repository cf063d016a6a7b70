import type { KeyObject } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RolloutError } from '../../errors.js';
import { generatePushKeyPair, parseTrustedKey } from '../../protocol/push-signature.js';
import { displayPath, readInputFile } from '../../spec/spec-files.js';
import { printJson, type OutputOptions } from '../common.js';

export interface KeysGenerateOptions extends OutputOptions {
  /**
   * `--out <name>`: writes `<name>.key`, the private key (PKCS#8 PEM, mode 0600), and `<name>.pub`, the
   * public key (SPKI PEM), relative to the working directory. A name given as `release.key` or
   * `release.pub` means `release`. Either file existing already is E_USAGE, and nothing is written.
   */
  readonly out: string;
}

/**
 * `rollout keys generate --out <name>`: a new Ed25519 key pair to sign configs with. The private key
 * goes into a spec's `config.sign.key_file`; the public key to every agent's `--trust-key`.
 */
export async function keysGenerateCommand(options: KeysGenerateOptions): Promise<number> {
  const base = options.out.replace(/\.(key|pub)$/u, '');
  if (base === '' || /[\\/]$/u.test(base)) {
    throw new RolloutError(
      'E_USAGE',
      `--out ${JSON.stringify(options.out)}: expected a name for the key files, such as --out release (writes release.key and release.pub)`,
    );
  }
  const key = resolve(`${base}.key`);
  const pub = resolve(`${base}.pub`);
  const pair = generatePushKeyPair();
  // The private key first and alone readable by its owner; a public key that cannot be written takes it back.
  await writeNew(key, pair.privatePem, 0o600);
  try {
    await writeNew(pub, pair.publicPem, 0o644);
  } catch (error) {
    await unlink(key).catch(() => undefined);
    throw error;
  }
  if (options.output === 'json') {
    printJson({ key, pub, keyId: pair.keyId });
  } else {
    process.stdout.write(
      `wrote ${displayPath(key)}: the private key (mode 0600; keep it secret); sign a rollout with it: config.sign.key_file\n` +
        `wrote ${displayPath(pub)}: the public key; start each agent with --trust-key ${displayPath(pub)}\n` +
        `key id ${pair.keyId}\n`,
    );
  }
  return 0;
}

/** Creates `path` with `text`, never over an existing file (E_USAGE naming it), synced before it counts as written. */
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (error) {
    throw writeError(path, error);
  }
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw writeError(path, error);
  }
  await handle.close();
}

function writeError(path: string, error: unknown): RolloutError {
  const shown = displayPath(path);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') {
    return new RolloutError(
      'E_USAGE',
      `${shown} already exists: refusing to overwrite a key; choose another --out name, or move the old key away first`,
    );
  }
  if (code === 'ENOENT') {
    return new RolloutError(
      'E_USAGE',
      `cannot write ${shown}: the folder ${displayPath(dirname(path))} does not exist`,
    );
  }
  return new RolloutError('E_USAGE', `cannot write ${shown}: ${code ?? (error as Error).message}`, { cause: error });
}

/** A public key file in PEM is a few hundred bytes; a certificate chain a few kilobytes. */
const TRUSTED_KEY_LIMIT = { what: 'a public key', limit: 16 * 1024 };

/**
 * The public keys of `rollout agent --trust-key <pub>` (and the simulator's), each read and checked to be
 * an Ed25519 public key in PEM: E_USAGE naming the file otherwise. The same key given twice counts once.
 */
export async function readTrustedKeys(paths: readonly string[]): Promise<KeyObject[]> {
  const byId = new Map<string, KeyObject>();
  for (const path of paths) {
    const read = await readInputFile(resolve(path), TRUSTED_KEY_LIMIT);
    const parsed = 'problem' in read ? read : parseTrustedKey(read.bytes.toString('utf8'));
    if ('problem' in parsed) {
      throw new RolloutError(
        'E_USAGE',
        `--trust-key ${path}: is not an Ed25519 public key (PEM): ${parsed.problem}; give the .pub file \`rollout keys generate\` wrote`,
      );
    }
    byId.set(parsed.key.keyId, parsed.key.publicKey);
  }
  return [...byId.values()];
}
