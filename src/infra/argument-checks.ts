/**
 * Argument checks: bad input fails at once and says what it received, e.g.
 * ``Expected `port` to be an integer from 0 to 65535, got `70000` (number)``.
 */

/** How a message shows the value it got. */
type Shown = (value: unknown) => string;

/** The backends' checks show a string as is: an empty `key` reads ``got `` (string)``. */
const asIs: Shown = (value) => `\`${String(value)}\` (${typeof value})`;

/** The agent's and the simulator's option checks quote a string: an empty `id` reads ``got `""` (string)``. */
const quoted: Shown = (value) => asIs(typeof value === 'string' ? JSON.stringify(value) : value);

/** The TypeError for `name` not being `expected` (e.g. `a function`); the value shows as is. */
export function argumentError(name: string, expected: string, value: unknown): TypeError {
  return wrong(name, expected, value, asIs);
}

export function assertNonEmptyString(name: string, value: unknown): asserts value is string {
  checkNonEmptyString(name, value, asIs);
}

export function assertPositiveInteger(name: string, value: unknown): asserts value is number {
  checkInteger(name, value, 1, Number.MAX_SAFE_INTEGER, asIs);
}

export function assertNonNegativeInteger(name: string, value: unknown): asserts value is number {
  checkInteger(name, value, 0, Number.MAX_SAFE_INTEGER, asIs);
}

/** For options set by hand (agent, simulator), with a string received shown quoted. */
export function expectInteger(name: string, value: number, min: number, max: number = Number.MAX_SAFE_INTEGER): void {
  checkInteger(name, value, min, max, quoted);
}

/** For options set by hand (agent, simulator), with a string received shown quoted. */
export function expectNonEmptyString(name: string, value: string): void {
  checkNonEmptyString(name, value, quoted);
}

function checkNonEmptyString(name: string, value: unknown, shown: Shown): asserts value is string {
  if (typeof value !== 'string' || value === '') throw wrong(name, 'a non-empty string', value, shown);
}

function checkInteger(name: string, value: unknown, min: number, max: number, shown: Shown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `from ${min} and up` : `from ${min} to ${max}`;
    throw wrong(name, `an integer ${range}`, value, shown);
  }
}

function wrong(name: string, expected: string, value: unknown, shown: Shown): TypeError {
  return new TypeError(`Expected \`${name}\` to be ${expected}, got ${shown(value)}`);
}
