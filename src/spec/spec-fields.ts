import { z } from 'zod';
import { describeValue, mustBe } from './describe-value.js';
import { DURATION_PATTERN, MAX_DURATION_MS, parseDuration } from './duration.js';
import type { Threshold } from './types.js';

/*
 * The leaf types of the spec and the inventory. Each one carries its own message so an error says what
 * was expected and what was received. Input forms (strings like `30s` and `25%`) are what the JSON
 * Schema shows; outputs are milliseconds, fractions and thresholds.
 */

const durationMessage = mustBe('a duration like 500ms, 30s, 2m or 1h');

function durationField(options: { readonly positive: boolean }) {
  return z
    .string({ error: durationMessage })
    .regex(DURATION_PATTERN, { error: durationMessage })
    .transform((text, ctx) => {
      const ms = parseDuration(text) ?? Number.NaN;
      if (ms > MAX_DURATION_MS) {
        ctx.addIssue({
          code: 'custom',
          input: text,
          continue: true,
          message: `must be at most 24h, got ${describeValue(text)}`,
        });
      } else if (options.positive && ms === 0) {
        ctx.addIssue({
          code: 'custom',
          input: text,
          continue: true,
          message: `must be longer than 0, got ${describeValue(text)}`,
        });
      }
      return ms;
    });
}

/** A duration that may be zero (bakes, lock wait). */
export const duration = durationField({ positive: false });
/** A duration that must be longer than zero (timeouts, TTLs, intervals). */
export const positiveDuration = durationField({ positive: true });

const positiveIntMessage = mustBe('a positive integer');
export const positiveInt = z.int({ error: positiveIntMessage }).min(1, { error: positiveIntMessage });

const countMessage = mustBe('an integer of 0 or more');
export const count = z.int({ error: countMessage }).min(0, { error: countMessage });

const percentMessage = mustBe('a number greater than 0 and at most 100');
/** A share of the targeted drones, as a plain number: `percent: 25`. */
export const percent = z
  .number({ error: percentMessage })
  .gt(0, { error: percentMessage })
  .lte(100, { error: percentMessage });

export const PERCENT_TEXT_PATTERN = /^\d+(\.\d+)?%$/;

/** A relative limit written `25%`, as a fraction (0.25). `atMost` caps it, in percent. */
export function percentText(atMost?: number) {
  const message = mustBe(
    atMost === undefined ? 'a percentage like "25%"' : `a percentage like "25%", at most "${atMost}%"`,
  );
  return z
    .string({ error: message })
    .regex(PERCENT_TEXT_PATTERN, { error: message })
    .transform((text, ctx) => {
      const value = Number(text.slice(0, -1));
      if (atMost !== undefined && value > atMost)
        ctx.addIssue({ code: 'custom', input: text, message: message({ input: text }) });
      return value / 100;
    });
}

const confidenceMessage = mustBe('a confidence level above 0 and below 1, like 0.98');
/** The confidence level of a statistical comparison: 0.98 flags shifts with a p-value below 0.02. */
export const confidenceLevel = z
  .number({ error: confidenceMessage })
  .gt(0, { error: confidenceMessage })
  .lt(1, { error: confidenceMessage });

const scoreMessage = mustBe('a score from 0 to 100');
/** An interval score: the weighted share of passing metrics, in percent. */
export const score = z
  .number({ error: scoreMessage })
  .gte(0, { error: scoreMessage })
  .lte(100, { error: scoreMessage });

const weightMessage = mustBe('a number greater than 0');
/** A metric's share of its interval's score. */
export const weight = z.number({ error: weightMessage }).gt(0, { error: weightMessage });

const thresholdMessage = mustBe('a count like 3 or a percentage like "10%"');
/** An abort limit: an absolute number of drones, or a share of the targeted drones. */
export const threshold = z
  .union(
    [
      z.int({ error: thresholdMessage }).min(0, { error: thresholdMessage }),
      z.string({ error: thresholdMessage }).regex(PERCENT_TEXT_PATTERN, { error: thresholdMessage }),
    ],
    { error: thresholdMessage },
  )
  .transform((value, ctx): Threshold => {
    if (typeof value === 'number') return { kind: 'count', value };
    const share = Number(value.slice(0, -1));
    if (share > 100) ctx.addIssue({ code: 'custom', input: value, message: thresholdMessage({ input: value }) });
    return { kind: 'percent', value: share };
  });

/** Label names to values, as in `{ group: patrol }`; numbers must be quoted so `"3"` and `3` never differ. */
export const labels = z.record(
  z.string(),
  z.string({ error: (issue) => `must be a string (quote it), got ${describeValue(issue.input)}` }),
  { error: mustBe('a mapping of label names to values') },
);

/** A string that must not be empty. */
export function text(what: string) {
  const message = mustBe(what);
  return z.string({ error: message }).min(1, { error: message });
}
