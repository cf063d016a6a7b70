import { z } from 'zod';
import { describeValue } from './describe-value.js';
import { closestKey } from './did-you-mean.js';
import { valueAt, type KeyPath } from './key-path.js';
import type { PathProblem } from './yaml-source.js';

/** Runs a schema over parsed YAML and returns either its output or every problem it found, by path. */
export function checkWithSchema<S extends z.ZodType>(
  schema: S,
  data: unknown,
): { readonly output: z.output<S> } | { readonly problems: readonly PathProblem[] } {
  const result = schema.safeParse(data, { error: fallbackMessage });
  if (result.success) return { output: result.data };
  const problems = result.error.issues.flatMap((issue) => toProblems(schema, data, issue));
  return { problems: dedupe(problems) };
}

function toProblems(schema: z.ZodType, data: unknown, issue: z.core.$ZodIssue): PathProblem[] {
  const path = issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, path);
    return issue.keys.map((key) => {
      const suggestion = closestKey(key, known);
      return {
        path: [...path, key],
        at: 'key' as const,
        message: suggestion === undefined ? 'unknown key' : `unknown key; did you mean ${suggestion}?`,
      };
    });
  }
  // A missing key is pinned to its parent; a check's own words about it (custom) are kept.
  if (
    issue.code !== 'custom' &&
    path.length > 0 &&
    valueAt(data, path) === undefined &&
    valueAt(data, path.slice(0, -1)) !== undefined
  ) {
    return [{ path, at: 'parent', message: 'is required' }];
  }
  return [{ path, message: issue.message }];
}

/** Messages for issues whose schema did not set its own (containers, mostly). */
function fallbackMessage(issue: z.core.$ZodRawIssue): string {
  if (issue.code === 'invalid_type') {
    const expected = EXPECTED[issue.expected] ?? `a ${issue.expected}`;
    return `must be ${expected}, got ${describeValue(issue.input)}`;
  }
  return `is not valid, got ${describeValue(issue.input)}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  record: 'a mapping',
};

/** One line per path and message: several checks of one leaf can fail on the same value. */
function dedupe(problems: readonly PathProblem[]): PathProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const id = `${problem.path.join('\u0000')}\u0001${problem.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** The keys the schema allows at `path`, for "did you mean" hints. */
function knownKeys(schema: z.ZodType, path: KeyPath): string[] {
  let current: z.core.$ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (current instanceof z.ZodObject && typeof segment === 'string') {
      const shape: Record<string, z.core.$ZodType> = current.shape;
      const next = shape[segment];
      current = next === undefined ? undefined : unwrap(next);
    } else if (current instanceof z.ZodArray) {
      current = unwrap(current.element);
    } else {
      return [];
    }
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

/** Looks through optional, default and transform wrappers to the shape underneath. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodNullable
  ) {
    return unwrap(schema.unwrap());
  }
  if (schema instanceof z.ZodPipe) return unwrap(schema.in);
  return schema;
}
