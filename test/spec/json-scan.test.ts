import { describe, expect, it } from 'vitest';
import { PathTree, scanJson } from '../../src/spec/json-scan.js';
import { pinJsonProblems, positionsIn } from '../../src/spec/json-positions.js';

describe('scanJson', () => {
  it('accepts what JSON.parse accepts', () => {
    for (const text of [
      '{}',
      '[]',
      '"a"',
      '-1.5e+3',
      'true',
      'null',
      ' {"a": [1, {"b": "\\u00e9\\n"}], "c": false}\n',
      '\uFEFF{"a": 1}',
    ]) {
      expect(scanJson(text).error, text).toBeUndefined();
    }
  });

  it('finds the first syntax error and where it is', () => {
    expect(scanJson('{"a": 1,}').error).toEqual({ offset: 8, message: 'expected a key in double quotes' });
    expect(scanJson('{"a" 1}').error).toEqual({ offset: 5, message: 'expected ":" after a key' });
    expect(scanJson('[1 2]').error).toEqual({ offset: 3, message: 'expected "," or "]"' });
    expect(scanJson('{"a": "b\\x"}').error).toEqual({ offset: 8, message: 'invalid escape in a string' });
    expect(scanJson('{"a": "b').error).toEqual({ offset: 6, message: 'unterminated string' });
    expect(scanJson('{"a": 1} x').error).toEqual({ offset: 9, message: 'unexpected text after the end' });
    expect(scanJson('{"a": tru}').error).toEqual({ offset: 6, message: 'expected a value' });
  });

  it('refuses deep nesting without recursing', () => {
    const deep = '['.repeat(500_000) + ']'.repeat(500_000);
    expect(scanJson(deep).error?.message).toBe('nested deeper than 64 levels');
  });

  it('finds keys repeated within one object, escaped or not, and not across objects', () => {
    expect(scanJson('{"a": {"b": 1, "\\u0062": 2}, "c": [{"d": 1}, {"d": 2}]}').repeated).toEqual([
      { path: ['a', 'b'], offset: 15, firstOffset: 7 },
    ]);
  });

  it('notes where wanted keys and values start', () => {
    const wanted = new PathTree();
    wanted.add(['drones', 1, 'url']);
    scanJson('{"drones": [{"url": 1}, {"id": "b", "url": "x"}]}', wanted);
    const url = wanted.children.get('drones')?.children.get('1')?.children.get('url');
    expect([url?.keyOffset, url?.valueOffset]).toEqual([36, 43]);
  });
});

describe('pinJsonProblems', () => {
  const text = '{"drones": [\n  {"id": "a", "url": "ftp://h", "color": 1},\n  {"id": "b"}\n]}\n';

  it('points at the value, the key, or the key of the mapping, as YAML issues do', () => {
    const issues = pinJsonProblems(text, 'fleet.json', [
      { path: ['drones', 0, 'url'], message: 'bad url' },
      { path: ['drones', 0, 'color'], at: 'key', message: 'unknown key' },
      { path: ['drones', 1, 'url'], at: 'parent', message: 'is required' },
    ]);
    expect(issues.map(({ line, column, key }) => `${line}:${column} ${key}`)).toEqual([
      '2:22 drones[0].url',
      '2:33 drones[0].color',
      '3:3 drones[1].url',
    ]);
  });

  it('turns offsets into lines and columns', () => {
    const position = positionsIn('ab\ncd\n\nef');
    expect([0, 1, 3, 6, 7, 8].map((offset) => position(offset))).toEqual([
      { line: 1, column: 1 },
      { line: 1, column: 2 },
      { line: 2, column: 1 },
      { line: 3, column: 1 },
      { line: 4, column: 1 },
      { line: 4, column: 2 },
    ]);
  });
});
