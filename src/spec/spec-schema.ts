import { z } from 'zod';
import { mustBe } from './describe-value.js';
import { formatDuration } from './duration.js';
import {
  confidenceLevel,
  count,
  duration,
  labels,
  percent,
  percentText,
  positiveDuration,
  positiveInt,
  score,
  text,
  threshold,
  weight,
} from './spec-fields.js';
import { notify, providerQuery, providers, validators, webhooks } from './signals-schema.js';
import { MAX_PUSH_WHEN_LENGTH, PUSH_WHEN_VARIABLES, pushWhenProblem } from './push-gate.js';

/*
 * The ONE schema of a rollout spec, in the snake_case the YAML uses. Validation, the typed result and
 * `rollout schema` (JSON Schema) all come from it, so they cannot drift apart.
 */

const CANARY_SIZES = ['drones', 'percent', 'label'] as const;

/** Lowercase so a rollout name is safe in file names, lock keys and URLs. */
export const SPEC_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
/** A plain file name: the agent writes it inside its config dir, so no path may escape it. */
export const CONFIG_FILE_PATTERN = /^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
export const METRIC_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const METRIC_DIRECTIONS = ['increase', 'decrease', 'either'] as const;
const NODATA_POLICIES = ['fail', 'inconclusive', 'ignore'] as const;
const INCONCLUSIVE_ACTIONS = ['rollback', 'wait'] as const;

const nameMessage = mustBe('lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');
const fileMessage = mustBe('a plain file name (no "/", no "..", no leading ".")');
const mapping = { error: mustBe('a mapping') };

const config = z
  .strictObject(
    {
      file: z.string({ error: fileMessage }).regex(CONFIG_FILE_PATTERN, { error: fileMessage }).meta({
        description: "The config file's name on every drone, e.g. aim_lock_config.conf.",
      }),
      source: text('a path').meta({ description: 'The new content, a path relative to this spec.' }),
      version: z
        .string({ error: mustBe('a version label without spaces (quote numbers)') })
        .regex(/^\S+$/, { error: mustBe('a version label without spaces') })
        .optional()
        .meta({ description: "A version label; defaults to the first 12 hex digits of the content's sha256." }),
      validate: validators,
      sign: z
        .strictObject(
          {
            key_file: text('a path').meta({
              description:
                'An Ed25519 private key (PEM, as `rollout keys generate` writes it), a path relative to this spec.',
            }),
          },
          mapping,
        )
        .optional()
        .meta({
          description:
            'Signs every push (file, version, sha256, rollout id and fence) with this key; agents started with --trust-key refuse a push without a valid signature.',
        }),
    },
    mapping,
  )
  .meta({ description: 'The config file to roll out.' });

const tls = z
  .strictObject(
    {
      ca: text('a path').optional().meta({
        description: "A CA certificate (PEM) the drones' certificates must be signed by, relative to this spec.",
      }),
      cert: text('a path').optional().meta({
        description: "This orchestrator's client certificate (PEM) for drones that ask for one (mutual TLS).",
      }),
      key: text('a path').optional().meta({ description: "The client certificate's private key (PEM)." }),
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    if ((value.cert === undefined) !== (value.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [value.cert === undefined ? 'cert' : 'key'],
        message: `is required with ${value.cert === undefined ? 'key' : 'cert'}: a client certificate needs its key`,
      });
    }
  })
  .optional()
  .meta({ description: 'TLS to drones whose inventory URL is https://.' });

const fleet = z
  .strictObject(
    {
      inventory: text('a path').meta({
        description: 'The inventory (drones: [{id, url, labels}]), a path relative to this spec.',
      }),
      selector: labels.optional().meta({ description: 'Only drones whose labels match all of these are targeted.' }),
      mixed_versions: z
        .enum(['refuse', 'adopt'], { error: mustBe('refuse or adopt') })
        .default('refuse')
        .meta({
          description:
            'When the paused fleet runs more than one version besides the new one (another rollout changed some drones): ' +
            'refuse stops before the lock (needs_attention, the drones named); adopt rolls out over them, keeps them out ' +
            'of the baseline, and a rollback returns each drone to the version it ran.',
        }),
      tls,
    },
    mapping,
  )
  .meta({ description: 'Which drones the rollout targets.' });

const pause = z
  .strictObject(
    {
      fleet: z
        .boolean({ error: mustBe('true or false') })
        .default(true)
        .meta({
          description: 'Pause every targeted drone before the first push and resume them all at the end.',
        }),
      timeout: positiveDuration.prefault('30s').meta({ description: 'How long pausing the fleet may take.' }),
      hold: positiveDuration.prefault('2m').meta({
        description:
          'How long a pause holds a drone unless renewed: the rollout renews its holds every third of this while it runs, ' +
          'and a drone whose holds all lapse (the rollout died) resumes by itself.',
      }),
    },
    mapping,
  )
  .prefault({});

const lock = z
  .strictObject(
    {
      ttl: positiveDuration
        .prefault('15s')
        .meta({ description: 'Lease time of the config lock; renewed by heartbeat.' }),
      wait: duration.prefault('0s').meta({ description: 'How long to wait for a busy lock before giving up.' }),
    },
    mapping,
  )
  .prefault({});

const canary = z
  .strictObject(
    {
      drones: positiveInt.optional().meta({ description: 'The canary is the first N targeted drones.' }),
      percent: percent
        .optional()
        .meta({ description: 'The canary is this share of the targeted drones (at least one).' }),
      label: labels
        .refine((value) => Object.keys(value).length > 0, { error: 'must name at least one label' })
        .optional()
        .meta({ description: 'The canary is every targeted drone carrying all these labels.' }),
      bake: duration.prefault('30s').meta({ description: 'How long the canary runs under analysis.' }),
      approval: z
        .enum(['auto', 'manual'], { error: mustBe('auto or manual') })
        .default('auto')
        .meta({ description: 'manual waits for `rollout promote` after a passing canary.' }),
      spread_by: z
        .array(text('a label name'), { error: mustBe('a list of label names') })
        .min(1, { error: 'must name at least one label' })
        .optional()
        .meta({
          description:
            "Picks canary drones covering as many distinct values of these labels as the canary's size allows; " +
            'the baseline is drawn from drones with the same labels where there are any.',
        }),
      random: z
        .boolean({ error: mustBe('true or false') })
        .default(false)
        .meta({
          description:
            'Draws the canary at random, with a seed recorded in the audit log (resume and replay see the same draw).',
        }),
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    if (value.label !== undefined) {
      for (const key of ['spread_by', 'random'] as const) {
        if (key === 'random' ? value.random : value.spread_by !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: 'applies to a canary sized by drones or percent, not one chosen by label',
          });
        }
      }
    }
    const given = CANARY_SIZES.filter((key) => value[key] !== undefined);
    if (given.length === 1) return;
    ctx.addIssue({
      code: 'custom',
      message:
        given.length === 0
          ? 'needs one of drones, percent or label'
          : `has ${given.join(' and ')}; give exactly one of drones, percent or label`,
    });
  })
  .meta({ description: 'The first step: a few drones get the new config and are compared with the rest.' });

const metric = z
  .strictObject(
    {
      name: z
        .string({ error: mustBe('a metric name like heart_rate') })
        .regex(METRIC_NAME_PATTERN, { error: mustBe('a metric name like heart_rate') })
        .meta({ description: 'A telemetry metric, e.g. heart_rate.' }),
      provider: z
        .string({ error: mustBe('the name of a provider under providers') })
        .optional()
        .meta({
          description: "Where the metric comes from: a provider's name; without it, the drones' own telemetry.",
        }),
      query: providerQuery
        .optional()
        .meta({ description: "The provider query; {{drones}} becomes a regex of one group's sampled drones." }),
      max: z
        .number({ error: mustBe('a number') })
        .optional()
        .meta({ description: "Upper limit on the canary's median." }),
      min: z
        .number({ error: mustBe('a number') })
        .optional()
        .meta({ description: "Lower limit on the canary's median." }),
      max_increase: percentText()
        .optional()
        .meta({ description: "How far the canary's median may rise above the baseline's, e.g. 25%." }),
      max_decrease: percentText(100)
        .optional()
        .meta({ description: "How far the canary's median may fall below the baseline's, e.g. 10%." }),
      direction: z
        .enum(METRIC_DIRECTIONS, { error: mustBe('increase, decrease or either') })
        .optional()
        .meta({
          description:
            "Compares the canary's samples with the baseline's (Mann-Whitney U) and fails a significant shift this " +
            'way. The comparison also runs, in either direction, when allowed_increase, allowed_decrease or confidence is given.',
          default: 'either',
        }),
      allowed_increase: percentText()
        .optional()
        .meta({ description: 'A significant rise whose median change is within this still passes, e.g. 10%.' }),
      allowed_decrease: percentText(100)
        .optional()
        .meta({ description: 'A significant fall whose median change is within this still passes, e.g. 10%.' }),
      confidence: confidenceLevel
        .optional()
        .meta({ description: "Confidence level of this metric's comparison; analysis.confidence when not given." }),
      critical: z
        .boolean({ error: mustBe('true or false') })
        .optional()
        .meta({ description: 'A failure of this metric fails the interval whatever the score.', default: false }),
      weight: weight.optional().meta({ description: "This metric's share of the interval's score.", default: 1 }),
      nodata: z
        .enum(NODATA_POLICIES, { error: mustBe('fail, inconclusive or ignore') })
        .optional()
        .meta({
          description:
            'Without enough samples or reporting drones the metric has no data; then it fails the interval, ' +
            'keeps it from passing (inconclusive) or is left out of the score (ignore).',
          default: 'inconclusive',
        }),
      dry_run: z
        .boolean({ error: mustBe('true or false') })
        .optional()
        .meta({ description: 'Judged and recorded but never acted on: left out of the score.', default: false }),
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    const limits = [value.max, value.min, value.max_increase, value.max_decrease, ...comparisonKeys(value)];
    if (limits.every((limit) => limit === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs at least one limit: max, min, max_increase, max_decrease or direction',
      });
    }
    if (value.min !== undefined && value.max !== undefined && value.min > value.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message: `must not be above max (${value.max}), got ${value.min}`,
      });
    }
    if (value.provider !== undefined && value.query === undefined) {
      ctx.addIssue({ code: 'custom', path: ['query'], message: `is required with provider ${value.provider}` });
    }
    if (value.query !== undefined && value.provider === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['provider'],
        message: 'is required with query: name a provider under providers',
      });
    }
    if (value.direction === 'decrease' && value.allowed_increase !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['allowed_increase'], message: 'has no effect with direction decrease' });
    }
    if (value.direction === 'increase' && value.allowed_decrease !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['allowed_decrease'], message: 'has no effect with direction increase' });
    }
  })
  .meta({
    description:
      'One telemetry metric: limits on the canary median (max, min), relative to the baseline median ' +
      "(max_increase, max_decrease), and a comparison of the samples' distributions (direction).",
  });

/** The keys that turn on the statistical comparison of a metric. */
function comparisonKeys(value: {
  readonly direction?: unknown;
  readonly allowed_increase?: unknown;
  readonly allowed_decrease?: unknown;
  readonly confidence?: unknown;
}): unknown[] {
  return [value.direction, value.allowed_increase, value.allowed_decrease, value.confidence];
}

const analysis = z
  .strictObject(
    {
      interval: positiveDuration.prefault('5s').meta({ description: 'How often telemetry is judged.' }),
      min_samples: positiveInt.default(3).meta({ description: 'Samples each side needs before a verdict.' }),
      failure_limit: positiveInt.default(1).meta({ description: 'Failed verdicts that roll the rollout back.' }),
      metrics: z
        .array(metric, { error: mustBe('a list of metrics') })
        .default([])
        .meta({
          description:
            'Limits on telemetry; each needs at least one of max, min, max_increase, max_decrease, direction.',
        }),
      confidence: confidenceLevel
        .default(0.98)
        .meta({ description: "Confidence level of the metrics' comparisons with the baseline, as Kayenta's judge." }),
      pass_score: score.default(95).meta({
        description: 'An interval whose score (the weighted share of passing metrics, 0-100) reaches this passes.',
      }),
      marginal_score: score.default(75).meta({
        description: 'An interval scoring at least this but below pass_score is inconclusive; lower, it fails.',
      }),
      min_reporting_drones: positiveInt.default(1).meta({
        description: 'Fewer canary drones reporting a metric than this: the metric has no data.',
      }),
      inconclusive: z
        .enum(INCONCLUSIVE_ACTIONS, { error: mustBe('rollback or wait') })
        .default('rollback')
        .meta({ description: 'What a step that ends inconclusive does: roll back, or wait for a human.' }),
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    if (value.marginal_score > value.pass_score) {
      ctx.addIssue({
        code: 'custom',
        path: ['marginal_score'],
        message: `must not be above pass_score (${value.pass_score}), got ${value.marginal_score}`,
      });
    }
  })
  .prefault({})
  .meta({ description: 'How canary telemetry is judged against the baseline drones.' });

const wave = z.strictObject(
  {
    percent: percent.meta({
      description: 'Cumulative share of the targeted drones on the new config after this wave.',
    }),
    bake: duration.prefault('10s').meta({ description: 'How long this wave runs under analysis.' }),
  },
  mapping,
);

const waves = z
  .array(wave, { error: mustBe('a list of waves') })
  .min(1, { error: 'must list at least one wave' })
  .superRefine((list, ctx) => {
    // An out-of-range percent is already reported on its own; ordering it would only repeat that.
    if (list.some((item) => !(item.percent > 0 && item.percent <= 100))) return;
    list.forEach((item, index) => {
      const previous = list[index - 1];
      if (previous !== undefined && item.percent <= previous.percent) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'percent'],
          message: `must be above the previous wave's ${previous.percent}, got ${item.percent}`,
        });
      }
    });
    const last = list.at(-1);
    if (last !== undefined && last.percent !== 100) {
      ctx.addIssue({
        code: 'custom',
        path: [list.length - 1, 'percent'],
        message: `must be 100 in the last wave, got ${last.percent}`,
      });
    }
  })
  .prefault([{ percent: 100, bake: '0s' }])
  .meta({ description: 'After the canary, waves bring the rest of the fleet over; the last one is 100.' });

const push = z
  .strictObject(
    {
      concurrency: positiveInt.default(32).meta({ description: 'Drones pushed to at the same time.' }),
      timeout: positiveDuration.prefault('5s').meta({ description: 'Timeout of one push request.' }),
      retries: count.default(2).meta({ description: 'Retries of a failed push request.' }),
      confirm_within: positiveDuration.optional().meta({
        description:
          'Makes every push a trial: a drone reverts to its previous config by itself unless the rollout confirms ' +
          "the push within this long; the rollout confirms a step's drones once the step has passed its analysis. " +
          'Longer than the longest bake plus one analysis interval.',
      }),
    },
    mapping,
  )
  .prefault({});

const pushWhenMessage = mustBe('a CEL condition such as \'flight == "grounded" && battery >= 30\'');

const gates = z
  .strictObject(
    {
      push_when: z
        .string({ error: pushWhenMessage })
        .min(1, { error: pushWhenMessage })
        .max(MAX_PUSH_WHEN_LENGTH, { error: `must be at most ${MAX_PUSH_WHEN_LENGTH} characters` })
        .superRefine((source, ctx) => {
          const problem = pushWhenProblem(source);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        })
        .meta({
          description:
            "A CEL condition over a drone's operational state, checked right before each push to it: a drone that does " +
            `not satisfy it is not pushed but retried. Variables: ${Object.entries(PUSH_WHEN_VARIABLES)
              .map(([name, type]) => `${name} (${type})`)
              .join(', ')}; flight is "grounded" or "airborne", battery 0-100, mission null or an id.`,
        }),
      wait: duration.prefault('10m').meta({
        description: 'How long a drone may defer its push, from the first time the gate held it back.',
      }),
      recheck: positiveDuration.prefault('5s').meta({
        description: 'How often held-back drones are checked again once every step has been pushed.',
      }),
      on_timeout: z
        .enum(['skip', 'rollback'], { error: mustBe('skip or rollback') })
        .default('skip')
        .meta({
          description:
            'A drone still held back after wait: skip leaves it on the old config, listed as deferred (the result is ' +
            'needs_attention); rollback rolls the whole rollout back.',
        }),
    },
    mapping,
  )
  .optional()
  .meta({ description: "Operational gates: which drones may take a push now, by their vehicle's operational state." });

const abort = z
  .strictObject(
    {
      max_push_failures: threshold.prefault(0).meta({
        description: 'Failed pushes tolerated before rolling back: a count or a share like "5%".',
      }),
      max_unreachable: threshold.prefault('10%').meta({
        description: 'Unreachable drones tolerated: a count or a share like "10%".',
      }),
    },
    mapping,
  )
  .prefault({});

export const specSchema = z
  .strictObject(
    {
      name: z
        .string({ error: nameMessage })
        .regex(SPEC_NAME_PATTERN, { error: nameMessage })
        .meta({ description: 'The rollout name, e.g. aim-sensitivity-v43.' }),
      config,
      fleet,
      pause: pause.meta({ description: 'Pausing the fleet while the rollout runs.' }),
      lock: lock.meta({ description: 'The config lock shared by every orchestrator.' }),
      canary,
      analysis,
      waves,
      push: push.meta({ description: 'How configs are pushed to drones.' }),
      abort: abort.meta({ description: 'When a rollout gives up and rolls back.' }),
      gates,
      providers,
      webhooks,
      notify,
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    const trial = value.push.confirm_within;
    if (trial !== undefined) {
      const longest = Math.max(value.canary.bake, ...value.waves.map((wave) => wave.bake)) + value.analysis.interval;
      if (value.analysis.inconclusive === 'wait') {
        ctx.addIssue({
          code: 'custom',
          path: ['push', 'confirm_within'],
          message:
            'cannot go with analysis.inconclusive: wait: a verdict held for a human can outlast any trial, and the drones would revert meanwhile',
        });
      } else if (trial <= longest) {
        ctx.addIssue({
          code: 'custom',
          path: ['push', 'confirm_within'],
          message: `must be longer than the longest bake plus one analysis interval (${formatDuration(longest)}), got ${formatDuration(trial)}: a step's drones are confirmed only once it has passed`,
        });
      }
    }
    const known = Object.keys(value.providers);
    const sources = new Map<string, { readonly source: string; readonly index: number }>();
    value.analysis.metrics.forEach((metric, index) => {
      // Samples are kept by metric name: one name, one source.
      const source = metric.provider === undefined ? 'telemetry' : `${metric.provider}: ${metric.query ?? ''}`;
      const first = sources.get(metric.name);
      if (first === undefined) sources.set(metric.name, { source, index });
      else if (first.source !== source) {
        ctx.addIssue({
          code: 'custom',
          path: ['analysis', 'metrics', index, 'name'],
          message: `"${metric.name}" is also analysis.metrics[${first.index}] with another provider or query; give this one its own name`,
        });
      }
      if (metric.provider === undefined || known.includes(metric.provider)) return;
      ctx.addIssue({
        code: 'custom',
        path: ['analysis', 'metrics', index, 'provider'],
        message:
          known.length === 0
            ? `names "${metric.provider}", but the spec has no providers section`
            : `names "${metric.provider}", which is not under providers (${known.join(', ')})`,
      });
    });
  })
  .meta({
    title: 'fleet-rollout spec',
    description: 'A canary rollout of one config file to a fleet of drones (rollouts/*.yaml).',
  });

/** The spec as validated, still in YAML's snake_case with paths as written. */
export type ParsedSpec = z.output<typeof specSchema>;
