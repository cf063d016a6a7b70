import { describe, expect, it } from 'vitest';
import { ProgressDisplay } from '../../src/cli/output/progress.js';
import { count } from '../../src/wording.js';

describe('counts in what people read', () => {
  it('say "1 drone" and "3 drones"', () => {
    expect(count(1, 'drone')).toBe('1 drone');
    expect(count(0, 'drone')).toBe('0 drones');
    expect(count(3, 'analysis interval')).toBe('3 analysis intervals');
  });

  it('in the progress of a fleet operation on one drone', () => {
    const lines: string[] = [];
    const display = new ProgressDisplay({ stream: { write: (text: string) => lines.push(text) }, live: false });
    display.progress('pushing', 1, 1);
    display.progress('resuming', 2, 4);
    expect(lines).toEqual(['  pushing: 1/1 drone\n', '  resuming: 2/4 drones\n']);
  });
});
