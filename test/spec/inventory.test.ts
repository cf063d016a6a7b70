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

  it('gives drones with the same labels one frozen labels object', () => {
    const text = JSON.stringify({
      drones: [
        { id: 'a', url: 'http://h:1/d/a', labels: { group: 'patrol', zone: 'n' } },
        { id: 'b', url: 'http://h:1/d/b', labels: { group: 'patrol', zone: 'n' } },
        { id: 'c', url: 'http://h:1/d/c', labels: { group: 'patrol', zone: 's' } },
        { id: 'd', url: 'http://h:1/d/d' },
        { id: 'e', url: 'http://h:1/d/e', labels: {} },
      ],
    });
    const [a, b, c, d, e] = parseInventoryText(text, 'fleet.json');
    expect(b?.labels).toBe(a?.labels);
    expect(c?.labels).not.toBe(a?.labels);
    expect(c?.labels).toEqual({ group: 'patrol', zone: 's' });
    expect(e?.labels).toBe(d?.labels);
    expect(Object.isFrozen(a?.labels)).toBe(true);
  });

  it('keeps labels that differ on every drone (a serial number) as they are', () => {
    const drones = Array.from({ length: 300 }, (_, index) => ({
      id: `d${index}`,
      url: `http://h:1/d/d${index}`,
      labels: { serial: `s${index}` },
    }));
    const parsed = parseInventoryText(JSON.stringify({ drones }), 'fleet.json');
    expect(parsed.map((drone) => drone.labels)).toEqual(drones.map((drone) => drone.labels));
  });

  it('throws a SpecError naming the inventory file', () => {
    expect(() => parseInventoryText('drones: []\n', FILE)).toThrow(SpecError);
    expect(() => parseInventoryText('drones: []\n', FILE)).toThrow(
      'rollouts/fleet.yaml:1:9 drones: must list at least one drone',
    );
  });

  it('reports syntax errors, missing keys and unknown keys with the inventory positions', () => {
    expect(errorsOf('drones:\n  - { id: a, url: http://h\n')).toEqual([
      'rollouts/fleet.yaml:3:1 invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
    ]);
    expect(errorsOf('drone:\n  - { id: a }\n')).toEqual([
      'rollouts/fleet.yaml:1:1 drones: is required',
      'rollouts/fleet.yaml:1:1 drone: unknown key; did you mean drones?',
    ]);
    expect(errorsOf('drones:\n  - id: a\n    labels: {}\n')).toEqual([
      'rollouts/fleet.yaml:2:5 drones[0].url: is required',
    ]);
  });

  it('rejects duplicate ids at the second one', () => {
    const text =
      'drones:\n  - { id: a, url: http://h/a }\n  - { id: b, url: http://h/b }\n  - { id: a, url: http://h/c }\n';
    expect(errorsOf(text)).toEqual(['rollouts/fleet.yaml:4:11 drones[2].id: duplicate drone id "a" (also drones[0])']);
  });

  it('reads a JSON inventory the same way, and names JSON mistakes at their line and column', () => {
    const json =
      '{"drones": [\n  {"id": "a", "url": "http://h:1/d/a/", "labels": {"zone": "x"}},\n  {"id": "b", "url": "https://h"}\n]}\n';
    expect(parseInventoryText(json, FILE)).toEqual([
      { id: 'a', url: 'http://h:1/d/a', labels: { zone: 'x' } },
      { id: 'b', url: 'https://h', labels: {} },
    ]);
    expect(errorsOf('{"drones": [\n  {"id": "a", "url": "ftp://h"}\n]}\n')).toEqual([
      'rollouts/fleet.yaml:2:22 drones[0].url: must be an http:// or https:// URL, got "ftp://h"',
    ]);
    expect(
      errorsOf('{"drones": [\n  {"id": "a", "url": "http://h/a"},\n  {"id": "a", "url": "http://h/b"}\n]}\n'),
    ).toEqual(['rollouts/fleet.yaml:3:10 drones[1].id: duplicate drone id "a" (also drones[0])']);
  });

  it('rejects a JSON inventory that repeats a key, as YAML does, instead of keeping the last one', () => {
    const twoLists = '{"drones": [{"id": "a", "url": "http://h/a"}],\n "drones": [{"id": "b", "url": "http://h/b"}]}\n';
    expect(errorsOf(twoLists)).toEqual(['rollouts/fleet.yaml:2:2 drones: duplicate key (also on line 1)']);
    const twoIds = '{"drones": [{"id": "a", "id": "b", "url": "http://h/a"}]}\n';
    expect(errorsOf(twoIds)).toEqual(['rollouts/fleet.yaml:1:25 drones[0].id: duplicate key (also on line 1)']);
    const escaped = '{"drones": [{"id": "a", "url": "http://h/a", "labels": {"zone": "x", "\\u007aone": "y"}}]}\n';
    expect(errorsOf(escaped)).toEqual([
      'rollouts/fleet.yaml:1:70 drones[0].labels.zone: duplicate key (also on line 1)',
    ]);
    const sameKeyInTwoObjects = '{"drones": [{"id": "a", "url": "http://h/a"}, {"id": "b", "url": "http://h/b"}]}\n';
    expect(parseInventoryText(sameKeyInTwoObjects, FILE).map((d) => d.id)).toEqual(['a', 'b']);
  });

  it('refuses a URL carrying a user or password without echoing the secret', () => {
    const text =
      'drones:\n  - { id: a, url: http://h/a }\n  - { id: b, url: "http://h/b" }\n  - { id: c, url: "http://h/c" }\n  - { id: d, url: "https://op:hunter2@h/d" }\n  - { id: e, url: "http://t0ken@h/e" }\n';
    const { issues } = checkInventoryText(text, FILE);
    expect(issues.map(({ line, column, key }) => `${line}:${column} ${key}`)).toEqual([
      '5:19 drones[3].url',
      '6:19 drones[4].url',
    ]);
    expect(issues[0]?.message).toBe(
      'must not carry a user or password, got "https://op:***@h/d"; give the agents\' token with --token-file instead',
    );
    expect(issues[1]?.message).toMatch(/got "http:\/\/\*\*\*@h\/e"/);
    expect(JSON.stringify(issues)).not.toMatch(/hunter2|t0ken/);
  });

  it("refuses a URL with a query or fragment: a drone's URL is its agent's base, request paths go after it", () => {
    // A query value may be a token: the message leaves it out.
    const text = '{"drones": [{"id": "a", "url": "http://h/d/a?x=1"}, {"id": "b", "url": "http://h/d/b#top"}]}';
    const { issues } = checkInventoryText(text, FILE);
    expect(issues.map((issue) => issue.key)).toEqual(['drones[0].url', 'drones[1].url']);
    expect(issues[0]?.message).toBe(
      'must be the agent\'s base URL, without a query or fragment, got "http://h/d/a?x=…"',
    );
  });

  it('refuses URLs that are not http or https, hiding credentials in them too', () => {
    const text =
      '{"drones": [{"id": "a", "url": "file:///etc/passwd"}, {"id": "b", "url": "ftp://u:pw1234@h"}, {"id": "c", "url": "u:pw1234@h"}]}';
    const { issues } = checkInventoryText(text, FILE);
    expect(issues.map((issue) => issue.key)).toEqual(['drones[0].url', 'drones[1].url', 'drones[2].url']);
    expect(issues.every((issue) => issue.message.startsWith('must be an http:// or https:// URL'))).toBe(true);
    expect(JSON.stringify(issues)).not.toMatch(/pw1234/);
  });

  it('lists the first 50 problems of a large JSON inventory and counts the rest', () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `  {"id": "d${i}", "url": "ftp://h/d${i}"}`);
    const text = `{"drones": [\n${lines.join(',\n')}\n]}\n`;
    const { drones, issues, unlisted } = checkInventoryText(text, FILE);
    expect(drones).toBeUndefined();
    expect(issues).toHaveLength(50);
    expect(unlisted).toBe(19_950);
    expect(issues[49]).toMatchObject({ line: 51, column: 24, key: 'drones[49].url' });
    expect(() => parseInventoryText(text, FILE)).toThrow(/\nand 19,950 more issues$/);
  });

  it('names the line and column of a syntax error in a JSON inventory too large for the YAML parser', () => {
    const lines = Array.from(
      { length: 60_000 },
      (_, i) => `  {"id": "drone-${i}", "url": "http://127.0.0.1:7100/d/drone-${i}"}`,
    );
    lines[40_000] = '  {"id": "drone-x" "url": "http://h"}';
    const { issues } = checkInventoryText(`{"drones": [\n${lines.join(',\n')}\n]}\n`, FILE);
    expect(issues).toEqual([
      {
        file: FILE,
        line: 40_002,
        column: 20,
        key: '',
        message: 'invalid JSON: expected "," or "}", and an inventory over 4,194,304 bytes (4 MiB) must be JSON',
      },
    ]);
  });

  it('refuses a YAML inventory over 4 MiB before parsing it, pointing to JSON', () => {
    const line = '  - { id: drone, url: "http://127.0.0.1:7100/d/drone", labels: { group: patrol, zone: zone-a } }\n';
    const { issues } = checkInventoryText(`drones:\n${line.repeat(50_000)}`, FILE);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 1, column: 1, key: '' });
    expect(issues[0]?.message).toMatch(
      /^the inventory is 4,850,008 bytes \(4\.6 MiB\) of YAML, over the limit of 4,194,304 bytes \(4 MiB\) for YAML; write it as JSON/,
    );
  });

  it('reads 100,000 drones as fleet sim writes them (about 10 MB) as JSON', () => {
    const drones = Array.from({ length: 100_000 }, (_, i) => ({
      id: `drone-${i + 1}`,
      url: `http://127.0.0.1:7100/d/drone-${i + 1}`,
      labels: { group: 'patrol', zone: `zone-${'abc'[i % 3]}` },
    }));
    const text = `{"drones": [\n${drones.map((drone) => `  ${JSON.stringify(drone)}`).join(',\n')}\n]}\n`;
    expect(Buffer.byteLength(text)).toBeLessThan((64 * 1024 * 1024) / 5);
    expect(parseInventoryText(text, FILE)).toHaveLength(100_000);
  });
});
