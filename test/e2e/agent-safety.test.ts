import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { sha256Hex } from '../../src/agent/checksum.js';
import { Children, FILE, sendJson, startAgentProcess, tempDirPerTest, type AgentProcess } from '../helpers/fleet.js';

/** `rollout agent` as a real process, given what an operator gets wrong: no token, a bad --dir, a kill mid-write. */

const OLD = '# aim lock config v42\naim_sensitivity = 0.80\n';
/** No token from the environment either, whatever the shell running the tests has. */
const NO_TOKEN_ENV = { ...process.env, ROLLOUT_TOKEN: '' };
const NOBODY = 65_534;

/** `rollout agent` with no token from the environment; the URL comes from its `{"id","url"}` line. */
function startAgent(args: readonly string[]): Promise<AgentProcess> {
  return startAgentProcess(['--id', 'd1', '--log-level', 'warn', ...args], { env: NO_TOKEN_ENV });
}

function pushBody(content: string, rollout: string, fence: number): Record<string, unknown> {
  return { rollout, version: `v${fence}`, sha256: sha256Hex(content), fence, content };
}

/** Every temp file left in the drone's dir and the agent's folders. */
async function tempFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const folder of ['.', '.agent', '.agent/meta', '.agent/blobs', '.agent/locks']) {
    const names = await readdir(join(dir, folder)).catch(() => []);
    for (const name of names) if (name.startsWith('.tmp-')) found.push(join(folder, name));
  }
  return found;
}

describe('rollout agent: safety at start', () => {
  const children = new Children();
  const dir = tempDirPerTest('rollout-agent-safety-', children);

  it('without --token-file warns on stderr, naming where it listens, and health says auth none', async () => {
    const agent = children.track(await startAgent(['--dir', dir.path]));

    const health = await sendJson(agent.url, 'GET', '/v1/health');

    const { host } = new URL(agent.url);
    expect(
      agent
        .stderr()
        .split('\n')
        .filter((line) => line.startsWith('warning: ')),
    ).toEqual([expect.stringContaining(`anyone who can reach ${host}`)]);
    expect(health.body).toMatchObject({ id: 'd1', auth: 'none' });
  });

  it('with --token-file does not warn, and health says auth bearer', async () => {
    const tokenFile = join(dir.path, 'token');
    await writeFile(tokenFile, 'tok\n');
    const agent = children.track(await startAgent(['--dir', join(dir.path, 'configs'), '--token-file', tokenFile]));

    const health = await sendJson(agent.url, 'GET', '/v1/health', undefined, 'tok');

    expect(agent.stderr()).not.toContain('warning:');
    expect(health.body).toMatchObject({ auth: 'bearer' });
  });

  it('creates a missing --dir, parents included', async () => {
    const configs = join(dir.path, 'a', 'b', 'configs');
    const agent = children.track(await startAgent(['--dir', configs]));

    expect(await sendJson(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(OLD, 'r-1', 1))).toMatchObject({
      status: 200,
    });
    expect(await readFile(join(configs, FILE), 'utf8')).toBe(OLD);
  });

  it.each([
    ['a regular file', (root: string) => join(root, 'file')],
    ['a path under a regular file', (root: string) => join(root, 'file', 'configs')],
  ])('with --dir %s exits 2 with one line saying what to do, and no stack trace', async (_, dirOf) => {
    await writeFile(join(dir.path, 'file'), 'not a dir');

    const text = await runCli(['agent', '--id', 'd1', '--port', '0', '--dir', dirOf(dir.path)], { env: NO_TOKEN_ENV });
    const json = await runCli(['agent', '--id', 'd1', '--port', '0', '--dir', dirOf(dir.path), '--output', 'json'], {
      env: NO_TOKEN_ENV,
    });

    expect(text.code).toBe(2);
    expect(text.stderr.trim().split('\n')).toEqual([expect.stringContaining('--dir')]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ exitCode: 2, code: 'E_USAGE' });
  });

  it('with a --dir this user cannot write exits 2', async () => {
    const configs = join(dir.path, 'read-only');
    await mkdir(configs);
    // Root writes anywhere: run the agent as nobody then, in a dir nobody can reach but not write.
    const asRoot = process.getuid?.() === 0;
    await chmod(dir.path, 0o755);
    await chmod(configs, 0o555);
    const child = spawn(
      process.execPath,
      [BIN, 'agent', '--id', 'd1', '--port', '0', '--output', 'json', '--dir', configs],
      {
        cwd: ROOT,
        env: NO_TOKEN_ENV,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
      },
    );
    children.track({ child });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((done) => child.once('close', (exit) => done(exit)));

    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ code: 'E_USAGE', reason: expect.stringContaining('permission denied') });
  });
});

describe('rollout agent: killed mid-write', () => {
  const children = new Children();
  const dir = tempDirPerTest('rollout-agent-kill-', children);

  /** Pushes an 800 KB config and SIGKILLs the agent the moment its temp file for the config appears. */
  async function killMidWrite(agent: AgentProcess, content: string, fence: number): Promise<void> {
    const watcher = watch(dir.path);
    const tempAppeared = new Promise<void>((done) =>
      watcher.on('change', (_, name) => String(name).startsWith('.tmp-') && done()),
    );
    const push = sendJson(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(content, `r-${fence}`, fence)).catch(
      () => undefined,
    );
    await Promise.race([tempAppeared, push]);
    agent.child.kill('SIGKILL');
    watcher.close();
    await agent.exited;
    await push;
  }

  it('a restart removes what interrupted writes left, and the config still reads and rolls back', async () => {
    await writeFile(join(dir.path, FILE), OLD);
    for (let fence = 1; fence <= 5; fence += 1) {
      const agent = children.track(await startAgent(['--dir', dir.path]));
      await killMidWrite(agent, `# big config ${fence}\n${'x'.repeat(800 * 1024)}\n`, fence);
    }

    const agent = children.track(await startAgent(['--dir', dir.path]));

    expect(await tempFiles(dir.path)).toEqual([]);
    const meta = JSON.parse(await readFile(join(dir.path, '.agent', 'meta', FILE), 'utf8')) as {
      current: { sha256: string } | null;
      previous: { sha256: string } | null;
      pending: unknown;
    };
    const kept = new Set([meta.current?.sha256, meta.previous?.sha256]);
    for (const blob of await readdir(join(dir.path, '.agent', 'blobs'))) expect(kept, blob).toContain(blob);
    const before = await readFile(join(dir.path, FILE), 'utf8');
    expect((await sendJson(agent.url, 'GET', '/v1/health')).body.configs).toMatchObject({
      [FILE]: { sha256: sha256Hex(before), lock: 'free' },
    });
    expect(
      await sendJson(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody('small = 1\n', 'r-final', 10)),
    ).toMatchObject({
      status: 200,
    });
    expect(
      await sendJson(agent.url, 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-final', fence: 10 }),
    ).toMatchObject({ status: 200, body: { sha256: sha256Hex(before), restored: true } });
    expect(await readFile(join(dir.path, FILE), 'utf8')).toBe(before);
  });
});
