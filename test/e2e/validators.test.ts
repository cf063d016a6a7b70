import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, type CliResult, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  fleetHealth,
  lockTable,
  parseReport,
  runArgs,
  tempDirPerTest,
  writeSpec,
} from '../helpers/fleet.js';
import type { SimStatsView } from '../../src/simulator/index.js';
import type { SpecIssue } from '../../src/spec/spec-error.js';

/*
 * The spec's config validators through the real CLI (dist/): validate, plan and run refuse a config a
 * validator fails with exit 2, naming the spec's line and the validator's output, before anything
 * reaches a drone; a config every validator passes is rolled out.
 */

/** The line of config.validate[0] in a spec from `validatedSpec`: writeSpec's `  version:` is line 5. */
const FIRST_VALIDATOR_LINE = 7;

/** A JSON config the simulated drones take as sane (no aim_sensitivity they would read). */
const GOOD_CONFIG = `${JSON.stringify({ aim: { sensitivity: 0.85, safety_threshold: 0.95 }, max_turn_rate: 30 }, null, 2)}\n`;

const AIM_SCHEMA = JSON.stringify({
  type: 'object',
  required: ['aim'],
  properties: {
    aim: {
      type: 'object',
      properties: { sensitivity: { type: 'number', maximum: 1 }, safety_threshold: { type: 'number' } },
      additionalProperties: false,
    },
    max_turn_rate: { type: 'integer', maximum: 45 },
  },
});

/** Whether a process still runs; a zombie (killed, not yet reaped by its new parent) does not. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

describe('config validators through the real CLI', () => {
  const children = new Children();
  const dir = tempDirPerTest('validators-e2e-', children);
  let sim: SimProcess | undefined;

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  const startSim = async (): Promise<SimProcess> => {
    sim = children.track(await startSimProcess(['--drones', '4']));
    return sim;
  };

  /**
   * writeSpec's spec `name` in the temp dir, with `validators` (YAML flow mappings) under `config:` and,
   * when given, `config` as the content of its config file.
   */
  async function validatedSpec(name: string, validators: readonly string[], config?: string): Promise<string> {
    const spec = await writeSpec(dir.path, name, { canary: 1, bake: '1s' });
    if (config !== undefined) await writeFile(join(dir.path, `${name}.conf`), config);
    const text = await readFile(spec, 'utf8');
    const block = ['  validate:', ...validators.map((validator) => `    - ${validator}`)].join('\n');
    const withValidators = text.replace(/^ {2}version: .*$/m, (line) => `${line}\n${block}`);
    expect(withValidators.split('\n')[FIRST_VALIDATOR_LINE - 1]).toBe(`    - ${validators[0]}`);
    await writeFile(spec, withValidators);
    return spec;
  }

  /** An executable `#!/bin/sh` script in the temp dir. */
  async function script(name: string, body: string): Promise<void> {
    await writeFile(join(dir.path, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }

  /** A check that fails with exit 3 and says why on both of its outputs. */
  async function failingCheck(): Promise<string> {
    await script('check-aim.sh', 'echo "checking $1"\necho "aim.sensitivity 1.7 is above 1" >&2\nexit 3');
    return '{ command: [./check-aim.sh, "{{file}}"], timeout: 5s, name: aim-check }';
  }

  /** An inventory of four drones nobody listens to: validate and plan stop before any of them is asked. */
  async function offlineInventory(): Promise<string> {
    const path = join(dir.path, 'fleet.yaml');
    const drones = [1, 2, 3, 4].map((i) => `  - { id: drone-${i}, url: http://127.0.0.1:9/d/drone-${i} }`);
    await writeFile(path, ['drones:', ...drones, ''].join('\n'));
    return path;
  }

  function issuesOf(result: CliResult): SpecIssue[] {
    const report = JSON.parse(result.stdout) as { result: string; exitCode: number; code: string; issues: SpecIssue[] };
    expect(report).toMatchObject({ result: 'invalid', exitCode: 2, code: 'E_SPEC_INVALID' });
    return report.issues;
  }

  /** The failing check's issue, pinned to config.validate[0].command of `spec`. */
  function checkFailure(name: string): SpecIssue {
    return {
      file: join(dir.path, `${name}.yaml`),
      line: FIRST_VALIDATOR_LINE,
      column: 18,
      key: 'config.validate[0].command',
      message: [
        'validator "aim-check" failed with exit code 3:',
        `  checking ${join(dir.path, `${name}.conf`)}`,
        '  aim.sensitivity 1.7 is above 1',
      ].join('\n'),
    };
  }

  it.each(['validate', 'plan'])(
    '%s: a failing command is exit 2, naming the spec line, the validator and its output',
    async (command) => {
      const spec = await validatedSpec(`${command}-fails`, [await failingCheck()]);
      const inventory = await offlineInventory();
      const text = await runCli([command, spec, '--inventory', inventory]);
      expect(text.code, text.stdout + text.stderr).toBe(2);
      expect(text.stdout).toBe('');
      expect(text.stderr).toContain(
        `${spec}:${FIRST_VALIDATOR_LINE}:18 config.validate[0].command: validator "aim-check" failed with exit code 3:\n` +
          `  checking ${join(dir.path, `${command}-fails.conf`)}\n` +
          '  aim.sensitivity 1.7 is above 1\n',
      );
      expect(text.stderr).not.toMatch(/^ {4}at /m);

      const json = await runCli([command, spec, '--inventory', inventory, '--output', 'json']);
      expect(json.code, json.stderr).toBe(2);
      expect(issuesOf(json)).toEqual([checkFailure(`${command}-fails`)]);
    },
  );

  it('validate: a JSON Schema failure is pinned to the line of the config, a passing one is valid', async () => {
    await writeFile(join(dir.path, 'aim.schema.json'), AIM_SCHEMA);
    const inventory = await offlineInventory();
    const bad = GOOD_CONFIG.replace('"sensitivity": 0.85', '"sensitivity": 1.7');
    const spec = await validatedSpec('schema-fails', ['{ json_schema: aim.schema.json, name: aim-schema }'], bad);
    const refused = await runCli(['validate', spec, '--inventory', inventory, '--output', 'json']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(issuesOf(refused)).toEqual([
      {
        file: join(dir.path, 'schema-fails.conf'),
        line: 3,
        column: 20,
        key: 'aim.sensitivity',
        message: 'must be <= 1 (validator "aim-schema", config.validate[0])',
      },
    ]);
    expect(refused.stderr).toContain(
      `schema-fails.conf:3:20 aim.sensitivity: must be <= 1 (validator "aim-schema", config.validate[0])`,
    );

    await writeFile(join(dir.path, 'schema-fails.conf'), GOOD_CONFIG);
    const valid = await runCli(['validate', spec, '--inventory', inventory, '--output', 'json']);
    expect(valid.code, valid.stderr).toBe(0);
    expect(JSON.parse(valid.stdout)).toMatchObject({ valid: true, drones: 4 });
  });

  it('run: a failing command is exit 2 and nothing reaches a drone: no push, no pause, no lock', async () => {
    const fleet = await startSim();
    const before = await fleetHealth(fleet, 4);
    const spec = await validatedSpec('run-fails', [await failingCheck()]);
    const run = await runCli(runArgs(spec, fleet, dir.path));
    expect(run.code, run.stderr).toBe(2);
    expect(issuesOf(run)).toEqual([checkFailure('run-fails')]);
    expect(run.stderr).toContain('validator "aim-check" failed with exit code 3:\n');

    const stats = (await (await fetch(`${fleet.url}/sim/stats`)).json()) as SimStatsView;
    expect(stats).toMatchObject({ pushes: 0, rollbacks: 0, resumes: 0 });
    const after = await fleetHealth(fleet, 4);
    for (const drone of Object.values(after)) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]).toEqual(before[drone.id]?.configs[FILE]);
    }
    expect(await lockTable(dir.path)).toEqual([]);
  });

  it('run: a config passing a JSON Schema and a command is rolled out to every drone', async () => {
    const fleet = await startSim();
    await writeFile(join(dir.path, 'aim.schema.json'), AIM_SCHEMA);
    const seen = join(dir.path, 'checked');
    await script('check-aim.sh', `printf '%s' "$1" > '${seen}'\ngrep -q '"sensitivity": 0.85' "$1"`);
    const spec = await validatedSpec(
      'run-passes',
      ['{ json_schema: aim.schema.json }', '{ command: [./check-aim.sh, "{{file}}"], timeout: 5s, name: aim-check }'],
      GOOD_CONFIG,
    );
    const run = await runCli(runArgs(spec, fleet, dir.path));
    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run);
    expect(report.result).toBe('promoted');
    expect(await readFile(seen, 'utf8')).toBe(join(dir.path, 'run-passes.conf'));
    for (const drone of Object.values(await fleetHealth(fleet, 4))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]).toMatchObject({ sha256: report.config.sha256, lock: 'free' });
    }
    expect(await lockTable(dir.path)).toEqual([]);
  });

  it('a command that runs past its timeout is stopped: plan is exit 2 within seconds', async () => {
    const pid = join(dir.path, 'pid');
    await script('slow.sh', `echo $$ > '${pid}'\necho "still checking"\nexec sleep 30`);
    const spec = await validatedSpec('slow', ['{ command: [./slow.sh], timeout: 300ms, name: slow }']);
    const started = performance.now();
    const planned = await runCli(['plan', spec, '--inventory', await offlineInventory(), '--output', 'json']);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(planned.code, planned.stderr).toBe(2);
    expect(issuesOf(planned)).toEqual([
      expect.objectContaining({
        line: FIRST_VALIDATOR_LINE,
        key: 'config.validate[0].command',
        message: 'validator "slow" did not finish within 300ms and was stopped:\n  still checking',
      }),
    ]);
    // The script became `sleep 30` in place (exec): that process is gone.
    const sleeping = Number((await readFile(pid, 'utf8')).trim());
    expect(sleeping).toBeGreaterThan(0);
    await expect.poll(() => running(sleeping), { timeout: 2_000 }).toBe(false);
  });
});
