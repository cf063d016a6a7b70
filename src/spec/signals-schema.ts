import { z } from 'zod';
import { describeValue, mustBe } from './describe-value.js';
import { count, positiveDuration, text } from './spec-fields.js';

/*
 * The spec's outside signals: metric providers, webhook gates, notifications and config validators.
 * Part of the one spec schema (spec-schema.ts), kept apart because each is a section of its own.
 */

export const PROVIDER_NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;
/** The one placeholder a provider query may hold: the regex of one group's sampled drones. */
export const DRONES_PLACEHOLDER = '{{drones}}';
/** The one placeholder a validator command may hold: the config file's absolute path. */
export const FILE_PLACEHOLDER = '{{file}}';

export const WEBHOOK_TYPES = ['pre-rollout', 'confirm-promotion', 'post-rollout', 'rollback'] as const;
export const NOTIFY_EVENTS = [
  'started',
  'step_passed',
  'waiting',
  'promoted',
  'rolled_back',
  'aborted_hot',
  'needs_attention',
  'unchanged',
  'lock_busy',
  'interrupted',
  'invalid',
] as const;
export const NOTIFY_FORMATS = ['json', 'slack'] as const;

const mapping = { error: mustBe('a mapping') };
const urlMessage = mustBe('an http:// or https:// URL');

export const httpUrl = z.string({ error: urlMessage }).refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  },
  { error: urlMessage },
);

/** `{{name}}` placeholders in `value` other than the allowed one. */
function strayPlaceholders(value: string, allowed: string): string[] {
  return [...value.matchAll(/\{\{[^}]*\}\}/g)].map((match) => match[0]).filter((found) => found !== allowed);
}

const prometheus = z
  .strictObject(
    {
      url: httpUrl.meta({ description: "Prometheus' base URL, e.g. http://127.0.0.1:9090." }),
      timeout: positiveDuration.prefault('5s').meta({ description: 'Timeout of one query.' }),
      step: positiveDuration.prefault('1s').meta({
        description:
          "Resolution of the range queries: one point per drone per step (match Prometheus' scrape interval).",
      }),
      basic_auth: z
        .strictObject(
          {
            username: text('a user name'),
            password_file: text('a path').meta({ description: 'A file holding the password (never logged).' }),
          },
          mapping,
        )
        .optional()
        .meta({ description: 'HTTP basic auth; the password is read from password_file.' }),
      bearer_token_file: text('a path')
        .optional()
        .meta({ description: 'A file holding a bearer token sent with every query (never logged).' }),
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    if (value.basic_auth !== undefined && value.bearer_token_file !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bearer_token_file'],
        message: 'give basic_auth or bearer_token_file, not both',
      });
    }
  });

export const providers = z
  .record(
    z.string().regex(PROVIDER_NAME_PATTERN, {
      error: 'a provider name must be lowercase letters, digits, "_" or "-", starting with a letter',
    }),
    z.strictObject(
      { prometheus: prometheus.meta({ description: 'A Prometheus server queried over its HTTP API.' }) },
      mapping,
    ),
    {
      // zod names a bad key with the record's own error, not the key schema's.
      error: (issue) =>
        issue.code === 'invalid_key'
          ? `must be a provider name: lowercase letters, digits, "_" or "-", starting with a letter, got ${describeValue(issue.input)}`
          : mustBe('a mapping of provider names to providers')(issue),
    },
  )
  .default({})
  .meta({ description: 'Metric providers, by name: `prom: { prometheus: { url: http://127.0.0.1:9090 } }`.' });

/** A metric's query, checked for its placeholder. */
export const providerQuery = text('a PromQL query').superRefine((value, ctx) => {
  if (value !== '' && !value.includes(DRONES_PLACEHOLDER)) {
    ctx.addIssue({
      code: 'custom',
      message: `must select the drones with ${DRONES_PLACEHOLDER}, e.g. 'drone_heart_rate{drone=~"${DRONES_PLACEHOLDER}"}', so the canary and the baseline are queried apart`,
    });
  }
  for (const stray of strayPlaceholders(value, DRONES_PLACEHOLDER)) {
    ctx.addIssue({ code: 'custom', message: `has ${stray}; the only placeholder is ${DRONES_PLACEHOLDER}` });
  }
});

const webhook = z
  .strictObject(
    {
      name: z
        .string({ error: mustBe('a webhook name like smoke') })
        .regex(PROVIDER_NAME_PATTERN, { error: mustBe('a webhook name like smoke') })
        .meta({ description: 'Names the webhook in logs, the audit log and errors.' }),
      type: z.enum(WEBHOOK_TYPES, { error: mustBe(WEBHOOK_TYPES.join(', ')) }).meta({
        description:
          'pre-rollout: after the lock, before the first push; non-2xx ends the run unchanged. ' +
          'confirm-promotion: before each wave after the canary; non-2xx asks again every analysis interval ' +
          'until `wait`, then rolls back. post-rollout, rollback: after the end, after a rollback; never change the result.',
      }),
      url: httpUrl.meta({ description: 'Where the JSON payload is POSTed.' }),
      timeout: positiveDuration.prefault('10s').meta({ description: 'Timeout of one call.' }),
      retries: count.default(2).meta({ description: 'Retries of a call that failed (network error, 408, 429, 5xx).' }),
      wait: positiveDuration.optional().meta({
        description: 'confirm-promotion only: how long it keeps asking before rolling back (default 10m).',
      }),
      secret_file: text('a path').optional().meta({
        description:
          'A file holding the HMAC secret: every call carries X-Rollout-Signature: sha256=<HMAC-SHA256 of the body>.',
      }),
      headers: z
        .record(z.string(), z.string({ error: mustBe('a string') }), {
          error: mustBe('a mapping of header names to values'),
        })
        .optional()
        .meta({ description: 'Extra HTTP headers of every call.' }),
    },
    mapping,
  )
  .superRefine((value, ctx) => {
    if (value.wait !== undefined && value.type !== 'confirm-promotion') {
      ctx.addIssue({
        code: 'custom',
        path: ['wait'],
        message: `applies to confirm-promotion webhooks only, not ${value.type}`,
      });
    }
  });

export const webhooks = z
  .array(webhook, { error: mustBe('a list of webhooks') })
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((hook, index) => {
      if (seen.has(hook.name)) {
        ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `is used twice: "${hook.name}"` });
      }
      seen.add(hook.name);
    });
  })
  .meta({ description: 'HTTP calls that gate the rollout or hear of its end.' });

const notifyTarget = z.strictObject(
  {
    url: httpUrl.meta({ description: 'Where each notification is POSTed.' }),
    format: z
      .enum(NOTIFY_FORMATS, { error: mustBe('json or slack') })
      .default('json')
      .meta({ description: "json: the event as a JSON object; slack: Slack's incoming-webhook shape." }),
    on: z
      .array(z.enum(NOTIFY_EVENTS, { error: mustBe(NOTIFY_EVENTS.join(', ')) }), { error: mustBe('a list of events') })
      .min(1, { error: 'must list at least one event' })
      .default([...NOTIFY_EVENTS])
      .meta({ description: 'The events sent to this target; default every one.' }),
    timeout: positiveDuration.prefault('5s').meta({ description: 'Timeout of one delivery.' }),
    retries: count.default(3).meta({ description: 'Retries, with backoff, of a delivery that failed.' }),
  },
  mapping,
);

export const notify = z
  .array(notifyTarget, { error: mustBe('a list of notification targets') })
  .default([])
  .meta({ description: 'Where the rollout tells what happens; a notification never blocks or changes it.' });

const jsonSchemaValidator = z.strictObject(
  {
    json_schema: text('a path').meta({ description: 'A JSON Schema file the config (JSON or YAML) must satisfy.' }),
    name: text('a name').optional().meta({ description: 'Names the validator in errors; default its file.' }),
  },
  mapping,
);

const commandValidator = z.strictObject(
  {
    command: z
      .array(z.string({ error: mustBe('a string') }), { error: mustBe('a list: the program, then its arguments') })
      .min(1, { error: 'must name a program' })
      .superRefine((argv, ctx) => {
        argv.forEach((arg, index) => {
          for (const stray of strayPlaceholders(arg, FILE_PLACEHOLDER)) {
            ctx.addIssue({
              code: 'custom',
              path: [index],
              message: `has ${stray}; the only placeholder is ${FILE_PLACEHOLDER}`,
            });
          }
        });
      })
      .meta({
        description: `A program (./x is relative to the spec) and its arguments; ${FILE_PLACEHOLDER} is the config's path. Exit 0 passes.`,
      }),
    timeout: positiveDuration.prefault('10s').meta({ description: 'How long the command may run.' }),
    name: text('a name').optional().meta({ description: 'Names the validator in errors; default its program.' }),
  },
  mapping,
);

export const validators = z
  .array(z.union([jsonSchemaValidator, commandValidator], { error: mustBe('a mapping with json_schema or command') }), {
    error: mustBe('a list of validators'),
  })
  .default([])
  .meta({
    description: 'Checks of the config content, run by validate, plan and run before anything reaches a drone.',
  });
