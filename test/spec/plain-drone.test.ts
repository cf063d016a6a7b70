import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { droneSchema, parseInventoryText, plainDrone } from '../../src/spec/inventory.js';

const id = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/),
  fc.constantFrom('', '-a', 'a b', 'a/b', '__proto__'),
  fc.string(),
  fc.integer(),
);
const url = fc.oneof(
  fc.constantFrom(
    'http://127.0.0.1:7100/d/drone-1',
    'https://drone.example/',
    'http://[::1]:8080',
    'ftp://host/x',
    'http://user:pass@host/',
    'http://',
    'not a url',
  ),
  fc.webUrl(),
  fc.string(),
  fc.constant(null),
);
const labels = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(fc.string(), fc.string()),
  fc.dictionary(fc.string(), fc.anything()),
  fc.constant(JSON.parse('{"__proto__": "x"}') as unknown),
  fc.array(fc.string()),
  fc.constant(null),
  fc.constantFrom<unknown>(new Map([['group', 'patrol']]), new Set(['patrol']), new Date(0), Object.create(null)),
);
const item = fc.oneof(
  fc.record({ id, url, labels }, { requiredKeys: [] }),
  fc.record({ id, url, labels, extra: fc.anything() }, { requiredKeys: ['id', 'url'] }),
  fc.anything(),
);

describe("the inventory's plain check of a drone", () => {
  it('passes no drone the schema refuses, and gives what the schema gives', () => {
    fc.assert(
      fc.property(item, (value) => {
        const plain = plainDrone(value);
        if (plain === undefined) return;
        const parsed = droneSchema.safeParse(value);
        expect(parsed.success).toBe(true);
        expect(plain.data).toEqual(parsed.data);
      }),
      { numRuns: 5_000 },
    );
  });

  it('takes the usual drones, with and without labels', () => {
    expect(plainDrone({ id: 'drone-1', url: 'http://127.0.0.1:7100/d/drone-1' })?.data).toEqual({
      id: 'drone-1',
      url: 'http://127.0.0.1:7100/d/drone-1',
      labels: {},
    });
    expect(plainDrone({ id: 'd', url: 'https://d.example', labels: { group: 'patrol' } })?.data.labels).toEqual({
      group: 'patrol',
    });
    expect(plainDrone({ id: 'd', url: 'https://d.example', labels: { bay: 3 } })).toBeUndefined();
  });

  it("refuses labels that are not a mapping, as YAML's !!omap, !!set and !!timestamp make them", () => {
    for (const tagged of ['!!omap [ { group: patrol } ]', '!!set { patrol }', '!!timestamp 2001-12-14']) {
      const text = `drones:\n  - id: d-1\n    url: http://h/\n    labels: ${tagged}\n`;
      expect(() => parseInventoryText(text, 'fleet.yaml'), tagged).toThrow(
        /^fleet\.yaml:4:\d+ drones\[0\]\.labels: must be a mapping of label names to values/,
      );
    }
  });

  it('leaves a bad drone to the schema, whose message names the key', () => {
    const text = JSON.stringify({
      drones: [
        { id: 'd-1', url: 'http://h/' },
        { id: 'd-2', url: 'ftp://h/' },
      ],
    });
    expect(() => parseInventoryText(text, 'fleet.json')).toThrow(
      /^fleet\.json:1:\d+ drones\[1\]\.url: must be an http:\/\/ or https:\/\/ URL/,
    );
  });
});
