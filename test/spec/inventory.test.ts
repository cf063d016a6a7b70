import { describe, expect, it } from 'vitest';
import { checkInventoryText, formatSpecIssue, parseInventoryText, SpecError } from '../../src/spec/index.js';

const FILE = 'rollouts/fleet.yaml';

function errorsOf(text: string): string[] {
  const { drones, issues } = checkInventoryText(text, FILE);
  expect(drones).toBeUndefined();
  return issues.map(formatSpecIssue);
}

describe('inventory', () => {
  it('reads drones in order, labels defaulting to none and URLs without a trailing slash', () => {
    const text = 'drones:\n  - { id: a, url: "http://h:1/d/a/", labels: { zone: x } }\n  - { id: b, url: https://h }\n';
    expect(parseInventoryText(text, FILE)).toEqual([
      { id: 'a', url: 'http://h:1/d/a', labels: { zone: 'x' } },
      { id: 'b', url: 'https://h', labels: {} },
    ]);
  });

  it('throws a SpecError naming the inventory file', () => {
    expect(() => parseInventoryText('drones: []\n', FILE)).toThrow(SpecError);
    expect(() => parseInventoryText('drones: []\n', FILE)).toThrow('rollouts/fleet.yaml:1:9 drones: must list at least one drone');
  });

  it('reports syntax errors, missing keys and unknown keys with the inventory positions', () => {
    expect(errorsOf('drones:\n  - { id: a, url: http://h\n')).toEqual([
      'rollouts/fleet.yaml:3:1 invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
    ]);
    expect(errorsOf('drone:\n  - { id: a }\n')).toEqual([
      'rollouts/fleet.yaml:1:1 drones: is required',
      'rollouts/fleet.yaml:1:1 drone: unknown key; did you mean drones?',
    ]);
    expect(errorsOf('drones:\n  - id: a\n    labels: {}\n')).toEqual(['rollouts/fleet.yaml:2:5 drones[0].url: is required']);
  });

  it('rejects duplicate ids at the second one', () => {
    const text = 'drones:\n  - { id: a, url: http://h/a }\n  - { id: b, url: http://h/b }\n  - { id: a, url: http://h/c }\n';
    expect(errorsOf(text)).toEqual(['rollouts/fleet.yaml:4:11 drones[2].id: duplicate drone id "a" (also drones[0])']);
  });

  it('reads a JSON inventory the same way, and names JSON mistakes at their line and column', () => {
    const json = '{"drones": [\n  {"id": "a", "url": "http://h:1/d/a/", "labels": {"zone": "x"}},\n  {"id": "b", "url": "https://h"}\n]}\n';
    expect(parseInventoryText(json, FILE)).toEqual([
      { id: 'a', url: 'http://h:1/d/a', labels: { zone: 'x' } },
      { id: 'b', url: 'https://h', labels: {} },
    ]);
    expect(errorsOf('{"drones": [\n  {"id": "a", "url": "ftp://h"}\n]}\n')).toEqual([
      'rollouts/fleet.yaml:2:22 drones[0].url: must be an http:// or https:// URL, got "ftp://h"',
    ]);
    expect(errorsOf('{"drones": [\n  {"id": "a", "url": "http://h/a"},\n  {"id": "a", "url": "http://h/b"}\n]}\n')).toEqual([
      'rollouts/fleet.yaml:3:10 drones[1].id: duplicate drone id "a" (also drones[0])',
    ]);
  });

  it('rejects a JSON inventory that repeats a key, as YAML does, instead of keeping the last one', () => {
    const twoLists = '{"drones": [{"id": "a", "url": "http://h/a"}],\n "drones": [{"id": "b", "url": "http://h/b"}]}\n';
    expect(errorsOf(twoLists)[0]).toMatch(/^rollouts\/fleet\.yaml:2:2 invalid YAML: Map keys must be unique/);
    const twoIds = '{"drones": [{"id": "a", "id": "b", "url": "http://h/a"}]}\n';
    expect(errorsOf(twoIds)[0]).toMatch(/invalid YAML: Map keys must be unique/);
    const escaped = '{"drones": [{"id": "a", "url": "http://h/a", "labels": {"zone": "x", "\\u007aone": "y"}}]}\n';
    expect(errorsOf(escaped)[0]).toMatch(/invalid YAML: Map keys must be unique/);
    const sameKeyInTwoObjects = '{"drones": [{"id": "a", "url": "http://h/a"}, {"id": "b", "url": "http://h/b"}]}\n';
    expect(parseInventoryText(sameKeyInTwoObjects, FILE).map((d) => d.id)).toEqual(['a', 'b']);
  });
});
