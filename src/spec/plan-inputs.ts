import { resolve } from 'node:path';
import { KEY_ID_LENGTH, parseSigningKey, type KeyParse, type SigningKey } from '../protocol/push-signature.js';
import { checkInventoryText, type InventoryCheck } from './inventory.js';
import { valueAt } from './key-path.js';
import { formatBytes, MAX_INVENTORY_BYTES, MAX_PUSH_BODY_BYTES } from './limits.js';
import type { SpecIssue } from './spec-error.js';
import { confinedPath, decodeUtf8, displayPath, readInputFile } from './spec-files.js';
import type { ConfigArtifact, RolloutSpec } from './types.js';
import type { YamlSource } from './yaml-source.js';

/*
 * The files a spec names: its config, its inventory and its signing key. The config and the inventory
 * must lie inside the spec's folder; each must be a regular file and stay under its size limit; problems
 * are pinned to the spec key that names the file.
 */

export interface ConfigRead {
  readonly bytes: Buffer;
  readonly text: string | undefined;
  readonly issues: readonly SpecIssue[];
}

const CONFIG_LIMIT = { what: 'a config (a drone accepts pushes up to 1 MiB)', limit: MAX_PUSH_BODY_BYTES };
const INVENTORY_LIMIT = { what: 'an inventory', limit: MAX_INVENTORY_BYTES };
/** An Ed25519 private key in PEM is about 120 bytes. */
const SIGNING_KEY_LIMIT = { what: 'a signing key (an Ed25519 PEM is about 120 bytes)', limit: 16 * 1024 };
const SIGNING_KEY_HINT = 'generate one with `rollout keys generate --out <name>`';

export async function readConfigContent(source: YamlSource, baseDir: string): Promise<ConfigRead> {
  const empty = Buffer.alloc(0);
  const key = ['config', 'source'];
  const path = valueAt(source.data, key);
  if (typeof path !== 'string' || path === '') return { bytes: empty, text: undefined, issues: [] };
  const confined = await confinedPath(baseDir, path);
  const read = 'path' in confined ? await readInputFile(confined.path, CONFIG_LIMIT) : confined;
  if ('problem' in read) {
    return { bytes: empty, text: undefined, issues: [source.pin({ path: key, message: read.problem })] };
  }
  const text = decodeUtf8(read.bytes);
  if (text === undefined) {
    // Drones receive the content as a JSON string; bytes that are not UTF-8 would arrive changed.
    const message = `must be UTF-8 text: ${displayPath(resolve(baseDir, path))}`;
    return { bytes: empty, text: undefined, issues: [source.pin({ path: key, message })] };
  }
  return { bytes: read.bytes, text, issues: [] };
}

export async function readInventory(source: YamlSource, baseDir: string): Promise<InventoryCheck> {
  const key = ['fleet', 'inventory'];
  const path = valueAt(source.data, key);
  if (typeof path !== 'string' || path === '') return { drones: undefined, issues: [] };
  const confined = await confinedPath(baseDir, path);
  const read = 'path' in confined ? await readInputFile(confined.path, INVENTORY_LIMIT) : confined;
  if ('problem' in read) return { drones: undefined, issues: [source.pin({ path: key, message: read.problem })] };
  return checkInventoryBytes(read.bytes, resolve(baseDir, path));
}

/**
 * An inventory named on the command line: the user's own choice, so it may lie anywhere, but it is
 * still read bounded. No spec key to point at, so problems reading it are at 1:1 of the file.
 */
export async function readInventoryOverride(absolute: string): Promise<InventoryCheck> {
  const read = await readInputFile(absolute, INVENTORY_LIMIT);
  if ('problem' in read) {
    const issue = { file: displayPath(absolute), line: 1, column: 1, key: '', message: read.problem };
    return { drones: undefined, issues: [issue] };
  }
  return checkInventoryBytes(read.bytes, absolute);
}

function checkInventoryBytes(bytes: Buffer, absolute: string): InventoryCheck {
  const file = displayPath(absolute);
  const text = decodeUtf8(bytes);
  if (text === undefined) {
    const issue = { file, line: 1, column: 1, key: '', message: 'the inventory is not UTF-8 text' };
    return { drones: undefined, issues: [issue] };
  }
  return checkInventoryText(text, file);
}

/**
 * `config.sign.key_file`, checked as the rollout will read it: a readable, unencrypted Ed25519 private key
 * in PEM. Not confined to the spec's folder: the key is never sent anywhere, and it is better kept out of
 * the repository the spec lives in. Only the path goes into the plan; the rollout reads the key again.
 */
export async function checkSigningKey(source: YamlSource, baseDir: string): Promise<readonly SpecIssue[]> {
  const key = ['config', 'sign', 'key_file'];
  const path = valueAt(source.data, key);
  if (typeof path !== 'string' || path === '') return [];
  const read = await readSigningKey(resolve(baseDir, path));
  return 'problem' in read ? [source.pin({ path: key, message: `${read.problem}; ${SIGNING_KEY_HINT}` })] : [];
}

/**
 * The signing key at `path` (absolute), or what is wrong with it, worded after the spec key that names it:
 * `is not an Ed25519 private key (PEM): keys/release.pub: it holds a public key; …`.
 */
export async function readSigningKey(path: string): Promise<KeyParse<SigningKey>> {
  const shown = displayPath(path);
  const read = await readInputFile(path, SIGNING_KEY_LIMIT);
  const parsed = 'problem' in read ? read : parseSigningKey(read.bytes.toString('utf8'));
  if ('key' in parsed) return parsed;
  const where = 'problem' in read ? read.problem : `${shown}: ${parsed.problem}`;
  return { problem: `is not an Ed25519 private key (PEM): ${where}` };
}

/** Rollout ids are the spec's name, a dash and a suffix of about a dozen characters; this is generous. */
const ROLLOUT_ID_SUFFIX = 32;

/**
 * Why the config cannot be pushed in one request under the drones' body limit, or undefined. The push
 * carries it as a JSON string, where quotes, backslashes and control characters take more bytes.
 */
export function pushSizeProblem(spec: RolloutSpec, config: ConfigArtifact): string | undefined {
  const push = {
    rollout: `${spec.name}-${'x'.repeat(ROLLOUT_ID_SUFFIX)}`,
    version: config.version,
    sha256: config.sha256,
    fence: Number.MAX_SAFE_INTEGER,
    content: config.content,
    // An Ed25519 signature is 88 characters of base64.
    ...(spec.config.sign === undefined ? {} : { signature: { keyId: 'x'.repeat(KEY_ID_LENGTH), sig: 'x'.repeat(88) } }),
  };
  const bytes = Buffer.byteLength(JSON.stringify(push));
  if (bytes <= MAX_PUSH_BODY_BYTES) return undefined;
  return (
    `${displayPath(config.sourcePath)}, escaped as a JSON string, makes a push of ${formatBytes(bytes)}, ` +
    `over the limit of ${formatBytes(MAX_PUSH_BODY_BYTES)} a drone accepts; make the config smaller`
  );
}
