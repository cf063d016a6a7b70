import { describe, expect, it } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { SpecError, validateSpecText } from '../../src/spec/index.js';
import { SPEC_FILE, specErrors, specText } from '../helpers/spec.js';

// Each test swaps one part of `specText()` to break it; line numbers below are counted from its text.

describe('validateSpecText', () => {
  it('accepts a valid spec and resolves its paths against the base folder', () => {
    const parsed = validateSpecText(specText(), SPEC_FILE, '/base');
    expect(parsed.config.source).toBe('/base/app.conf');
    expect(parsed.fleet.inventory).toBe('/base/fleet.yaml');
  });

  it('throws a RolloutError with code E_SPEC_INVALID and structured issues', () => {
    const text =
      'name: x\nconfig: { file: app.conf, source: app.conf }\nfleet: { inventory: f.yaml }\ncanary:\n  drones: 0\n';
    const error = (() => {
      try {
        validateSpecText(text, SPEC_FILE);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(RolloutError);
    expect((error as SpecError).code).toBe('E_SPEC_INVALID');
    expect((error as SpecError).issues).toEqual([
      { file: SPEC_FILE, line: 5, column: 11, key: 'canary.drones', message: 'must be a positive integer, got 0' },
    ]);
    expect((error as SpecError).message).toBe('rollouts/x.yaml:5:11 canary.drones: must be a positive integer, got 0');
  });

  it('reports YAML syntax errors with their position', () => {
    expect(specErrors('name: x\nwaves: [1, 2\nfoo: 1\n')).toEqual([
      'rollouts/x.yaml:3:1 invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(specErrors('name: x\nname: y\n')).toEqual(['rollouts/x.yaml:2:1 name: duplicate key (also on line 1)']);
  });

  it('reports an empty file', () => {
    expect(specErrors('# nothing yet\n')).toEqual(['rollouts/x.yaml:1:1 must be a mapping, got an empty value']);
  });

  it('rejects unknown keys, suggesting the closest known one', () => {
    expect(specErrors(specText({ canary: 'canary: { drones: 1, bakes: 3s, colour: red }' }))).toEqual([
      'rollouts/x.yaml:4:22 canary.bakes: unknown key; did you mean bake?',
      'rollouts/x.yaml:4:33 canary.colour: unknown key',
    ]);
    expect(specErrors(specText({ rest: 'analysis:\n  metrics:\n    - { name: e, maxIncrease: 25% }' }))).toEqual(
      [
        'rollouts/x.yaml:7:18 analysis.metrics[0].maxIncrease: unknown key; did you mean max_increase?',
        'rollouts/x.yaml:7:7 analysis.metrics[0]: needs at least one limit: max, min, max_increase, max_decrease or direction',
      ].sort(byPosition),
    );
  });

  it('rejects wrong types, saying what it received', () => {
    expect(
      specErrors(specText({ canary: 'canary: { drones: three }', rest: 'pause: [1]\nlock: { ttl: true }' })),
    ).toEqual([
      'rollouts/x.yaml:4:19 canary.drones: must be a positive integer, got "three"',
      'rollouts/x.yaml:5:8 pause: must be a mapping, got a list',
      'rollouts/x.yaml:6:14 lock.ttl: must be a duration like 500ms, 30s, 2m or 1h, got true',
    ]);
  });

  it('points a missing required key at its parent', () => {
    expect(specErrors(specText({ config: 'config:\n  file: app.conf' }))).toEqual([
      'rollouts/x.yaml:2:1 config.source: is required',
    ]);
    expect(
      specErrors('# a spec\nconfig: { file: app.conf, source: a }\nfleet: { inventory: f }\ncanary: { drones: 1 }'),
    ).toEqual(['rollouts/x.yaml:2:1 name: is required']);
    expect(specErrors(specText({ rest: 'waves:\n  - { percent: 100 }\n  - { bake: 1s }' }))).toEqual([
      'rollouts/x.yaml:7:5 waves[1].percent: is required',
    ]);
  });

  it('rejects bad durations and says what it received', () => {
    const rest = 'pause: { timeout: 0s }\nlock: { ttl: 2000h, wait: 1.5s }\npush: { timeout: 30 }';
    expect(specErrors(specText({ canary: 'canary: { drones: 1, bake: 5 sec }', rest }))).toEqual([
      'rollouts/x.yaml:4:28 canary.bake: must be a duration like 500ms, 30s, 2m or 1h, got "5 sec"',
      'rollouts/x.yaml:5:19 pause.timeout: must be longer than 0, got "0s"',
      'rollouts/x.yaml:6:14 lock.ttl: must be at most 24h, got "2000h"',
      'rollouts/x.yaml:6:27 lock.wait: must be a duration like 500ms, 30s, 2m or 1h, got "1.5s"',
      'rollouts/x.yaml:7:18 push.timeout: must be a duration like 500ms, 30s, 2m or 1h, got 30',
    ]);
  });

  it('rejects bad percentages', () => {
    const rest = [
      'analysis:',
      '  metrics:',
      '    - { name: a, max_increase: 25 }',
      '    - { name: b, max_decrease: 150% }',
      'waves:',
      '  - { percent: 0 }',
      '  - { percent: 120 }',
    ].join('\n');
    expect(specErrors(specText({ canary: 'canary: { percent: "5%" }', rest }))).toEqual([
      'rollouts/x.yaml:4:20 canary.percent: must be a number greater than 0 and at most 100, got "5%"',
      'rollouts/x.yaml:7:32 analysis.metrics[0].max_increase: must be a percentage like "25%", got 25',
      'rollouts/x.yaml:8:32 analysis.metrics[1].max_decrease: must be a percentage like "25%", at most "100%", got "150%"',
      'rollouts/x.yaml:10:16 waves[0].percent: must be a number greater than 0 and at most 100, got 0',
      'rollouts/x.yaml:11:16 waves[1].percent: must be a number greater than 0 and at most 100, got 120',
    ]);
  });

  it('rejects abort thresholds that are neither a count nor a percentage', () => {
    expect(specErrors(specText({ rest: 'abort: { max_push_failures: -1, max_unreachable: 200% }' }))).toEqual([
      'rollouts/x.yaml:5:29 abort.max_push_failures: must be a count like 3 or a percentage like "10%", got -1',
      'rollouts/x.yaml:5:50 abort.max_unreachable: must be a count like 3 or a percentage like "10%", got "200%"',
    ]);
    const parsed = validateSpecText(
      specText({ rest: 'abort: { max_push_failures: 5%, max_unreachable: 2 }' }),
      SPEC_FILE,
    );
    expect(parsed.abort).toEqual({
      maxPushFailures: { kind: 'percent', value: 5 },
      maxUnreachable: { kind: 'count', value: 2 },
    });
  });

  it('needs exactly one of canary drones, percent or label', () => {
    expect(specErrors(specText({ canary: 'canary: { bake: 1s }' }))).toEqual([
      'rollouts/x.yaml:4:9 canary: needs one of drones, percent or label',
    ]);
    expect(specErrors(specText({ canary: 'canary: { drones: 2, label: { zone: a } }' }))).toEqual([
      'rollouts/x.yaml:4:9 canary: has drones and label; give exactly one of drones, percent or label',
    ]);
    expect(specErrors(specText({ canary: 'canary: { label: {} }' }))).toEqual([
      'rollouts/x.yaml:4:18 canary.label: must name at least one label',
    ]);
  });

  it('needs waves that strictly increase and end at 100', () => {
    const rest = 'waves:\n  - { percent: 50 }\n  - { percent: 50 }\n  - { percent: 90 }';
    expect(specErrors(specText({ rest }))).toEqual([
      "rollouts/x.yaml:7:16 waves[1].percent: must be above the previous wave's 50, got 50",
      'rollouts/x.yaml:8:16 waves[2].percent: must be 100 in the last wave, got 90',
    ]);
    expect(specErrors(specText({ rest: 'waves: []' }))).toEqual([
      'rollouts/x.yaml:5:8 waves: must list at least one wave',
    ]);
  });

  it('needs config.file to be a plain file name', () => {
    for (const file of ['etc/app.conf', '../app.conf', '.app.conf', 'app..conf']) {
      expect(specErrors(specText({ config: `config: { file: "${file}", source: a }` }))).toEqual([
        `rollouts/x.yaml:2:17 config.file: must be a plain file name (no "/", no "..", no leading "."), got "${file}"`,
      ]);
    }
  });

  it('checks names, metric limits and labels', () => {
    const text = [
      'name: Aim Sensitivity',
      'config: { file: app.conf, source: a, version: 43 }',
      'fleet: { inventory: f, selector: { rack: 3 } }',
      'canary: { drones: 1, approval: later }',
      'analysis:',
      '  metrics:',
      '    - { name: hr, min: 10, max: 5 }',
    ].join('\n');
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:1:7 name: must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, got "Aim Sensitivity"',
      'rollouts/x.yaml:2:47 config.version: must be a version label without spaces (quote numbers), got 43',
      'rollouts/x.yaml:3:42 fleet.selector.rack: must be a string (quote it), got 3',
      'rollouts/x.yaml:4:32 canary.approval: must be auto or manual, got "later"',
      'rollouts/x.yaml:7:24 analysis.metrics[0].min: must not be above max (5), got 10',
    ]);
  });

  it('reports every problem at once, in file order', () => {
    const text = [
      'name: x',
      'config:',
      '  file: ../x.conf',
      '  sourc: a.conf',
      'fleet: { inventory: f }',
      'canary:',
      '  drones: 0',
      '  bake: 5 sec',
      'push: { concurrency: 2.5 }',
      'extra: 1',
    ].join('\n');
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:2:1 config.source: is required',
      'rollouts/x.yaml:3:9 config.file: must be a plain file name (no "/", no "..", no leading "."), got "../x.conf"',
      'rollouts/x.yaml:4:3 config.sourc: unknown key; did you mean source?',
      'rollouts/x.yaml:7:11 canary.drones: must be a positive integer, got 0',
      'rollouts/x.yaml:8:9 canary.bake: must be a duration like 500ms, 30s, 2m or 1h, got "5 sec"',
      'rollouts/x.yaml:9:22 push.concurrency: must be a positive integer, got 2.5',
      'rollouts/x.yaml:10:1 extra: unknown key',
    ]);
  });
});

function byPosition(a: string, b: string): number {
  const position = (line: string) => (/:(\d+):(\d+) /.exec(line) ?? []).slice(1).map(Number);
  const [lineA = 0, columnA = 0] = position(a);
  const [lineB = 0, columnB = 0] = position(b);
  return lineA - lineB || columnA - columnB;
}
