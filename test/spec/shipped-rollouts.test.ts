import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPlan, specJsonSchema } from '../../src/spec/index.js';

const rollouts = (name: string) => fileURLToPath(new URL(`../../rollouts/${name}`, import.meta.url));
const SHIPPED = ['aim-sensitivity.yaml', 'aim-sensitivity-bad.yaml', 'aim-sensitivity-hot.yaml'] as const;
const INITIAL_CONFIG = '# aim lock config\naim_sensitivity = 0.80\nsafety_threshold = 0.95\nmax_turn_rate = 30\n';

type Schema = Readonly<Record<string, unknown>>;

/** A structural check of a value against the parts of JSON Schema that zod emits for the spec. */
function conform(value: unknown, schema: Schema, path: string): string[] {
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf as Schema[];
    return branches.some((branch) => conform(value, branch, path).length === 0) ? [] : [`${path}: matches no branch`];
  }
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = (schema.required ?? []) as string[];
      const problems = required.filter((key) => !(key in value)).map((key) => `${path}.${key}: missing`);
      for (const [key, item] of Object.entries(value)) {
        const property = properties[key];
        if (property !== undefined) problems.push(...conform(item, property, `${path}.${key}`));
        else if (schema.additionalProperties === false) problems.push(`${path}.${key}: not in the schema`);
        else if (typeof schema.additionalProperties === 'object') {
          problems.push(...conform(item, schema.additionalProperties as Schema, `${path}.${key}`));
        }
      }
      return problems;
    }
    case 'array':
      return Array.isArray(value)
        ? value.flatMap((item, index) => conform(item, schema.items as Schema, `${path}[${index}]`))
        : [`${path}: not an array`];
    case 'string':
      if (typeof value !== 'string') return [`${path}: not a string`];
      return typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)
        ? [`${path}: bad pattern`]
        : [];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${path}: not an integer`];
    case 'number':
      return typeof value === 'number' ? [] : [`${path}: not a number`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: not a boolean`];
    default:
      return [];
  }
}

describe('specJsonSchema', () => {
  const schema = specJsonSchema();

  it('is a titled, strict JSON Schema with its input forms and descriptions', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toBe('fleet-rollout spec');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['name', 'config', 'fleet', 'canary']);
    const properties = schema.properties as Record<string, Schema>;
    expect(Object.keys(properties)).toEqual([
      'name',
      'config',
      'fleet',
      'pause',
      'lock',
      'canary',
      'analysis',
      'waves',
      'push',
      'abort',
      'gates',
      'providers',
      'webhooks',
      'notify',
    ]);
    for (const property of Object.values(properties)) expect(property.description).toEqual(expect.any(String));
    const canary = properties.canary as { properties: Record<string, Schema>; additionalProperties: unknown };
    expect(canary.additionalProperties).toBe(false);
    expect(canary.properties.bake).toMatchObject({ type: 'string', default: '30s' });
  });

  it.each(SHIPPED)('accepts the shipped %s', async (name) => {
    const spec: unknown = parse(await readFile(rollouts(name), 'utf8'));
    expect(conform(spec, schema, 'spec')).toEqual([]);
  });

  it('rejects what the zod schema rejects, structurally', () => {
    expect(conform({ name: 'x', colour: 'red' }, schema, 'spec')).toEqual([
      'spec.config: missing',
      'spec.fleet: missing',
      'spec.canary: missing',
      'spec.colour: not in the schema',
    ]);
  });
});

describe('shipped rollouts', () => {
  it('ship a 20-drone patrol fleet in three zones', async () => {
    const plan = await loadPlan(rollouts('aim-sensitivity.yaml'));
    expect(plan.drones).toHaveLength(20);
    expect(plan.drones.slice(0, 4)).toEqual([
      { id: 'drone-1', url: 'http://127.0.0.1:7100/d/drone-1', labels: { group: 'patrol', zone: 'zone-a' } },
      { id: 'drone-2', url: 'http://127.0.0.1:7100/d/drone-2', labels: { group: 'patrol', zone: 'zone-b' } },
      { id: 'drone-3', url: 'http://127.0.0.1:7100/d/drone-3', labels: { group: 'patrol', zone: 'zone-c' } },
      { id: 'drone-4', url: 'http://127.0.0.1:7100/d/drone-4', labels: { group: 'patrol', zone: 'zone-a' } },
    ]);
  });

  it.each(SHIPPED)('%s plans a canary of 3, then 50% and 100%', async (name) => {
    const plan = await loadPlan(rollouts(name));
    expect(plan.spec.canary).toEqual({ drones: 3, bakeMs: 3_000, approval: 'auto', random: false });
    expect(plan.spec.analysis).toEqual({
      intervalMs: 1_000,
      minSamples: 3,
      failureLimit: 1,
      metrics: [
        { name: 'heart_rate', max: 120 },
        { name: 'trajectory_error', maxIncrease: 0.25 },
      ],
      confidence: 0.98,
      passScore: 95,
      marginalScore: 75,
      minReportingDrones: 1,
      inconclusive: 'rollback',
    });
    expect(plan.spec.push).toEqual({ concurrency: 8, timeoutMs: 5_000, retries: 2 });
    expect(plan.spec.lock.ttlMs).toBe(15_000);
    expect(plan.steps.map((step) => [step.name, step.percent, step.drones.length, step.bakeMs])).toEqual([
      ['canary', 15, 3, 3_000],
      ['wave 1', 50, 7, 2_000],
      ['wave 2', 100, 10, 1_000],
    ]);
  });

  it('change only aim_sensitivity from the initial config', async () => {
    const good = await loadPlan(rollouts('aim-sensitivity.yaml'));
    const bad = await loadPlan(rollouts('aim-sensitivity-bad.yaml'));
    const hot = await loadPlan(rollouts('aim-sensitivity-hot.yaml'));
    expect(good.config.content).toBe(INITIAL_CONFIG.replace('0.80', '0.85'));
    expect(bad.config.content).toBe(INITIAL_CONFIG.replace('0.80', '1.60'));
    expect([good.spec.name, bad.spec.name, hot.spec.name]).toEqual([
      'aim-sensitivity-v43',
      'aim-sensitivity-v43',
      'aim-sensitivity-hot',
    ]);
    expect(hot.config).toEqual(good.config);
    expect(good.config.file).toBe('aim_lock_config.conf');
  });
});
