import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimer } from '../../src/agent/deadline-timer.js';

describe('DeadlineTimer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires at a deadline the wall clock reached by jumping forward, within 30 s of the jump', () => {
    let wall = Date.UTC(2026, 0, 1);
    const fired: number[] = [];
    const timer = new DeadlineTimer(
      () => wall,
      () => fired.push(wall),
    );
    timer.schedule(wall + 3_600_000);

    // NTP sets the clock an hour forward; no time passes for the timers
    wall += 3_600_000;
    vi.advanceTimersByTime(29_999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([wall]);
    timer.close();
  });

  it('does not fire early when the wall clock is set back: it checks again', () => {
    let wall = Date.UTC(2026, 0, 1);
    let fired = 0;
    const timer = new DeadlineTimer(
      () => wall,
      () => (fired += 1),
    );
    timer.schedule(wall + 10_000);
    wall -= 60_000;
    vi.advanceTimersByTime(10_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(30_000);
    expect(fired).toBe(0);
    wall += 70_000;
    vi.advanceTimersByTime(30_000);
    expect(fired).toBe(1);
    timer.close();
  });
});
