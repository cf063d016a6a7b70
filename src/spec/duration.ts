/** Durations are written `500ms`, `30s`, `2m` or `1h`: one whole number and one unit, nothing else. */
export const DURATION_PATTERN = /^(\d+)(ms|s|m|h)$/;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/**
 * The longest duration we accept. Node's timers overflow past 2^31-1 ms (about 24.8 days) and then
 * fire at once, so a typo like `2000h` must fail validation instead of skipping a bake.
 */
export const MAX_DURATION_MS = 24 * UNIT_MS.h;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text);
  if (match === null) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
}

/** Milliseconds the way a spec writes them, in the largest unit that is exact: `500ms`, `30s`, `2m`, `1h`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
