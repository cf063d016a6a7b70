/** How a received value reads in an error message: `"5 sec"`, `0`, `a list`, `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** An error message for a zod schema or check: `must be <what>, got <received>`. */
export function mustBe(what: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => `must be ${what}, got ${describeValue(issue.input)}`;
}
