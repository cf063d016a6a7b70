import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { lockTable, parseReport } from '../helpers/fleet.js';

interface JsonRecord {
  summary: { id: string; result: string; exitCode: number };
  counts: Record<string, number>;
  drones: { id: string; state: string }[];
  timeline: { key: string; state: string }[];
  intervals: {
    step: string;
    interval: number;
    verdict: string;
    metrics: { metric: string; canaryMedian: number; baselineMedian: number; thresholds: object }[];
    samples: { canary: Record<string, number[]>; baseline: Record<string, number[]> };
  }[];
}

/** `rollout report` and the job summary of `rollout run`, on a rollout the telemetry rolled back. */
describe('reports of a rollout', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };
  let id = '';
  let summary = '';

  const cli = (...args: string[]) => runCli([...args, '--state-dir', state.path]);

  beforeAll(async () => {
    state = await tempDir('rollout-report-');
    sim = await startSimProcess(['--drones', '20']);
    summary = join(state.path, 'step-summary.md');
    await writeFile(summary, 'an earlier step wrote this\n');
    const run = await runCli(
      [
        'run',
        'rollouts/aim-sensitivity-bad.yaml',
        '--inventory',
        sim.inventory,
        '--output',
        'json',
        '--state-dir',
        state.path,
      ],
      { env: { GITHUB_STEP_SUMMARY: summary } },
    );
    const report = parseReport(run);
    expect(report.result, run.stderr).toBe('rolled_back');
    id = report.id;
  });

  afterAll(async () => {
    await sim.stop();
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  it('rollout run appends the Markdown summary to $GITHUB_STEP_SUMMARY', async () => {
    const text = await readFile(summary, 'utf8');
    expect(text.startsWith('an earlier step wrote this\n## aim-sensitivity-v43: rolled_back (exit 1)\n')).toBe(true);
    expect(text).toMatch(/\| canary \| 1 \| fail \| 50 \| heart_rate pass: .*; trajectory_error high: /);
    expect(text).toContain('| canary | failed |');
  });

  it('--format md prints the same summary; --output json is the full record of every interval', async () => {
    const md = await cli('report', id);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain(`Rollout \`${id}\``);
    expect(md.stdout).toContain('Drones: rolled back 3, unchanged 17.');
    const json = await cli('report', id, '--output', 'json');
    const record = JSON.parse(json.stdout) as JsonRecord;
    expect(record.summary).toMatchObject({ id, result: 'rolled_back', exitCode: 1 });
    expect(record.counts).toMatchObject({ rolled_back: 3, unchanged: 17 });
    expect(record.intervals.length).toBeGreaterThanOrEqual(2);
    for (const interval of record.intervals) {
      expect(interval).toMatchObject({ step: 'canary', verdict: 'fail' });
      expect(interval.metrics.map((m) => m.metric)).toEqual(['heart_rate', 'trajectory_error']);
      expect(interval.samples.canary['trajectory_error']?.length).toBeGreaterThan(0);
    }
  });

  it('--format html writes one file that loads nothing from anywhere', async () => {
    const file = join(state.path, 'report.html');
    const written = await cli('report', id, '--format', 'html', '--out', file);
    expect(written.code, written.stderr).toBe(0);
    expect(written.stderr).toContain(`report of ${id} written to ${file}`);
    const html = await readFile(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=/);
    expect(html).toContain('"result":"rolled_back"');
  });

  it('refuses an unknown rollout, two outputs at once, and a folder that is not there, with exit 2', async () => {
    const unknown = await cli('report', 'no-such-rollout');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no rollout no-such-rollout in the state store; `rollout history` lists them/);
    const both = await cli('report', id, '--format', 'html', '--output', 'json');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give one of them/);
    const nowhere = join(state.path, 'missing', 'r.md');
    const lost = await cli('report', id, '--out', nowhere);
    expect(lost.code).toBe(2);
    expect(lost.stderr).toContain(`cannot write the report to ${nowhere}`);
    expect(existsSync(nowhere)).toBe(false);
  });

  it('rollout ui on a port in use says so and exits 2', async () => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', () => done()));
    const { port } = taken.address() as { port: number };
    try {
      const ui = await cli('ui', '--port', String(port));
      expect(ui.code).toBe(2);
      expect(ui.stderr).toContain(`rollout ui cannot listen on 127.0.0.1:${port} (EADDRINUSE): pick another --port`);
    } finally {
      await new Promise((done) => taken.close(done));
    }
  });
});
