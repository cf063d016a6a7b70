import { describe, expect, it } from 'vitest';
import { checkSpecText, specJsonSchema, validateSpecText } from '../../src/spec/index.js';
import { NOTIFY_EVENTS, WEBHOOK_TYPES } from '../../src/spec/signals-schema.js';
import type { RolloutSpec } from '../../src/spec/types.js';
import { SPEC_FILE, specErrors, specText } from '../helpers/spec.js';

// The spec's outside signals (signals-schema.ts): providers, metric queries, webhooks, notify and config
// validators. Spec texts resolve their paths against /base; line numbers are counted from their text.

/** A valid spec whose `rest` starts on line 5. */
const spec = (rest: readonly string[]): string => specText({ rest: rest.join('\n') });

/** A valid spec whose config section (lines 2 to 5) has `validate:` entries from line 6 on. */
const withValidators = (entries: readonly string[]): string =>
  specText({ config: ['config:', '  file: app.conf', '  source: app.conf', '  validate:', ...entries].join('\n') });

const parse = (text: string): RolloutSpec => validateSpecText(text, SPEC_FILE, '/base');

/** A query that selects the drones as it must. */
const QUERY = `'drone_trajectory_error{drone=~"{{drones}}"}'`;

describe('signal keys absent', () => {
  it('default to no providers, webhooks, notifications or validators', () => {
    const parsed = parse(specText());
    expect(parsed.providers).toStrictEqual({});
    expect(parsed.webhooks).toStrictEqual([]);
    expect(parsed.notify).toStrictEqual([]);
    expect(parsed.config.validate).toStrictEqual([]);
  });
});

describe('a full spec with every signal key', () => {
  const text = [
    'name: x',
    'config:',
    '  file: app.conf',
    '  source: app.conf',
    '  validate:',
    '    - { json_schema: schemas/aim.schema.json }',
    '    - { command: [./scripts/check-aim.sh, "{{file}}"], timeout: 3s }',
    '    - { command: [jq, ".", "--arg", "f={{file}}"], name: jq-parse }',
    '    - { command: [../bin/check, --strict] }',
    '    - { json_schema: /etc/schemas/aim.json, name: shared }',
    'fleet: { inventory: fleet.yaml }',
    'canary: { drones: 1 }',
    'providers:',
    '  prom: { prometheus: { url: http://127.0.0.1:9090, timeout: 2s, step: 500ms, basic_auth: { username: u, password_file: secrets/pw } } }',
    '  thanos_2: { prometheus: { url: "https://thanos.example:10902/", bearer_token_file: /etc/tok } }',
    '  plain-prom: { prometheus: { url: http://127.0.0.1:9091 } }',
    'analysis:',
    '  metrics:',
    '    - { name: heart_rate, max: 120 }',
    `    - { name: trajectory_error, provider: prom, query: ${QUERY}, max_increase: 25% }`,
    `    - { name: trajectory_error, provider: prom, query: ${QUERY}, direction: increase }`,
    'webhooks:',
    '  - { name: smoke, type: pre-rollout, url: http://127.0.0.1:8080/smoke, timeout: 10s, retries: 2, secret_file: s, headers: { X-A: b } }',
    '  - { name: approve, type: confirm-promotion, url: http://127.0.0.1:8080/approve, wait: 10m }',
    '  - { name: approve_2, type: confirm-promotion, url: "https://gate.example/ok", timeout: 1m, retries: 0, secret_file: /etc/hmac }',
    '  - { name: after, type: post-rollout, url: http://127.0.0.1:8080/after }',
    '  - { name: undo, type: rollback, url: http://127.0.0.1:8080/undo }',
    'notify:',
    '  - { url: http://127.0.0.1:8080/hook, format: json, on: [started, step_passed, waiting, promoted, rolled_back, aborted_hot, needs_attention] }',
    '  - { url: http://127.0.0.1:8080/slack, format: slack }',
    '  - { url: "https://notify.example/x", on: [invalid], timeout: 250ms, retries: 0 }',
  ].join('\n');

  it('is valid', () => {
    expect(checkSpecText(text, SPEC_FILE, '/base').issues).toEqual([]);
  });

  it('converts providers: durations in ms, files resolved against the base folder, defaults filled in', () => {
    expect(parse(text).providers).toStrictEqual({
      prom: {
        name: 'prom',
        kind: 'prometheus',
        url: 'http://127.0.0.1:9090',
        timeoutMs: 2_000,
        stepMs: 500,
        basicAuth: { username: 'u', passwordFile: '/base/secrets/pw' },
      },
      thanos_2: {
        name: 'thanos_2',
        kind: 'prometheus',
        url: 'https://thanos.example:10902/',
        timeoutMs: 5_000,
        stepMs: 1_000,
        bearerTokenFile: '/etc/tok',
      },
      'plain-prom': {
        name: 'plain-prom',
        kind: 'prometheus',
        url: 'http://127.0.0.1:9091',
        timeoutMs: 5_000,
        stepMs: 1_000,
      },
    });
  });

  it('keeps provider and query on the metrics that have them, and lets one name repeat its source', () => {
    const query = 'drone_trajectory_error{drone=~"{{drones}}"}';
    expect(parse(text).analysis.metrics).toStrictEqual([
      { name: 'heart_rate', max: 120 },
      { name: 'trajectory_error', provider: 'prom', query, maxIncrease: 0.25 },
      { name: 'trajectory_error', provider: 'prom', query, direction: 'increase' },
    ]);
  });

  it('converts webhooks: timeout 10s, retries 2 and wait 10m by default, secret files resolved', () => {
    expect(parse(text).webhooks).toStrictEqual([
      {
        name: 'smoke',
        type: 'pre-rollout',
        url: 'http://127.0.0.1:8080/smoke',
        timeoutMs: 10_000,
        retries: 2,
        waitMs: 600_000,
        secretFile: '/base/s',
        headers: { 'X-A': 'b' },
      },
      {
        name: 'approve',
        type: 'confirm-promotion',
        url: 'http://127.0.0.1:8080/approve',
        timeoutMs: 10_000,
        retries: 2,
        waitMs: 600_000,
      },
      {
        name: 'approve_2',
        type: 'confirm-promotion',
        url: 'https://gate.example/ok',
        timeoutMs: 60_000,
        retries: 0,
        waitMs: 600_000,
        secretFile: '/etc/hmac',
      },
      {
        name: 'after',
        type: 'post-rollout',
        url: 'http://127.0.0.1:8080/after',
        timeoutMs: 10_000,
        retries: 2,
        waitMs: 600_000,
      },
      {
        name: 'undo',
        type: 'rollback',
        url: 'http://127.0.0.1:8080/undo',
        timeoutMs: 10_000,
        retries: 2,
        waitMs: 600_000,
      },
    ]);
  });

  it('converts notify targets: json, every event, 5s and 3 retries by default', () => {
    expect(parse(text).notify).toStrictEqual([
      {
        url: 'http://127.0.0.1:8080/hook',
        format: 'json',
        on: ['started', 'step_passed', 'waiting', 'promoted', 'rolled_back', 'aborted_hot', 'needs_attention'],
        timeoutMs: 5_000,
        retries: 3,
      },
      { url: 'http://127.0.0.1:8080/slack', format: 'slack', on: [...NOTIFY_EVENTS], timeoutMs: 5_000, retries: 3 },
      { url: 'https://notify.example/x', format: 'json', on: ['invalid'], timeoutMs: 250, retries: 0 },
    ]);
    expect(NOTIFY_EVENTS).toHaveLength(11);
  });

  it('converts validators: paths resolved, a program with "/" resolved, a bare one left for PATH, names defaulted', () => {
    expect(parse(text).config.validate).toStrictEqual([
      { kind: 'json_schema', name: 'schemas/aim.schema.json', schemaPath: '/base/schemas/aim.schema.json' },
      {
        kind: 'command',
        name: './scripts/check-aim.sh',
        argv: ['/base/scripts/check-aim.sh', '{{file}}'],
        timeoutMs: 3_000,
      },
      { kind: 'command', name: 'jq-parse', argv: ['jq', '.', '--arg', 'f={{file}}'], timeoutMs: 10_000 },
      { kind: 'command', name: '../bin/check', argv: ['/bin/check', '--strict'], timeoutMs: 10_000 },
      { kind: 'json_schema', name: 'shared', schemaPath: '/etc/schemas/aim.json' },
    ]);
  });
});

describe('metric provider and query', () => {
  const providers = ['providers:', '  prom: { prometheus: { url: http://127.0.0.1:9090 } }'];

  it('needs a query with a provider and a provider with a query', () => {
    const text = spec([
      ...providers,
      'analysis:',
      '  metrics:',
      '    - { name: a, provider: prom, max: 1 }',
      `    - { name: b, query: ${QUERY}, max: 1 }`,
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:9:7 analysis.metrics[0].query: is required with provider prom',
      'rollouts/x.yaml:10:7 analysis.metrics[1].provider: is required with query: name a provider under providers',
    ]);
  });

  it('rejects an unknown provider, listing the known ones', () => {
    const text = spec([
      ...providers,
      '  other: { prometheus: { url: https://127.0.0.1:9091 } }',
      'analysis:',
      '  metrics:',
      `    - { name: a, provider: promx, query: ${QUERY}, max: 1 }`,
      `    - { name: b, provider: prom, query: ${QUERY}, max: 1 }`,
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:10:28 analysis.metrics[0].provider: names "promx", which is not under providers (prom, other)',
    ]);
  });

  it('says so when there is no providers section at all', () => {
    const text = spec(['analysis:', '  metrics:', `    - { name: a, provider: prom, query: ${QUERY}, max: 1 }`]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:7:28 analysis.metrics[0].provider: names "prom", but the spec has no providers section',
    ]);
  });

  it('reports an unknown provider along with problems elsewhere in the spec', () => {
    const text = specText({
      canary: 'canary: { drones: 0 }',
      rest: ['analysis:', '  metrics:', `    - { name: a, provider: prom, query: ${QUERY}, max: 1 }`].join('\n'),
    });
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:4:19 canary.drones: must be a positive integer, got 0',
      'rollouts/x.yaml:7:28 analysis.metrics[0].provider: names "prom", but the spec has no providers section',
    ]);
  });

  it('needs {{drones}} in a query, and no other placeholder', () => {
    const text = spec([
      ...providers,
      'analysis:',
      '  metrics:',
      `    - { name: a, provider: prom, query: 'drone_heart_rate{drone="d1"}', max: 1 }`,
      `    - { name: b, provider: prom, query: 'x{drone=~"{{drones}}", zone="{{zone}}"}', max: 1 }`,
      `    - { name: c, provider: prom, query: 'x{drone=~"{{ drones }}"} + {{}}', max: 1 }`,
      `    - { name: d, provider: prom, query: '', max: 1 }`,
    ]);
    expect(specErrors(text)).toEqual([
      `rollouts/x.yaml:9:41 analysis.metrics[0].query: must select the drones with {{drones}}, e.g. 'drone_heart_rate{drone=~"{{drones}}"}', so the canary and the baseline are queried apart`,
      'rollouts/x.yaml:10:41 analysis.metrics[1].query: has {{zone}}; the only placeholder is {{drones}}',
      `rollouts/x.yaml:11:41 analysis.metrics[2].query: must select the drones with {{drones}}, e.g. 'drone_heart_rate{drone=~"{{drones}}"}', so the canary and the baseline are queried apart`,
      'rollouts/x.yaml:11:41 analysis.metrics[2].query: has {{ drones }}; the only placeholder is {{drones}}',
      'rollouts/x.yaml:11:41 analysis.metrics[2].query: has {{}}; the only placeholder is {{drones}}',
      'rollouts/x.yaml:12:41 analysis.metrics[3].query: must be a PromQL query, got ""',
    ]);
  });

  it('gives one metric name one source: the same provider and query, or the telemetry', () => {
    const text = spec([
      ...providers,
      '  other: { prometheus: { url: http://127.0.0.1:9091 } }',
      'analysis:',
      '  metrics:',
      `    - { name: a, provider: prom, query: ${QUERY}, max: 1 }`,
      `    - { name: a, provider: other, query: ${QUERY}, min: 0 }`,
      `    - { name: a, provider: prom, query: 'y{drone=~"{{drones}}"}', min: 0 }`,
      '    - { name: a, max: 3 }',
      `    - { name: a, provider: prom, query: ${QUERY}, min: 0 }`,
      '    - { name: t, max: 3 }',
      `    - { name: t, provider: prom, query: ${QUERY}, min: 0 }`,
    ]);
    const twice = (index: number, first: number, name: string): string =>
      `analysis.metrics[${index}].name: "${name}" is also analysis.metrics[${first}] with another provider or query; give this one its own name`;
    expect(specErrors(text)).toEqual([
      `rollouts/x.yaml:11:15 ${twice(1, 0, 'a')}`,
      `rollouts/x.yaml:12:15 ${twice(2, 0, 'a')}`,
      `rollouts/x.yaml:13:15 ${twice(3, 0, 'a')}`,
      `rollouts/x.yaml:16:15 ${twice(6, 5, 't')}`,
    ]);
  });
});

describe('providers', () => {
  it('needs an http:// or https:// URL', () => {
    const text = spec([
      'providers:',
      '  a: { prometheus: { url: ftp://127.0.0.1:9090 } }',
      '  b: { prometheus: { url: not a url } }',
      '  c: { prometheus: { url: 9090 } }',
      '  d: { prometheus: { timeout: 1s } }',
      '  e: { prometheus: { url: "file:///etc/passwd" } }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:27 providers.a.prometheus.url: must be an http:// or https:// URL, got "ftp://127.0.0.1:9090"',
      'rollouts/x.yaml:7:27 providers.b.prometheus.url: must be an http:// or https:// URL, got "not a url"',
      'rollouts/x.yaml:8:27 providers.c.prometheus.url: must be an http:// or https:// URL, got 9090',
      'rollouts/x.yaml:9:8 providers.d.prometheus.url: is required',
      'rollouts/x.yaml:10:27 providers.e.prometheus.url: must be an http:// or https:// URL, got "file:///etc/passwd"',
    ]);
  });

  it('rejects a provider name that is not lowercase, and keys other than prometheus', () => {
    // The key pattern's own message ("a provider name must be lowercase ...") is not what is shown: the
    // record's message is used for an invalid key (see the report on signals-schema.ts).
    const text = spec([
      'providers:',
      '  Prom: { prometheus: { url: http://127.0.0.1:9090 } }',
      '  graphite: { graphite: { url: http://127.0.0.1:9090 } }',
      '  nested: { prometheus: { url: http://127.0.0.1:9090, timout: 1s } }',
    ]);
    const issues = checkSpecText(text, SPEC_FILE, '/base').issues;
    expect(issues.map(({ line, key }) => [line, key])).toEqual([
      [6, 'providers.Prom'],
      [7, 'providers.graphite.prometheus'],
      [7, 'providers.graphite.graphite'],
      [8, 'providers.nested.prometheus.timout'],
    ]);
    expect(issues[0]?.message).toMatch(/^must be a provider name: lowercase letters, .*got "Prom"$/u);
    expect(issues[1]?.message).toBe('is required');
    expect(issues[2]?.message).toMatch(/^unknown key/);
    expect(issues[3]?.message).toMatch(/^unknown key/);
  });

  it('takes basic_auth or bearer_token_file, not both', () => {
    const text = spec([
      'providers:',
      '  prom:',
      '    prometheus:',
      '      url: http://127.0.0.1:9090',
      '      basic_auth: { username: u, password_file: pw }',
      '      bearer_token_file: tok',
      '  half: { prometheus: { url: http://127.0.0.1:9090, basic_auth: { username: u } } }',
      '  empty: { prometheus: { url: http://127.0.0.1:9090, bearer_token_file: "" } }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:10:26 providers.prom.prometheus.bearer_token_file: give basic_auth or bearer_token_file, not both',
      'rollouts/x.yaml:11:53 providers.half.prometheus.basic_auth.password_file: is required',
      'rollouts/x.yaml:12:73 providers.empty.prometheus.bearer_token_file: must be a path, got ""',
    ]);
  });
});

describe('webhooks', () => {
  it('rejects an unknown type, listing the four', () => {
    const text = spec(['webhooks:', '  - { name: a, type: pre-merge, url: http://127.0.0.1:8080/ }']);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:22 webhooks[0].type: must be pre-rollout, confirm-promotion, post-rollout, rollback, got "pre-merge"',
    ]);
    expect(WEBHOOK_TYPES).toEqual(['pre-rollout', 'confirm-promotion', 'post-rollout', 'rollback']);
  });

  it('rejects a name used twice, at each repeat', () => {
    const text = spec([
      'webhooks:',
      '  - { name: a, type: pre-rollout, url: http://h/ }',
      '  - { name: b, type: rollback, url: http://h/ }',
      '  - { name: a, type: post-rollout, url: https://h/ }',
      '  - { name: a, type: confirm-promotion, url: https://h/ }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:8:13 webhooks[2].name: is used twice: "a"',
      'rollouts/x.yaml:9:13 webhooks[3].name: is used twice: "a"',
    ]);
  });

  it('takes wait on confirm-promotion webhooks only', () => {
    const text = spec([
      'webhooks:',
      '  - { name: a, type: pre-rollout, url: http://h/, wait: 1m }',
      '  - { name: b, type: rollback, url: http://h/, wait: 1m }',
      '  - { name: c, type: confirm-promotion, url: http://h/, wait: 1h }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:57 webhooks[0].wait: applies to confirm-promotion webhooks only, not pre-rollout',
      'rollouts/x.yaml:7:54 webhooks[1].wait: applies to confirm-promotion webhooks only, not rollback',
    ]);
    const hook = spec(['webhooks:', '  - { name: c, type: confirm-promotion, url: http://h/, wait: 1h }']);
    expect(parse(hook).webhooks[0]?.waitMs).toBe(3_600_000);
  });

  it('rejects bad names, URLs, header values and counts', () => {
    const text = spec([
      'webhooks:',
      '  - { name: Smoke, type: pre-rollout, url: http://h/ }',
      '  - { name: b, type: rollback, url: "ws://h/", retries: -1, headers: { X-A: 1 } }',
      '  - { name: c, type: rollback }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:13 webhooks[0].name: must be a webhook name like smoke, got "Smoke"',
      'rollouts/x.yaml:7:37 webhooks[1].url: must be an http:// or https:// URL, got "ws://h/"',
      'rollouts/x.yaml:7:57 webhooks[1].retries: must be an integer of 0 or more, got -1',
      'rollouts/x.yaml:7:77 webhooks[1].headers.X-A: must be a string, got 1',
      'rollouts/x.yaml:8:5 webhooks[2].url: is required',
    ]);
  });
});

describe('notify', () => {
  it('rejects an unknown event, listing every event', () => {
    const text = spec(['notify:', '  - { url: http://h/, on: [started, exploded] }']);
    expect(specErrors(text)).toEqual([
      `rollouts/x.yaml:6:37 notify[0].on[1]: must be ${NOTIFY_EVENTS.join(', ')}, got "exploded"`,
    ]);
    expect(specErrors(text)[0]).toContain(
      'must be started, step_passed, waiting, promoted, rolled_back, aborted_hot, needs_attention, unchanged, lock_busy, interrupted, invalid',
    );
  });

  it('takes json or slack only, at least one event and an http(s) URL', () => {
    const text = spec([
      'notify:',
      '  - { url: http://h/, format: xml }',
      '  - { url: http://h/, on: [] }',
      '  - { url: http://h/, on: started }',
      '  - { url: "mailto:ops@example.com", format: slack }',
      '  - { format: slack }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:31 notify[0].format: must be json or slack, got "xml"',
      'rollouts/x.yaml:7:27 notify[1].on: must list at least one event',
      'rollouts/x.yaml:8:27 notify[2].on: must be a list of events, got "started"',
      'rollouts/x.yaml:9:12 notify[3].url: must be an http:// or https:// URL, got "mailto:ops@example.com"',
      'rollouts/x.yaml:10:5 notify[4].url: is required',
    ]);
  });
});

describe('config validators', () => {
  it('needs json_schema or command, not neither and not both', () => {
    expect(
      specErrors(withValidators(['    - { name: x }', '    - { json_schema: a.json, command: [b] }', '    - x'])),
    ).toEqual([
      'rollouts/x.yaml:6:7 config.validate[0]: must be a mapping with json_schema or command, got a mapping',
      'rollouts/x.yaml:7:7 config.validate[1]: must be a mapping with json_schema or command, got a mapping',
      'rollouts/x.yaml:8:7 config.validate[2]: must be a mapping with json_schema or command, got "x"',
    ]);
  });

  it('takes {{file}} as the only placeholder of a command', () => {
    const text = withValidators([
      '    - { command: [./check.sh, "{{file}}", "--other={{other}}"] }',
      '    - { command: ["{{program}}", "{{file}}"] }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:43 config.validate[0].command[2]: has {{other}}; the only placeholder is {{file}}',
      'rollouts/x.yaml:7:19 config.validate[1].command[0]: has {{program}}; the only placeholder is {{file}}',
    ]);
  });

  it('needs a program in a command', () => {
    expect(specErrors(withValidators(['    - { command: [] }']))).toEqual([
      'rollouts/x.yaml:6:18 config.validate[0].command: must name a program',
    ]);
  });

  it('rejects an empty json_schema path and an unknown key', () => {
    expect(specErrors(withValidators(['    - { json_schema: "" }', '    - { command: [x], timout: 1s }']))).toEqual([
      'rollouts/x.yaml:6:22 config.validate[0].json_schema: must be a path, got ""',
      'rollouts/x.yaml:7:23 config.validate[1].timout: unknown key',
    ]);
  });
});

describe('timeouts', () => {
  it('must be longer than 0 and written as durations', () => {
    const text = spec([
      'providers:',
      '  prom: { prometheus: { url: http://h:1, timeout: 0s, step: -1s } }',
      '  slow: { prometheus: { url: http://h:1, timeout: 25h, step: 0ms } }',
      'webhooks:',
      '  - { name: a, type: confirm-promotion, url: http://h/, timeout: 0s, wait: 0s }',
      '  - { name: b, type: pre-rollout, url: http://h/, timeout: -5s }',
      'notify:',
      '  - { url: http://h/, timeout: 0s }',
      '  - { url: http://h/, timeout: 5 }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:51 providers.prom.prometheus.timeout: must be longer than 0, got "0s"',
      'rollouts/x.yaml:6:61 providers.prom.prometheus.step: must be a duration like 500ms, 30s, 2m or 1h, got "-1s"',
      'rollouts/x.yaml:7:51 providers.slow.prometheus.timeout: must be at most 24h, got "25h"',
      'rollouts/x.yaml:7:62 providers.slow.prometheus.step: must be longer than 0, got "0ms"',
      'rollouts/x.yaml:9:66 webhooks[0].timeout: must be longer than 0, got "0s"',
      'rollouts/x.yaml:9:76 webhooks[0].wait: must be longer than 0, got "0s"',
      'rollouts/x.yaml:10:60 webhooks[1].timeout: must be a duration like 500ms, 30s, 2m or 1h, got "-5s"',
      'rollouts/x.yaml:12:32 notify[0].timeout: must be longer than 0, got "0s"',
      'rollouts/x.yaml:13:32 notify[1].timeout: must be a duration like 500ms, 30s, 2m or 1h, got 5',
    ]);
  });

  it('of a command validator: each is pinned on its timeout', () => {
    const text = withValidators([
      '    - { command: [x], timeout: 0s }',
      '    - { command: [x], timeout: -1s }',
      '    - { command: [x], timeout: 25h }',
      '    - { command: [x], timeout: 1s }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:32 config.validate[0].timeout: must be longer than 0, got "0s"',
      'rollouts/x.yaml:7:32 config.validate[1].timeout: must be a duration like 500ms, 30s, 2m or 1h, got "-1s"',
      'rollouts/x.yaml:8:32 config.validate[2].timeout: must be at most 24h, got "25h"',
    ]);
    expect(parse(withValidators(['    - { command: [x], timeout: 24h }'])).config.validate).toEqual([
      { kind: 'command', name: 'x', argv: ['x'], timeoutMs: 86_400_000 },
    ]);
  });
});

describe('rollout schema (JSON Schema of the spec)', () => {
  interface Schema {
    readonly description?: string;
    readonly default?: unknown;
    readonly enum?: readonly string[];
    readonly required?: readonly string[];
    readonly properties?: Record<string, Schema>;
    readonly additionalProperties?: Schema | boolean;
    readonly items?: Schema;
    readonly anyOf?: readonly Schema[];
    readonly propertyNames?: Schema;
  }
  const schema = specJsonSchema() as Schema;
  const top = schema.properties ?? {};

  it('describes providers, webhooks, notify and config.validate', () => {
    for (const key of ['providers', 'webhooks', 'notify'] as const) {
      expect(top[key]?.description, key).toEqual(expect.any(String));
    }
    expect(top.providers?.description).toContain('Metric providers');
    expect(top.webhooks?.description).toContain('HTTP calls');
    expect(top.notify?.description).toContain('notification');
    expect(top.config?.properties?.validate?.description).toContain('Checks of the config content');
    expect(schema.required).not.toContain('providers');
    expect(schema.required).not.toContain('webhooks');
    expect(schema.required).not.toContain('notify');
  });

  it('shows a provider with its defaults and descriptions', () => {
    expect(top.providers?.propertyNames).toMatchObject({ pattern: '^[a-z][a-z0-9_-]*$' });
    const provider = top.providers?.additionalProperties as Schema;
    expect(provider.required).toEqual(['prometheus']);
    const prometheus = provider.properties?.prometheus;
    expect(prometheus?.description).toEqual(expect.any(String));
    expect(prometheus?.required).toEqual(['url']);
    expect(prometheus?.additionalProperties).toBe(false);
    expect(Object.keys(prometheus?.properties ?? {})).toEqual([
      'url',
      'timeout',
      'step',
      'basic_auth',
      'bearer_token_file',
    ]);
    expect(prometheus?.properties?.timeout).toMatchObject({ type: 'string', default: '5s' });
    expect(prometheus?.properties?.step).toMatchObject({ type: 'string', default: '1s' });
    for (const [key, property] of Object.entries(prometheus?.properties ?? {})) {
      expect(property.description, key).toEqual(expect.any(String));
    }
  });

  it('shows a webhook with its four types and its defaults', () => {
    const hook = top.webhooks?.items;
    expect(hook?.required).toEqual(['name', 'type', 'url']);
    expect(hook?.additionalProperties).toBe(false);
    expect(hook?.properties?.type?.enum).toEqual([...WEBHOOK_TYPES]);
    expect(hook?.properties?.timeout).toMatchObject({ default: '10s' });
    expect(hook?.properties?.retries).toMatchObject({ default: 2 });
    for (const [key, property] of Object.entries(hook?.properties ?? {})) {
      expect(property.description, key).toEqual(expect.any(String));
    }
  });

  it('shows a notify target with its formats, events and defaults', () => {
    const target = top.notify?.items;
    expect(target?.required).toEqual(['url']);
    expect(target?.properties?.format).toMatchObject({ enum: ['json', 'slack'], default: 'json' });
    expect(target?.properties?.on).toMatchObject({ default: [...NOTIFY_EVENTS], items: { enum: [...NOTIFY_EVENTS] } });
    expect(target?.properties?.timeout).toMatchObject({ default: '5s' });
    expect(target?.properties?.retries).toMatchObject({ default: 3 });
    for (const [key, property] of Object.entries(target?.properties ?? {})) {
      expect(property.description, key).toEqual(expect.any(String));
    }
  });

  it('shows the two kinds of validator', () => {
    const [jsonSchema, command] = top.config?.properties?.validate?.items?.anyOf ?? [];
    expect(jsonSchema?.required).toEqual(['json_schema']);
    expect(jsonSchema?.properties?.json_schema?.description).toEqual(expect.any(String));
    expect(command?.required).toEqual(['command']);
    expect(command?.properties?.command?.description).toContain('{{file}}');
    expect(command?.properties?.timeout).toMatchObject({ default: '10s' });
  });

  it('shows the metric keys provider and query', () => {
    const metric = top.analysis?.properties?.metrics?.items;
    expect(metric?.properties?.provider?.description).toEqual(expect.any(String));
    expect(metric?.properties?.query?.description).toContain('{{drones}}');
  });
});
