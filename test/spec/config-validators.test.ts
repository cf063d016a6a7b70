import { readFileSync } from 'node:fs';
import { access, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPlan, type LoadPlanOptions } from '../../src/spec/load-plan.js';
import { SpecError } from '../../src/spec/spec-error.js';

/*
 * The spec's own checks of the config (`config.validate`) through loadPlan: a JSON Schema failure is
 * pinned to the config's line, a command's failure to its key in the spec with the command's output,
 * and a command that runs too long is stopped with whatever it started.
 */

/** The spec's `validate:` entries start on this line, one per line, at the column below. */
const FIRST_VALIDATOR_LINE = 6;
/** Column of the value in `    - { command: [...] }`. */
const COMMAND_COLUMN = 18;
/** Column of the value in `    - { json_schema: x }`. */
const SCHEMA_COLUMN = 22;

const INVENTORY = [
  'drones:',
  '  - { id: d1, url: http://127.0.0.1:7100/d/d1 }',
  '  - { id: d2, url: http://127.0.0.1:7100/d/d2 }',
  '',
].join('\n');

/** Twenty-one top-level fields, one per line: field_<n> sits on line n + 1. */
const TWENTY_ONE_FIELDS = `${JSON.stringify(
  Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`field_${i + 1}`, i + 1])),
  null,
  2,
)}\n`;

let dir: string;
let outside: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'config-validators-')));
  outside = await realpath(await mkdtemp(join(tmpdir(), 'config-validators-outside-')));
  await writeFile(join(dir, 'fleet.yaml'), INVENTORY);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

/** `name` in the spec's folder, its absolute path. */
async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** An executable `#!/bin/sh` script in the spec's folder. */
async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

/** A spec checking `source` with `validators` (YAML flow mappings), the first on FIRST_VALIDATOR_LINE. */
function specWith(validators: readonly string[], source = 'aim.json'): Promise<string> {
  return write(
    'spec.yaml',
    [
      'name: validated',
      'config:',
      '  file: aim_lock_config.conf',
      `  source: ${source}`,
      '  validate:',
      ...validators.map((validator) => `    - ${validator}`),
      'fleet: { inventory: fleet.yaml }',
      'canary: { drones: 1 }',
      '',
    ].join('\n'),
  );
}

async function specError(spec: string, options?: LoadPlanOptions): Promise<SpecError> {
  const error: unknown = await loadPlan(spec, options).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SpecError);
  return error as SpecError;
}

/** An issue pinned to config.validate[index].<key> of spec.yaml. */
function atValidator(index: number, key: 'command' | 'json_schema', message: string | RegExp) {
  return {
    file: join(dir, 'spec.yaml'),
    line: FIRST_VALIDATOR_LINE + index,
    column: key === 'command' ? COMMAND_COLUMN : SCHEMA_COLUMN,
    key: `config.validate[${index}].${key}`,
    message: typeof message === 'string' ? message : expect.stringMatching(message),
  };
}

/** Whether a process still runs; a zombie (killed, not yet reaped by its new parent) does not. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...", the state right after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('JSON Schema validators', () => {
  it('pins a config with 21 fields, against a schema allowing 20, to the mapping in the config', async () => {
    const config = await write('aim.json', JSON.stringify({ aim: JSON.parse(TWENTY_ONE_FIELDS) as unknown }, null, 2));
    await write('aim.schema.json', JSON.stringify({ properties: { aim: { type: 'object', maxProperties: 20 } } }));
    const error = await specError(await specWith(['{ json_schema: aim.schema.json }']));
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.issues).toEqual([
      {
        file: config,
        line: 2,
        column: 10,
        key: 'aim',
        message: 'must NOT have more than 20 properties (validator "aim.schema.json", config.validate[0])',
      },
    ]);
    expect(error.message).toBe(
      `${config}:2:10 aim: must NOT have more than 20 properties (validator "aim.schema.json", config.validate[0])`,
    );
  });

  it('pins the 21st field a closed schema does not allow to its own line and key', async () => {
    const config = await write('aim.json', TWENTY_ONE_FIELDS);
    const allowed = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field_${i + 1}`, { type: 'integer' }]));
    await write('closed.json', JSON.stringify({ type: 'object', properties: allowed, additionalProperties: false }));
    const error = await specError(await specWith(['{ json_schema: closed.json, name: closed }']));
    expect(error.issues).toEqual([
      {
        file: config,
        line: 22,
        column: 3,
        key: 'field_21',
        message: 'is not allowed by the schema (validator "closed", config.validate[0])',
      },
    ]);
  });

  it('checks a YAML config, pinning a value out of range to its line and column', async () => {
    const config = await write(
      'aim.yaml',
      [
        '# aim lock',
        'aim:',
        '  sensitivity: 0.85',
        '  safety_threshold: 1.4',
        'limits:',
        '  max_turn_rate: 30',
        '',
      ].join('\n'),
    );
    // The schema itself may be YAML too.
    await write(
      'aim.schema.yaml',
      [
        'type: object',
        'required: [aim, limits]',
        'properties:',
        '  aim:',
        '    type: object',
        '    properties:',
        '      sensitivity: { type: number, minimum: 0, maximum: 1 }',
        '      safety_threshold: { type: number, minimum: 0, maximum: 1 }',
        '  limits:',
        '    type: object',
        '    properties:',
        '      max_turn_rate: { type: integer, maximum: 45 }',
        '',
      ].join('\n'),
    );
    const error = await specError(await specWith(['{ json_schema: aim.schema.yaml, name: aim-schema }'], 'aim.yaml'));
    expect(error.issues).toEqual([
      {
        file: config,
        line: 4,
        column: 21,
        key: 'aim.safety_threshold',
        message: 'must be <= 1 (validator "aim-schema", config.validate[0])',
      },
    ]);
  });

  it('passes a valid config: loadPlan returns the plan with the validators as the spec gave them', async () => {
    await write('aim.json', `${JSON.stringify({ sensitivity: 0.85, max_turn_rate: 30 }, null, 2)}\n`);
    await write(
      'aim.schema.json',
      JSON.stringify({
        type: 'object',
        required: ['sensitivity'],
        properties: { sensitivity: { type: 'number', maximum: 1 }, max_turn_rate: { type: 'integer' } },
        additionalProperties: false,
      }),
    );
    const check = await script('check.sh', 'test -s "$1"');
    const plan = await loadPlan(
      await specWith([
        '{ json_schema: aim.schema.json }',
        '{ command: [./check.sh, "{{file}}"], timeout: 2s, name: aim-check }',
      ]),
    );
    expect(plan.spec.config.validate).toEqual([
      { kind: 'json_schema', name: 'aim.schema.json', schemaPath: join(dir, 'aim.schema.json') },
      { kind: 'command', name: 'aim-check', argv: [check, '{{file}}'], timeoutMs: 2_000 },
    ]);
    expect(plan.drones.map((drone) => drone.id)).toEqual(['d1', 'd2']);
    expect(plan.steps.map((step) => step.drones)).toEqual([['d1'], ['d2']]);
  });

  it('reads a schema whose $schema is 2020-12 as draft 2020-12: prefixItems and items: false', async () => {
    const config = await write('home.json', '{\n  "home": [\n    12.5,\n    "north"\n  ]\n}\n');
    await write(
      'home.schema.json',
      JSON.stringify({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: {
          home: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }], items: false },
        },
      }),
    );
    const spec = await specWith(['{ json_schema: home.schema.json }'], 'home.json');
    const error = await specError(spec);
    expect(error.issues).toEqual([
      {
        file: config,
        line: 4,
        column: 5,
        key: 'home[1]',
        message: 'must be number (validator "home.schema.json", config.validate[0])',
      },
    ]);
    // Draft-07 would read `items: false` as "no items at all" and refuse this one.
    await write('home.json', '{ "home": [12.5, 45.1] }\n');
    await expect(loadPlan(spec)).resolves.toMatchObject({ drones: [{ id: 'd1' }, { id: 'd2' }] });
  });

  it('reads a schema without $schema as draft-07', async () => {
    await write('home.json', '{ "home": [12.5, "north"] }\n');
    // In 2020-12, `items` as a list is no longer a tuple; in draft-07 it is, and "north" is not a number.
    await write(
      'home.schema.json',
      JSON.stringify({ properties: { home: { items: [{ type: 'number' }, { type: 'number' }] } } }),
    );
    const error = await specError(await specWith(['{ json_schema: home.schema.json }'], 'home.json'));
    expect(error.issues).toEqual([
      expect.objectContaining({ key: 'home[1]', message: expect.stringMatching(/^must be number /) }),
    ]);
  });

  it("refuses a schema outside the spec's folder, as written or through a symlink", async () => {
    await write('aim.json', '{ "a": 1 }\n');
    await writeFile(join(outside, 'outside.schema.json'), '{}');
    await symlink(join(outside, 'outside.schema.json'), join(dir, 'linked.schema.json'));
    const relativeOut = `../${basename(outside)}/outside.schema.json`;
    const error = await specError(
      await specWith([`{ json_schema: "${relativeOut}" }`, '{ json_schema: linked.schema.json }']),
    );
    expect(error.issues).toEqual([
      atValidator(0, 'json_schema', /^must be inside the spec's folder .*outside\.schema\.json.*; copy the file into/),
      atValidator(1, 'json_schema', /^must be inside the spec's folder .*, which resolves to .*outside\.schema\.json/),
    ]);
  });

  it('says clearly when a schema is not valid JSON Schema, not a mapping, or missing', async () => {
    await write('aim.json', '{ "a": 1 }\n');
    await write('type-12.json', '{ "type": 12 }');
    await write('list.json', '[1, 2]');
    const error = await specError(
      await specWith(['{ json_schema: type-12.json }', '{ json_schema: list.json }', '{ json_schema: nowhere.json }']),
    );
    expect(error.issues).toEqual([
      atValidator(
        0,
        'json_schema',
        /^is not a valid JSON Schema \(schema is invalid: data\/type .*\): .*type-12\.json$/,
      ),
      atValidator(1, 'json_schema', /^is not a JSON Schema \(a JSON or YAML mapping\): .*list\.json$/),
      atValidator(2, 'json_schema', /^file not found: .*nowhere\.json$/),
    ]);
  });

  it('says a config that is neither JSON nor YAML cannot be checked, and where it stops parsing', async () => {
    const config = await write('aim.ini', '[aim]\nsensitivity = 0.85\n');
    await write('aim.schema.json', '{ "type": "object" }');
    const error = await specError(await specWith(['{ json_schema: aim.schema.json, name: ini }'], 'aim.ini'));
    expect(error.issues).toEqual([
      atValidator(0, 'json_schema', 'the config is not JSON or YAML, so validator "ini" cannot check it'),
      expect.objectContaining({ file: config, line: 2, message: expect.stringMatching(/^invalid YAML: /) }),
    ]);
  });

  it('shows 20 schema errors and counts the rest at the validator', async () => {
    const config = await write(
      'aim.json',
      JSON.stringify(Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, 'text'])), null, 2),
    );
    await write('ints.json', JSON.stringify({ additionalProperties: { type: 'integer' } }));
    const error = await specError(await specWith(['{ json_schema: ints.json }']));
    expect(error.issues).toHaveLength(21);
    expect(error.issues[0]).toEqual({
      file: config,
      line: 2,
      column: 9,
      key: 'f0',
      message: 'must be integer (validator "ints.json", config.validate[0])',
    });
    expect(error.issues.at(-1)).toEqual(atValidator(0, 'json_schema', 'and 5 more schema errors in the config'));
  });
});

describe('command validators', () => {
  beforeEach(async () => {
    await write('aim.json', '{ "sensitivity": 0.85 }\n');
  });

  it('passes a command that exits 0', async () => {
    await script('ok.sh', 'exit 0');
    const plan = await loadPlan(await specWith(['{ command: [./ok.sh] }']));
    expect(plan.spec.config.validate).toEqual([
      { kind: 'command', name: './ok.sh', argv: [join(dir, 'ok.sh')], timeoutMs: 10_000 },
    ]);
  });

  it('gives {{file}} as the absolute path of the config it checks', async () => {
    await script('record.sh', `printf '%s' "$1" > '${join(dir, 'seen')}'\ncp "$1" '${join(dir, 'copy')}'`);
    await loadPlan(await specWith(['{ command: [./record.sh, "{{file}}"] }']));
    expect(await readFile(join(dir, 'seen'), 'utf8')).toBe(join(dir, 'aim.json'));
    expect(await readFile(join(dir, 'copy'), 'utf8')).toBe('{ "sensitivity": 0.85 }\n');
  });

  it("pins exit 3 to the command's key in the spec, with the exit code and the last 20 lines of output", async () => {
    await script('ok.sh', 'exit 0');
    await script('check.sh', 'for i in $(seq 1 25); do echo "problem $i" >&2; done\nexit 3');
    const error = await specError(
      await specWith(['{ command: [./ok.sh], name: passes }', '{ command: [./check.sh], name: aim-check }']),
    );
    const lines = Array.from({ length: 20 }, (_, i) => `  problem ${i + 6}`);
    expect(error.issues).toEqual([
      atValidator(
        1,
        'command',
        ['validator "aim-check" failed with exit code 3:', '  (5 earlier lines left out)', ...lines].join('\n'),
      ),
    ]);
    expect(error.message).toContain(
      `${join(dir, 'spec.yaml')}:7:18 config.validate[1].command: validator "aim-check" failed with exit code 3:\n` +
        '  (5 earlier lines left out)\n  problem 6\n',
    );
  });

  it('says when a failing command printed nothing', async () => {
    await script('quiet.sh', 'exit 1');
    const error = await specError(await specWith(['{ command: [./quiet.sh] }']));
    expect(error.issues).toEqual([
      atValidator(0, 'command', 'validator "./quiet.sh" failed with exit code 1 (it printed nothing)'),
    ]);
  });

  it('stops a command past its timeout, with the processes it started, and returns at once', async () => {
    const pids = join(dir, 'pids');
    await script('slow.sh', `echo $$ > '${pids}'\nsleep 30 &\necho $! >> '${pids}'\necho 'checking slowly'\nwait`);
    const started = performance.now();
    const error = await specError(await specWith(['{ command: [./slow.sh], timeout: 300ms, name: slow }']));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error.issues).toEqual([
      atValidator(0, 'command', 'validator "slow" did not finish within 300ms and was stopped:\n  checking slowly'),
    ]);
    const [shell, sleep] = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
    expect(shell).toBeGreaterThan(0);
    expect(sleep).toBeGreaterThan(0);
    await expect.poll(() => running(shell!) || running(sleep!), { timeout: 2_000 }).toBe(false);
  });

  // A process that left the group (setsid) keeps the output pipes open; the run ends with the command.
  it('returns within the timeout even when the command leaves a process holding its output', async () => {
    const escaped = join(dir, 'escaped');
    await script('escape.sh', `setsid sleep 20 &\necho $! > '${escaped}'\nexit 0`);
    const loading = loadPlan(await specWith(['{ command: [./escape.sh], timeout: 300ms }'])).then(
      () => 'settled',
      () => 'settled',
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((done) => (timer = setTimeout(() => done('still running'), 3_000)));
    try {
      expect(await Promise.race([loading, late])).toBe('settled');
    } finally {
      clearTimeout(timer);
      const pid = Number((await readFile(escaped, 'utf8')).trim());
      if (pid > 0 && running(pid)) process.kill(pid, 'SIGKILL');
      await loading;
    }
  });

  it('runs a command in the folder of the spec, whatever the working directory', async () => {
    await script('where.sh', 'pwd\nexit 1');
    const error = await specError(await specWith(['{ command: [./where.sh], name: where }']));
    expect(error.issues).toEqual([
      atValidator(0, 'command', `validator "where" failed with exit code 1:\n  ${await realpath(dir)}`),
    ]);
  });

  it('says a program that does not exist cannot run: no such program', async () => {
    const error = await specError(
      await specWith(['{ command: [no-such-validator-7f3e, "{{file}}"] }', '{ command: [./missing.sh], name: gone }']),
    );
    expect(error.issues).toEqual([
      atValidator(
        0,
        'command',
        'validator "no-such-validator-7f3e" cannot run no-such-validator-7f3e: no such program',
      ),
      atValidator(1, 'command', `validator "gone" cannot run ${join(dir, 'missing.sh')}: no such program`),
    ]);
  });

  it('reports every failing validator in one error: a schema and a command', async () => {
    const config = await write('aim.json', '{\n  "sensitivity": 1.7\n}\n');
    await write('aim.schema.json', JSON.stringify({ properties: { sensitivity: { maximum: 1 } } }));
    await script('check.sh', 'echo "sensitivity 1.7 is above 1"\nexit 2');
    const error = await specError(
      await specWith(['{ json_schema: aim.schema.json, name: schema }', '{ command: [./check.sh], name: check }']),
    );
    expect(error.issues).toEqual([
      {
        file: config,
        line: 2,
        column: 18,
        key: 'sensitivity',
        message: 'must be <= 1 (validator "schema", config.validate[0])',
      },
      atValidator(1, 'command', 'validator "check" failed with exit code 2:\n  sensitivity 1.7 is above 1'),
    ]);
  });

  it('runs none of them with validators: false', async () => {
    await write('aim.schema.json', '{ "type": "array" }');
    const ran = join(dir, 'ran');
    await script('check.sh', `touch '${ran}'\nexit 1`);
    const spec = await specWith(['{ json_schema: aim.schema.json }', '{ command: [./check.sh] }']);
    const plan = await loadPlan(spec, { validators: false });
    expect(plan.spec.config.validate).toHaveLength(2);
    expect(await exists(ran)).toBe(false);
    // The same spec with validators fails on both.
    expect((await specError(spec)).issues).toHaveLength(2);
    expect(await exists(ran)).toBe(true);
  });
});
