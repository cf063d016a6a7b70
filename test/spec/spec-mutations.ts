import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { ROOT } from '../helpers/cli.js';

/** The shipped specs: what the mutations start from. */
export const SHIPPED_SPECS = ['aim-sensitivity.yaml', 'aim-sensitivity-bad.yaml', 'aim-sensitivity-hot.yaml'] as const;

/** Fixed, so a failure replays: `fc.assert(..., { seed: FUZZ_SEED })` reports the path to shrink from. */
export const FUZZ_SEED = 20_261_201;

/**
 * Copies rollouts/ (specs, configs, fleet.yaml) into `dir`, so mutated specs find their files beside them.
 * The fleet is rewritten as JSON (the same drones; JSON is YAML too): read once per mutation, it would
 * otherwise take most of the time.
 */
export async function copyRollouts(dir: string): Promise<Record<string, string>> {
  await cp(join(ROOT, 'rollouts'), dir, { recursive: true });
  const fleet = join(dir, 'fleet.yaml');
  await writeFile(fleet, JSON.stringify(parse(await readFile(fleet, 'utf8'))));
  const texts: Record<string, string> = {};
  for (const name of SHIPPED_SPECS) texts[name] = await readFile(join(dir, name), 'utf8');
  return texts;
}

type Mutation = (lines: string[]) => string[];

const HUGE_NUMBERS = [
  '1e309',
  '-1e309',
  '99999999999999999999999',
  '-0',
  '0x7fffffff',
  '.nan',
  '.inf',
  '1e-400',
  '2.5',
  '-3',
];
const ODD_TEXT = [
  '\u0000',
  '\uFEFF',
  '\u202E',
  '😀',
  '\uD800',
  'ſ',
  'İ',
  '\t',
  '\r',
  '"',
  "'",
  '&a',
  '*a',
  '!!binary',
  '<<',
  '? ',
  '- ',
  '{',
  '}',
  '[',
  ']',
  ':',
  '#',
  '%YAML 1.1',
  '---',
  '...',
];

const lineIndex = (lines: readonly string[], at: number) => at % Math.max(lines.length, 1);

/** One change to a spec's lines, of the kinds real typos and hostile inputs make. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // A byte flipped to an arbitrary character.
  fc
    .tuple(fc.nat(), fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
    .map(([at, column, char]): Mutation => (lines) => {
      const i = lineIndex(lines, at);
      const line = lines[i] ?? '';
      const c = column % (line.length + 1);
      return lines.with(i, line.slice(0, c) + char + line.slice(c + 1));
    }),
  // A line deleted, or duplicated.
  fc.nat().map(
    (at): Mutation =>
      (lines) =>
        lines.filter((_, i) => i !== lineIndex(lines, at)),
  ),
  fc.nat().map(
    (at): Mutation =>
      (lines) =>
        lines.flatMap((line, i) => (i === lineIndex(lines, at) ? [line, line] : [line])),
  ),
  // Two lines' values swapped.
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]): Mutation => (lines) => {
    const [i, j] = [lineIndex(lines, a), lineIndex(lines, b)];
    const split = (line: string) => /^(\s*[^:#]*:\s*)(.*)$/.exec(line);
    const [x, y] = [split(lines[i] ?? ''), split(lines[j] ?? '')];
    if (!x || !y) return lines;
    return lines.with(i, `${x[1]}${y[2]}`).with(j, `${y[1]}${x[2]}`);
  }),
  // A value replaced by a huge, negative or odd number, or odd text.
  fc.tuple(fc.nat(), fc.constantFrom(...HUGE_NUMBERS, ...ODD_TEXT)).map(([at, value]): Mutation => (lines) => {
    const i = lineIndex(lines, at);
    return lines.with(i, (lines[i] ?? '').replace(/:\s*(\S.*)?$/, `: ${value}`));
  }),
  // Unicode inserted anywhere.
  fc
    .tuple(fc.nat(), fc.nat(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }))
    .map(([at, column, text]): Mutation => (lines) => {
      const i = lineIndex(lines, at);
      const line = lines[i] ?? '';
      const c = column % (line.length + 1);
      return lines.with(i, line.slice(0, c) + text + line.slice(c));
    }),
  // A value nested deep, in flow or block style.
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1_000 }), fc.boolean()).map(([at, depth, flow]): Mutation => (lines) => {
    const i = lineIndex(lines, at);
    const nested = flow
      ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
      : `\n${Array.from({ length: Math.min(depth, 100) }, (_, d) => `${' '.repeat(d + 1)}- `).join('\n')}`;
    return lines.with(i, (lines[i] ?? '').replace(/:\s*(\S.*)?$/, `: ${nested}`));
  }),
  // Many keys, or a long value.
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 500 })).map(([at, count]): Mutation => (lines) => {
    const i = lineIndex(lines, at);
    return [...lines.slice(0, i), ...Array.from({ length: count }, (_, k) => `k${k}: ${k}`), ...lines.slice(i)];
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 20_000 })).map(([at, length]): Mutation => (lines) => {
    const i = lineIndex(lines, at);
    return lines.with(i, (lines[i] ?? '').replace(/:\s*(\S.*)?$/, `: ${'x'.repeat(length)}`));
  }),
);

/** A shipped spec and one to three mutations of it, as text. */
export function mutatedSpec(
  texts: Readonly<Record<string, string>>,
): fc.Arbitrary<{ readonly base: string; readonly text: string }> {
  return fc
    .tuple(fc.constantFrom(...SHIPPED_SPECS), fc.array(mutation, { minLength: 1, maxLength: 3 }))
    .map(([base, mutations]) => ({
      base,
      text: mutations.reduce((lines, mutate) => mutate(lines), (texts[base] ?? '').split('\n')).join('\n'),
    }));
}
