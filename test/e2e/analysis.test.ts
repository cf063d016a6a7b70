import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyInto, runCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';

const FILE = 'aim_lock_config.conf';

/** A config whose aim_sensitivity moves the simulator's trajectory_error by `shift` (0.4 is +40%). */
function configShifting(shift: number): string {
  const sensitivity = shift === 0 ? 0.85 : 1 + shift / 1.5;
  return `# aim lock config\naim_sensitivity = ${sensitivity.toFixed(4)}\nsafety_threshold = 0.95\nmax_turn_rate = 30\n`;
}

describe('canary analysis through the real CLI: the statistical judge, plan warnings, replay', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    state = await tempDir('rollout-analysis-');
    sim = await startSimProcess(['--drones', '12']);
  });

  afterEach(async () => {
    await sim.stop();
    await state.remove();
  });

  async function spec(
    name: string,
    options: { shift: number; metric: string; interval?: string; minSamples?: number; waves?: string },
  ): Promise<string> {
    const config = join(state.path, `${name}.conf`);
    await writeFile(config, configShifting(options.shift));
    const path = join(state.path, `${name}.yaml`);
    await writeFile(
      path,
      [
        `name: ${name}`,
        `config: { file: ${FILE}, source: ${config} }`,
        `fleet: { inventory: ${await copyInto(state.path, sim.inventory)} }`,
        'canary: { drones: 4, bake: 3s }',
        `analysis: { interval: ${options.interval ?? '1s'}, min_samples: ${options.minSamples ?? 3}, failure_limit: 1, metrics: [${options.metric}] }`,
        `waves: ${options.waves ?? '[{ percent: 100, bake: 0s }]'}`,
      ].join('\n'),
    );
    return path;
  }

  const comparison = '{ name: trajectory_error, direction: increase, allowed_increase: 10% }';

  it('a 40% shift in trajectory_error is caught by the Mann-Whitney comparison and rolled back', async () => {
    const run = await runCli([
      'run',
      await spec('shifted', { shift: 0.4, metric: comparison }),
      '--output',
      'json',
      '--state-dir',
      state.path,
    ]);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as { result: string; reason: string };
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/trajectory_error high/);
  });

  it('the same comparison promotes an unchanged config (noise alone does not fail it)', async () => {
    const run = await runCli([
      'run',
      await spec('noise', { shift: 0, metric: comparison }),
      '--output',
      'json',
      '--state-dir',
      state.path,
    ]);
    expect(run.code, run.stderr).toBe(0);
  });

  it('replay re-judges a recorded rollout: its own thresholds roll back again, lenient ones would not', async () => {
    const strict = await spec('strict', { shift: 0.4, metric: '{ name: trajectory_error, max_increase: 20% }' });
    const run = await runCli(['run', strict, '--output', 'json', '--state-dir', state.path]);
    expect(run.code, run.stderr).toBe(1);
    const { id } = JSON.parse(run.stdout) as { id: string };

    const same = await runCli(['replay', id, '--output', 'json', '--state-dir', state.path]);
    expect(same.code, same.stderr).toBe(0);
    const replayed = JSON.parse(same.stdout) as {
      intervals: { recorded: string; replayed: string }[];
      rollbackAt: unknown;
    };
    expect(replayed.intervals.length).toBeGreaterThanOrEqual(2);
    for (const interval of replayed.intervals) expect(interval.replayed).toBe(interval.recorded);
    expect(replayed.rollbackAt).toMatchObject({ step: 'canary' });

    const lenient = await spec('lenient', { shift: 0.4, metric: '{ name: trajectory_error, max_increase: 80% }' });
    const relaxed = await runCli(['replay', id, '--spec', lenient, '--state-dir', state.path]);
    expect(relaxed.code, relaxed.stderr).toBe(0);
    expect(relaxed.stdout).toMatch(/canary interval 1: pass +\(was fail\)/);
    expect(relaxed.stdout).toMatch(/would not have rolled back/);
  });

  it('plan warns about bakes that cannot collect min_samples and waves that add no drone', async () => {
    const path = await spec('thin', {
      shift: 0,
      metric: '{ name: heart_rate, max: 120 }',
      interval: '200ms',
      minSamples: 20,
      waves: '[{ percent: 20, bake: 1s }, { percent: 100, bake: 1s }]',
    });
    const plan = await runCli(['plan', path, '--output', 'json']);
    expect(plan.code, plan.stderr).toBe(0);
    const result = JSON.parse(plan.stdout) as { samplesPerSecond: number; warnings: string[] };
    expect(result.samplesPerSecond).toBeGreaterThan(3);
    expect(
      result.warnings.some((w) =>
        /canary: about \d+ canary samples per interval .* cannot reach analysis\.min_samples 20/.test(w),
      ),
    ).toBe(true);
    expect(result.warnings).toContain(
      'waves[0] (percent 20) adds no drone: earlier steps already cover 20% of 12 targeted drones',
    );
  });
});
