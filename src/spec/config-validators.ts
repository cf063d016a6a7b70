import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { formatDuration } from './duration.js';
import { MAX_SPEC_BYTES } from './limits.js';
import type { SpecIssue } from './spec-error.js';
import { confinedPath, displayPath, readInputFile } from './spec-files.js';
import type { ConfigValidator } from './types.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

/*
 * The spec's own checks of the config content (`config.validate`), run by validate, plan and run
 * before anything reaches a drone. A JSON Schema failure is pinned to the line of the config that
 * breaks it; a command's failure to the validator's key in the spec, with the command's own output.
 */

/** The config being checked: its path on disk (what `{{file}}` becomes) and its text. */
export interface ValidatedConfig {
  readonly path: string;
  readonly text: string;
  /** The spec's folder: a JSON Schema must lie inside it, like the config. */
  readonly specDir: string;
}

/** How much of a command's output an error shows: its last lines, up to this many characters. */
const OUTPUT_LINES = 20;
const OUTPUT_CHARS = 2000;
/** A command's output is kept up to this much; the rest is read and dropped. */
const OUTPUT_LIMIT = 64 * 1024;
/** Errors shown per JSON Schema validator, so a config that is all wrong stays readable. */
const SCHEMA_ERRORS = 20;

/**
 * Every validator's problems, in the spec's order. `pinSpec` pins a problem to a key of the spec. All
 * validators run, so one pass shows every failure.
 */
export async function runConfigValidators(
  validators: readonly ConfigValidator[],
  config: ValidatedConfig,
  pinSpec: YamlSource['pin'],
): Promise<SpecIssue[]> {
  const results = await Promise.all(
    validators.map((validator, index) => {
      const at = ['config', 'validate', index];
      return validator.kind === 'json_schema'
        ? checkJsonSchema(validator, config, at, pinSpec)
        : runCommand(validator, config, at, pinSpec);
    }),
  );
  return results.flat();
}

type SchemaValidator = Extract<ConfigValidator, { kind: 'json_schema' }>;
type CommandValidator = Extract<ConfigValidator, { kind: 'command' }>;

async function checkJsonSchema(
  validator: SchemaValidator,
  config: ValidatedConfig,
  at: readonly (string | number)[],
  pinSpec: YamlSource['pin'],
): Promise<SpecIssue[]> {
  const schemaKey = [...at, 'json_schema'];
  const compiled = await compileSchema(config.specDir, validator.schemaPath);
  if ('problem' in compiled) return [pinSpec({ path: schemaKey, message: compiled.problem })];

  const source = parseYamlSource(config.text, displayPath(config.path));
  if (source.syntaxIssues.length > 0) {
    const why = `the config is not JSON or YAML, so validator "${validator.name}" cannot check it`;
    return [pinSpec({ path: schemaKey, message: why }), ...source.syntaxIssues];
  }
  if (compiled.validate(source.data)) return [];
  const errors = compiled.validate.errors ?? [];
  const shown = errors.slice(0, SCHEMA_ERRORS).map((error) => {
    const message = `${schemaMessage(error)} (validator "${validator.name}", config.validate[${String(at[2])}])`;
    const extra = extraProperty(error);
    // A key the schema does not allow is pinned to that key, not to the mapping holding it.
    return extra === undefined
      ? source.pin({ path: instancePath(error), message })
      : source.pin({ path: [...instancePath(error), extra], at: 'key', message });
  });
  const more = errors.length - shown.length;
  return more > 0
    ? [...shown, pinSpec({ path: schemaKey, message: `and ${more} more schema errors in the config` })]
    : shown;
}

type Compiled = { readonly validate: ValidateFunction } | { readonly problem: string };

const SCHEMA_LIMIT = { what: 'a JSON Schema', limit: MAX_SPEC_BYTES };

async function compileSchema(specDir: string, schemaPath: string): Promise<Compiled> {
  // Relative to the spec's folder, so a refusal shows the path as the spec gives it.
  const confined = await confinedPath(specDir, relative(specDir, schemaPath));
  const read = 'path' in confined ? await readInputFile(confined.path, SCHEMA_LIMIT) : confined;
  if ('problem' in read) return { problem: read.problem };
  const source = parseYamlSource(read.bytes.toString('utf8'), displayPath(schemaPath));
  const schema = source.data;
  if (source.syntaxIssues.length > 0 || typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return { problem: `is not a JSON Schema (a JSON or YAML mapping): ${displayPath(schemaPath)}` };
  }
  const draft = (schema as { $schema?: unknown }).$schema;
  // 2020-12 schemas need their own vocabulary; everything else is read as draft-07, Ajv's default.
  // ajv is loaded for the first schema: a spec without json_schema validators never pays for it.
  const ajv =
    typeof draft === 'string' && draft.includes('2020-12')
      ? new (await import('ajv/dist/2020.js')).Ajv2020({ allErrors: true, strict: false })
      : new (await import('ajv')).Ajv({ allErrors: true, strict: false });
  try {
    return { validate: ajv.compile(schema) };
  } catch (error) {
    return { problem: `is not a valid JSON Schema (${(error as Error).message}): ${displayPath(schemaPath)}` };
  }
}

/** `/fields/3/name` → ['fields', 3, 'name'], so the problem is pinned where it is in the config. */
function instancePath(error: ErrorObject): (string | number)[] {
  if (error.instancePath === '') return [];
  return error.instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((segment) => (/^(0|[1-9]\d*)$/.test(segment) ? Number(segment) : segment));
}

/** The key an `additionalProperties` error is about, if it is one. */
function extraProperty(error: ErrorObject): string | undefined {
  const { additionalProperty } = error.params as { additionalProperty?: unknown };
  return error.keyword === 'additionalProperties' && typeof additionalProperty === 'string'
    ? additionalProperty
    : undefined;
}

function schemaMessage(error: ErrorObject): string {
  if (extraProperty(error) !== undefined) return 'is not allowed by the schema';
  return error.message ?? `fails the schema's ${error.keyword}`;
}

async function runCommand(
  validator: CommandValidator,
  config: ValidatedConfig,
  at: readonly (string | number)[],
  pinSpec: YamlSource['pin'],
): Promise<SpecIssue[]> {
  const [program = '', ...args] = validator.argv.map((arg) => arg.replaceAll('{{file}}', config.path));
  const ran = await runBounded(program, args, { cwd: config.specDir, timeoutMs: validator.timeoutMs });
  const key = [...at, 'command'];
  const name = `validator "${validator.name}"`;
  if ('spawnError' in ran) {
    const why = ran.spawnError === 'ENOENT' ? 'no such program' : ran.spawnError;
    return [pinSpec({ path: key, message: `${name} cannot run ${displayPath(program)}: ${why}` })];
  }
  const output = trimOutput(ran.output);
  const shown = output === '' ? ' (it printed nothing)' : `:\n${output}`;
  if (ran.timedOut) {
    const limit = formatDuration(validator.timeoutMs);
    return [pinSpec({ path: key, message: `${name} did not finish within ${limit} and was stopped${shown}` })];
  }
  if (ran.code === 0) return [];
  const how = ran.code === null ? `was killed by ${ran.signal ?? 'a signal'}` : `failed with exit code ${ran.code}`;
  return [pinSpec({ path: key, message: `${name} ${how}${shown}` })];
}

type Ran =
  | { readonly spawnError: string }
  | {
      readonly code: number | null;
      readonly signal: NodeJS.Signals | null;
      readonly output: string;
      readonly timedOut: boolean;
    };

/** After a command exits, how long its output may still take to arrive through the pipes. */
const OUTPUT_GRACE_MS = 250;

/**
 * Runs a program without a shell in `cwd`, in its own process group so a timeout stops whatever it
 * started, keeping the first OUTPUT_LIMIT bytes of its stdout and stderr together. It is done when the
 * program exits: a process it left behind that still holds the output pipes is not waited for.
 */
function runBounded(
  program: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly timeoutMs: number },
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (chunk: Buffer): void => {
      if (kept >= OUTPUT_LIMIT) return;
      const part = chunk.subarray(0, OUTPUT_LIMIT - kept);
      chunks.push(part);
      kept += part.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, signal, output: Buffer.concat(chunks).toString('utf8'), timedOut });
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ spawnError: error.code ?? error.message });
    });
    child.once('exit', (code, signal) => {
      grace = setTimeout(() => finish(code, signal), OUTPUT_GRACE_MS);
    });
    child.once('close', (code, signal) => finish(code, signal));
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

/** The output's last lines, indented under the error, at most OUTPUT_CHARS characters. */
function trimOutput(output: string): string {
  const trimmed = output.trim();
  if (trimmed === '') return '';
  const lines = trimmed.split('\n');
  const last = lines.slice(-OUTPUT_LINES).join('\n');
  const clipped = last.length > OUTPUT_CHARS ? `…${last.slice(-OUTPUT_CHARS)}` : last;
  const omitted = lines.length > OUTPUT_LINES ? [`(${lines.length - OUTPUT_LINES} earlier lines left out)`] : [];
  return [...omitted, ...clipped.split('\n')].map((line) => `  ${line}`).join('\n');
}
