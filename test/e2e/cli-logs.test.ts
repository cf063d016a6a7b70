import { spawnSync } from 'node:child_process';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { parseReport, writeSpec } from '../helpers/fleet.js';

/** Lines of stderr after the first, which names the state dir. */
function logLines(stderr: string): string[] {
  const [first, ...rest] = stderr.split('\n').filter((line) => line !== '');
  expect(first).toMatch(/^state: /);
  return rest;
}

async function logFile(stateDir: string): Promise<unknown[]> {
  const [name, ...others] = await readdir(join(stateDir, 'logs'));
  expect(others).toEqual([]);
  return (await readFile(join(stateDir, 'logs', name ?? ''), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
}

/** Fills a file system to its last byte, so the next write to it fails with ENOSPC. */
async function fill(dir: string): Promise<void> {
  const file = await open(join(dir, 'filler'), 'w');
  const block = Buffer.alloc(4096);
  try {
    for (;;) await file.write(block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    for (let size = 2048; size >= 1; size /= 2) await file.write(Buffer.alloc(size)).catch(() => undefined);
  } finally {
    await file.close();
  }
}

describe('logs of rollout run', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };
  let mounted: string | undefined;

  beforeEach(async () => {
    state = await tempDir('rollout-logs-');
    sim = await startSimProcess(['--drones', '4', '--hot', 'drone-2']);
  });

  afterEach(async () => {
    if (mounted !== undefined) spawnSync('umount', [mounted]);
    mounted = undefined;
    await sim.stop();
    await state.remove();
  });

  /** `rollout run <spec>` on the simulated fleet with the test's state dir, and `options` after. */
  const runWith = (spec: string, ...options: string[]) =>
    runCli(['run', spec, '--inventory', sim.inventory, '--state-dir', state.path, ...options]);

  it('reach stderr as short human lines with --output text, and the log file stays NDJSON', async () => {
    const spec = await writeSpec(state.path, 'hot-text');
    const run = await runWith(spec, '--log-level', 'warn');
    expect(run.code, run.stderr).toBe(4);
    const lines = logLines(run.stderr);
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    expect(lines).toContainEqual(
      expect.stringMatching(/^warn: drone-2: lock mismatch: aim_lock_config\.conf HOT \(stage: [^)]+\)$/),
    );
    expect(await logFile(state.path)).toContainEqual(expect.objectContaining({ level: 40, drone: 'drone-2' }));
  });

  it('stay pino NDJSON on stderr with --output json', async () => {
    const spec = await writeSpec(state.path, 'hot-json');
    const run = await runWith(spec, '--log-level', 'warn', '--output', 'json');
    expect(parseReport(run)).toMatchObject({ result: 'aborted_hot', hot: ['drone-2'] });
    const logged = logLines(run.stderr)
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as unknown);
    expect(logged).toContainEqual(expect.objectContaining({ level: 40, drone: 'drone-2' }));
  });

  it('never stop a run when the log file is on a full file system: one warning, and the run goes on', async (context) => {
    const logs = join(state.path, 'logs');
    await mkdir(logs);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', logs], { encoding: 'utf8' });
    if (mount.status !== 0) context.skip(`mounting a tmpfs needs root: ${mount.stderr.trim() || mount.error?.message}`);
    mounted = logs;
    await fill(logs);
    await sim.stop();
    sim = await startSimProcess(['--drones', '4']);

    const spec = await writeSpec(state.path, 'full-disk', { bake: '0s' });
    const run = await runWith(spec, '--output', 'json');
    expect(parseReport(run)).toMatchObject({ result: 'promoted', exitCode: 0 });
    const warnings = logLines(run.stderr).filter((line) => line.startsWith('warning: the log file'));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^warning: the log file \S+\.ndjson cannot be written \(ENOSPC: [^)]*\); logging to it stopped$/,
      ),
    ]);
  });
});
