import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium, type Browser } from 'playwright-core';
import { BIN, ROOT } from './cli.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/**
 * Headless Chromium for a test file. The flags keep it off the network it would otherwise reach for at
 * start (updates, sync, safe browsing): the machines that run the tests have none.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface UiProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `rollout ui --port 0 <args>` (`--state-dir`, `--store`, …) in its own process, once it listens. */
export async function startUiProcess(args: readonly string[]): Promise<UiProcess> {
  const child = spawn(process.execPath, [BIN, 'ui', '--port', '0', '--output', 'json', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout }).once('line', (line) => done((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => fail(new Error(`rollout ui exited with ${code} before it listened`)));
  });
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
