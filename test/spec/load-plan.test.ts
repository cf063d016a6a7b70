import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPlan, SpecError, type Plan } from '../../src/spec/index.js';
import { DEFAULT_ANALYSIS, specWithDefaults } from '../helpers/spec.js';
import { fixture, shown } from './fixtures.js';

async function specError(name: string): Promise<SpecError> {
  const error: unknown = await loadPlan(fixture(name)).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SpecError);
  return error as SpecError;
}

describe('loadPlan', () => {
  it('turns a valid spec, its config and its inventory into an exact plan', async () => {
    const content = 'mode = fast\nlimit = 7\n';
    const sha256 = createHash('sha256').update(content).digest('hex');
    const patrol = (id: string, zone: string, url = `http://127.0.0.1:7100/d/${id}`) => ({
      id,
      url,
      labels: { group: 'patrol', zone },
    });
    const expected: Plan = {
      specPath: fixture('valid.yaml'),
      spec: {
        name: 'app-v2',
        config: { file: 'app.conf', source: fixture('configs/app.conf'), version: 'v2', validate: [] },
        fleet: { inventory: fixture('fleet.yaml'), selector: { group: 'patrol' }, mixedVersions: 'refuse' },
        pause: { fleet: true, timeoutMs: 10_000, holdMs: 120_000 },
        lock: { ttlMs: 20_000, waitMs: 60_000 },
        canary: { percent: 25, bakeMs: 500, approval: 'manual', random: false },
        analysis: {
          ...DEFAULT_ANALYSIS,
          intervalMs: 2_000,
          minSamples: 5,
          failureLimit: 2,
          metrics: [
            { name: 'heart_rate', max: 120, min: 40 },
            { name: 'trajectory_error', maxIncrease: 0.25, maxDecrease: 0.1 },
          ],
        },
        waves: [
          { percent: 50, bakeMs: 1_000 },
          { percent: 100, bakeMs: 10_000 },
        ],
        push: { concurrency: 4, timeoutMs: 2_000, retries: 0 },
        abort: { maxPushFailures: { kind: 'count', value: 1 }, maxUnreachable: { kind: 'percent', value: 20 } },
        providers: {},
        webhooks: [],
        notify: [],
      },
      config: { file: 'app.conf', sourcePath: fixture('configs/app.conf'), content, sha256, version: 'v2' },
      // d3 is in the depot group and d6 has no labels; d5's trailing slash is dropped.
      drones: [
        patrol('d1', 'a'),
        patrol('d2', 'b'),
        patrol('d4', 'c'),
        patrol('d5', 'a', 'http://127.0.0.1:7100/d/d5'),
      ],
      steps: [
        { index: 0, kind: 'canary', name: 'canary', percent: 25, drones: ['d1'], bakeMs: 500 },
        { index: 1, kind: 'wave', name: 'wave 1', percent: 50, drones: ['d2'], bakeMs: 1_000 },
        { index: 2, kind: 'wave', name: 'wave 2', percent: 100, drones: ['d4', 'd5'], bakeMs: 10_000 },
      ],
    };
    expect(await loadPlan(fixture('valid.yaml'))).toEqual(expected);
  });

  it('fills every default and versions the config by its sha256', async () => {
    const plan = await loadPlan(fixture('minimal.yaml'));
    expect(plan.config.version).toBe(plan.config.sha256.slice(0, 12));
    expect(plan.config.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.spec).toEqual(
      specWithDefaults({
        name: 'minimal',
        config: { file: 'app.conf', source: fixture('configs/app.conf'), validate: [] },
        fleet: { inventory: fixture('fleet.yaml'), mixedVersions: 'refuse' },
      }),
    );
    expect(plan.drones.map((drone) => drone.id)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5', 'd6']);
    expect(plan.drones[5]?.labels).toEqual({});
    expect(plan.steps.map((step) => [step.name, step.drones])).toEqual([
      ['canary', ['d1']],
      ['wave 1', ['d2', 'd3', 'd4', 'd5', 'd6']],
    ]);
  });

  it('names the key pointing at a missing file and the path it tried, with the other spec errors', async () => {
    const error = await specError('missing-files.yaml');
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message.split('\n')).toEqual([
      `${shown('missing-files.yaml')}:4:11 config.source: file not found: ${shown('configs/nope.conf')}`,
      `${shown('missing-files.yaml')}:6:14 fleet.inventory: file not found: ${shown('no-fleet.yaml')}`,
      `${shown('missing-files.yaml')}:7:28 canary.bake: must be a duration like 500ms, 30s, 2m or 1h, got "soon"`,
    ]);
    expect(error.issues[0]).toEqual({
      file: shown('missing-files.yaml'),
      line: 4,
      column: 11,
      key: 'config.source',
      message: `file not found: ${shown('configs/nope.conf')}`,
    });
  });

  it('pins inventory errors to the inventory file', async () => {
    const error = await specError('bad-inventory.yaml');
    const inventory = shown('broken-fleet.yaml');
    expect(error.message.split('\n')).toEqual([
      `${inventory}:3:10 drones[0].url: must be an http:// or https:// URL, got "ftp://127.0.0.1/d1"`,
      `${inventory}:4:21 drones[0].labels.zone: must be a string (quote it), got 3`,
      `${inventory}:5:11 drones[1].id: must be an id of letters, digits, ".", "_" or "-", got "bad id"`,
      `${inventory}:5:54 drones[1].label: unknown key; did you mean labels?`,
      `${inventory}:6:5 drones[2]: must be a drone mapping {id, url, labels}, got "just-a-string"`,
    ]);
  });

  it('rejects duplicate drone ids', async () => {
    const error = await specError('duplicate-ids.yaml');
    expect(error.message).toBe(
      `${shown('bad-fleet.yaml')}:3:11 drones[1].id: duplicate drone id "d1" (also drones[0])`,
    );
  });

  it('says when the selector matches no drone', async () => {
    const error = await specError('empty-selection.yaml');
    expect(error.message).toBe(
      `${shown('empty-selection.yaml')}:5:13 fleet.selector: selector {group: x} matches no drone of 6 in ${shown('fleet.yaml')}`,
    );
  });

  it('says when the canary is larger than the targeted fleet', async () => {
    const error = await specError('big-canary.yaml');
    expect(error.message).toBe(
      `${shown('big-canary.yaml')}:7:11 canary.drones: asks for 2 drones but only 1 are targeted`,
    );
  });

  it('takes a canary by label, then the rest in inventory order', async () => {
    const plan = await loadPlan(fixture('label-canary.yaml'));
    expect(plan.steps.map((step) => [step.name, step.percent, step.drones])).toEqual([
      ['canary', 50, ['d1', 'd3', 'd5']],
      ['wave 2', 100, ['d2', 'd4', 'd6']],
    ]);
  });

  it("uses an inventory given instead of the spec's, naming its own file in errors", async () => {
    const plan = await loadPlan(fixture('minimal.yaml'), { inventory: shown('other-fleet.yaml') });
    expect(plan.spec.fleet.inventory).toBe(fixture('other-fleet.yaml'));
    expect(plan.drones.map((drone) => drone.id)).toEqual(['o1', 'o2']);
    const duplicate = await loadPlan(fixture('minimal.yaml'), { inventory: shown('bad-fleet.yaml') }).catch(
      (error: unknown) => error,
    );
    expect((duplicate as SpecError).message).toBe(
      `${shown('bad-fleet.yaml')}:3:11 drones[1].id: duplicate drone id "d1" (also drones[0])`,
    );
    const missing = await loadPlan(fixture('minimal.yaml'), { inventory: shown('none.yaml') }).catch(
      (error: unknown) => error,
    );
    expect((missing as SpecError).message).toBe(`${shown('none.yaml')}:1:1 file not found: ${shown('none.yaml')}`);
  });

  it('names a spec that cannot be read', async () => {
    const error = await specError('nope.yaml');
    expect(error.message).toBe(`${shown('nope.yaml')}:1:1 cannot read the spec: file not found: ${shown('nope.yaml')}`);
  });
});
