import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir, type CliResult } from '../helpers/cli.js';
import { within } from '../helpers/fleet.js';

const DEMO_STATE = join(ROOT, '.rollout', 'demo');

function runDemo(scenario: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'demo.js'), scenario], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((done) => child.once('close', (code, signal) => done({ code, signal, stdout, stderr })));
}

describe('the demo (npm start)', () => {
  let id = '';
  let elsewhere: { path: string; remove(): Promise<void> } | undefined;

  afterEach(async () => {
    if (id !== '') {
      await rm(join(DEMO_STATE, 'rollouts', id), { recursive: true, force: true });
      await rm(join(DEMO_STATE, 'logs', `${id}.ndjson`), { force: true });
    }
    await elsewhere?.remove();
  });

  it('keeps to its own state dir and the embedded store, whatever $ROLLOUT_STORE and $ROLLOUT_STATE_DIR say', async () => {
    elsewhere = await tempDir('demo-elsewhere-');
    // An etcd nobody listens on: a demo that used it would fail instead of reaching its scenario's end.
    const demo = await within(
      runDemo('hot', { ROLLOUT_STORE: 'etcd://127.0.0.1:1', ROLLOUT_STATE_DIR: elsewhere.path }),
      60_000,
      'npm start -- hot',
    );
    expect(demo.code, demo.stderr).toBe(4);
    id = /^rollout (\S+):/m.exec(demo.stdout)?.[1] ?? '';
    expect(id).toMatch(/^aim-sensitivity-hot-/);
    expect(demo.stdout).toContain(DEMO_STATE);
    expect(demo.stderr.split('\n')[0]).toBe(`state: ${DEMO_STATE}`);
    expect(existsSync(join(DEMO_STATE, 'logs', `${id}.ndjson`))).toBe(true);
    expect(existsSync(join(DEMO_STATE, 'rollouts', id, 'record.json'))).toBe(true);
    expect(existsSync(join(ROOT, '.rollout', 'rollouts', id))).toBe(false);
    expect(existsSync(join(elsewhere.path, 'rollouts'))).toBe(false);
  });
});
