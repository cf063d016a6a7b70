import { describe, expect, it } from 'vitest';
import { count } from '../../src/wording.js';
import { formatDuration, parseDuration } from '../../src/spec/duration.js';
import { formatBytes } from '../../src/spec/limits.js';
import { SpecError } from '../../src/spec/spec-error.js';

describe('wording', () => {
  it('writes durations the way a spec does, in the largest exact unit', () => {
    expect([0, 500, 1_000, 1_500, 30_000, 90_000, 120_000, 3_600_000, 5_400_000].map(formatDuration)).toEqual([
      '0s',
      '500ms',
      '1s',
      '1500ms',
      '30s',
      '90s',
      '2m',
      '1h',
      '90m',
    ]);
    for (const text of ['500ms', '30s', '2m', '1h', '0s']) expect(formatDuration(parseDuration(text) ?? -1)).toBe(text);
  });

  it('counts nouns in the right number', () => {
    expect([count(1, 'drone'), count(0, 'drone'), count(2, 'drone')]).toEqual(['1 drone', '0 drones', '2 drones']);
    expect(count(1, 'failed push', 'failed pushes')).toBe('1 failed push');
  });

  it('writes sizes in bytes, with MiB when large', () => {
    expect([formatBytes(812), formatBytes(1_048_576), formatBytes(52_428_800), formatBytes(2_000_000)]).toEqual([
      '812 bytes',
      '1,048,576 bytes (1 MiB)',
      '52,428,800 bytes (50 MiB)',
      '2,000,000 bytes (1.9 MiB)',
    ]);
  });

  it('a SpecError lists at most 50 issues, then one line counting the rest', () => {
    const issues = Array.from({ length: 60 }, (_, i) => ({
      file: 'x.yaml',
      line: i + 1,
      column: 1,
      key: `k${i}`,
      message: 'unknown key',
    }));
    const error = new SpecError(issues, 4_920);
    expect(error.issues).toHaveLength(50);
    expect(error.unlisted).toBe(4_930);
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(51);
    expect(lines.at(-1)).toBe('and 4,930 more issues');
    expect(new SpecError(issues.slice(0, 51)).message.split('\n').at(-1)).toBe('and 1 more issue');
    expect(new SpecError(issues.slice(0, 50)).unlisted).toBe(0);
  });
});
