/** Bad options fail at once and say what they received, e.g. ``Expected `port` to be an integer from 0 to 65535, got `70000` (number)``. */

export function expectInteger(name: string, value: number, min: number, max: number = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `from ${min} and up` : `from ${min} to ${max}`;
    throw new TypeError(`Expected \`${name}\` to be an integer ${range}, got ${shown(value)}`);
  }
}

export function expectNonEmptyString(name: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${shown(value)}`);
}

function shown(value: unknown): string {
  return `\`${typeof value === 'string' ? JSON.stringify(value) : String(value)}\` (${typeof value})`;
}
