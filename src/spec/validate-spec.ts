import { dirname, resolve } from 'node:path';
import { SpecError, sortIssues, type SpecIssue } from './spec-error.js';
import { checkWithSchema } from './schema-issues.js';
import { specSchema, type ParsedSpec } from './spec-schema.js';
import type { ConfigValidator, MetricProvider, MetricSpec, RolloutSpec } from './types.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

/** The outcome of checking spec text: the spec when valid, and every issue found either way. */
export interface SpecCheck {
  readonly source: YamlSource;
  readonly spec: RolloutSpec | undefined;
  readonly issues: readonly SpecIssue[];
}

/**
 * Checks spec text without touching the disk (paths are resolved, not read).
 * `file` is how errors name the spec; `baseDir` is where its relative paths start.
 */
export function checkSpecText(text: string, file: string, baseDir: string = dirname(resolve(file))): SpecCheck {
  const source = parseYamlSource(text, file);
  if (source.syntaxIssues.length > 0) return { source, spec: undefined, issues: source.syntaxIssues };
  const result = checkWithSchema(specSchema, source.data);
  if ('problems' in result) {
    return { source, spec: undefined, issues: sortIssues(result.problems.map(source.pin)) };
  }
  return { source, spec: toRolloutSpec(result.output, baseDir), issues: [] };
}

/** The validated spec, or a SpecError listing every problem. Pure apart from resolving paths. */
export function validateSpecText(text: string, file: string, baseDir?: string): RolloutSpec {
  const { spec, issues } = checkSpecText(text, file, baseDir);
  if (spec === undefined) throw new SpecError(issues);
  return spec;
}

/** snake_case YAML to the camelCase RolloutSpec, with paths made absolute against the spec's folder. */
function toRolloutSpec(parsed: ParsedSpec, baseDir: string): RolloutSpec {
  const { config, fleet, pause, lock, canary, analysis, push, abort } = parsed;
  return {
    name: parsed.name,
    config: {
      file: config.file,
      source: resolve(baseDir, config.source),
      ...(config.version === undefined ? {} : { version: config.version }),
      validate: config.validate.map((validator) => toValidator(validator, baseDir)),
      ...(config.sign === undefined ? {} : { sign: { keyFile: resolve(baseDir, config.sign.key_file) } }),
    },
    fleet: {
      inventory: resolve(baseDir, fleet.inventory),
      ...(fleet.selector === undefined ? {} : { selector: fleet.selector }),
      mixedVersions: fleet.mixed_versions,
      ...(fleet.tls === undefined
        ? {}
        : {
            tls: definedOnly({
              caFile: fleet.tls.ca === undefined ? undefined : resolve(baseDir, fleet.tls.ca),
              certFile: fleet.tls.cert === undefined ? undefined : resolve(baseDir, fleet.tls.cert),
              keyFile: fleet.tls.key === undefined ? undefined : resolve(baseDir, fleet.tls.key),
            }),
          }),
    },
    pause: { fleet: pause.fleet, timeoutMs: pause.timeout, holdMs: pause.hold },
    lock: { ttlMs: lock.ttl, waitMs: lock.wait },
    canary: {
      ...(canary.drones === undefined ? {} : { drones: canary.drones }),
      ...(canary.percent === undefined ? {} : { percent: canary.percent }),
      ...(canary.label === undefined ? {} : { label: canary.label }),
      bakeMs: canary.bake,
      approval: canary.approval,
      ...(canary.spread_by === undefined ? {} : { spreadBy: canary.spread_by }),
      random: canary.random,
    },
    analysis: {
      intervalMs: analysis.interval,
      minSamples: analysis.min_samples,
      failureLimit: analysis.failure_limit,
      metrics: analysis.metrics.map(toMetricSpec),
      confidence: analysis.confidence,
      passScore: analysis.pass_score,
      marginalScore: analysis.marginal_score,
      minReportingDrones: analysis.min_reporting_drones,
      inconclusive: analysis.inconclusive,
    },
    waves: parsed.waves.map((wave) => ({ percent: wave.percent, bakeMs: wave.bake })),
    push: {
      concurrency: push.concurrency,
      timeoutMs: push.timeout,
      retries: push.retries,
      ...(push.confirm_within === undefined ? {} : { confirmWithinMs: push.confirm_within }),
    },
    abort: { maxPushFailures: abort.max_push_failures, maxUnreachable: abort.max_unreachable },
    ...(parsed.gates === undefined
      ? {}
      : {
          gates: {
            pushWhen: parsed.gates.push_when,
            waitMs: parsed.gates.wait,
            recheckMs: parsed.gates.recheck,
            onTimeout: parsed.gates.on_timeout,
          },
        }),
    providers: Object.fromEntries(
      Object.entries(parsed.providers).map(([name, { prometheus }]) => [name, toProvider(name, prometheus, baseDir)]),
    ),
    webhooks: parsed.webhooks.map((hook) => ({
      name: hook.name,
      type: hook.type,
      url: hook.url,
      timeoutMs: hook.timeout,
      retries: hook.retries,
      waitMs: hook.wait ?? DEFAULT_CONFIRM_WAIT_MS,
      ...(hook.secret_file === undefined ? {} : { secretFile: resolve(baseDir, hook.secret_file) }),
      ...(hook.headers === undefined ? {} : { headers: hook.headers }),
    })),
    notify: parsed.notify.map((target) => ({
      url: target.url,
      format: target.format,
      on: target.on,
      timeoutMs: target.timeout,
      retries: target.retries,
    })),
  };
}

/** How long a confirm-promotion webhook keeps asking when its spec says nothing. */
const DEFAULT_CONFIRM_WAIT_MS = 10 * 60_000;

function toProvider(
  name: string,
  prometheus: ParsedSpec['providers'][string]['prometheus'],
  baseDir: string,
): MetricProvider {
  const { basic_auth: basic, bearer_token_file: bearer } = prometheus;
  return {
    name,
    kind: 'prometheus',
    url: prometheus.url,
    timeoutMs: prometheus.timeout,
    stepMs: prometheus.step,
    ...(basic === undefined
      ? {}
      : { basicAuth: { username: basic.username, passwordFile: resolve(baseDir, basic.password_file) } }),
    ...(bearer === undefined ? {} : { bearerTokenFile: resolve(baseDir, bearer) }),
  };
}

function toValidator(validator: ParsedSpec['config']['validate'][number], baseDir: string): ConfigValidator {
  if ('json_schema' in validator) {
    return {
      kind: 'json_schema',
      name: validator.name ?? validator.json_schema,
      schemaPath: resolve(baseDir, validator.json_schema),
    };
  }
  const [program = '', ...args] = validator.command;
  // A program written as a path (./check.sh, ../bin/x) is the spec's; a bare name is looked up on PATH.
  const argv = [program.includes('/') ? resolve(baseDir, program) : program, ...args];
  return { kind: 'command', name: validator.name ?? program, argv, timeoutMs: validator.timeout };
}

/** One metric, with only the keys the spec gives: the judge knows the defaults. */
function toMetricSpec(metric: ParsedSpec['analysis']['metrics'][number]): MetricSpec {
  const given = {
    provider: metric.provider,
    query: metric.query,
    max: metric.max,
    min: metric.min,
    maxIncrease: metric.max_increase,
    maxDecrease: metric.max_decrease,
    direction: metric.direction,
    allowedIncrease: metric.allowed_increase,
    allowedDecrease: metric.allowed_decrease,
    confidence: metric.confidence,
    critical: metric.critical,
    weight: metric.weight,
    nodata: metric.nodata,
    dryRun: metric.dry_run,
  };
  return { name: metric.name, ...definedOnly(given) };
}

/** The entries whose value is not undefined: a spec's typed result has no `key: undefined`. */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
