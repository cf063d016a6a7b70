import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'bin.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns the real CLI (the compiled bin) and waits for it to exit. */
export function startCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, CI: 'true', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolveDone) =>
    child.once('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** A CLI process `startCli` started: the child, and its result once it has exited. */
export type CliProcess = ReturnType<typeof startCli>;

export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return startCli(args, options).done;
}

export interface SimProcess {
  readonly url: string;
  readonly inventory: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `rollout fleet sim` in its own process, on a free port, with its inventory in a temp dir. */
export async function startSimProcess(args: readonly string[] = []): Promise<SimProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-sim-'));
  const inventory = join(dir, 'fleet.yaml');
  const child = spawn(
    process.execPath,
    [BIN, 'fleet', 'sim', '--port', '0', '--inventory-out', inventory, '--output', 'json', ...args],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout }).once('line', (line) => done((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => fail(new Error(`fleet sim exited with ${code} before it was ready`)));
  });
  return {
    url,
    inventory,
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A copy of `file` inside `dir` (under `dir/files/`), for a spec written to `dir`: a spec's config source
 * and inventory must lie inside the spec's own folder.
 */
export async function copyInto(dir: string, file: string): Promise<string> {
  const target = join(dir, 'files', basename(file));
  await mkdir(join(dir, 'files'), { recursive: true });
  await copyFile(file, target);
  return target;
}

/** A shipped config (rollouts/configs/<name>), copied into the spec's folder `dir`. */
export function shippedConfig(dir: string, name = 'aim_lock_config.conf'): Promise<string> {
  return copyInto(dir, join(ROOT, 'rollouts', 'configs', name));
}
