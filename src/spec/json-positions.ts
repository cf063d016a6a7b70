import { formatKeyPath } from './key-path.js';
import { PathTree, scanJson, type RepeatedJsonKey } from './json-scan.js';
import type { SpecIssue } from './spec-error.js';
import type { PathProblem } from './yaml-source.js';

/** Line and column (1-based) of offsets in `text`, from one pass over its line breaks. */
export function positionsIn(text: string): (offset: number) => { line: number; column: number } {
  const lineStarts = [0];
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lineStarts.push(at + 1);
  return (offset) => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((lineStarts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - (lineStarts[low] ?? 0) + 1 };
  };
}

/**
 * Pins problems found on parsed JSON to the lines and columns of JSON text, with one scan for all of
 * them, pointing where YamlSource.pin would: the value, its key, or the key of its mapping.
 */
export function pinJsonProblems(text: string, file: string, problems: readonly PathProblem[]): SpecIssue[] {
  const wanted = new PathTree();
  const targets = problems.map((problem) => (problem.at === 'parent' ? problem.path.slice(0, -1) : problem.path));
  for (const target of targets) wanted.add(target);
  scanJson(text, wanted);
  const position = positionsIn(text);
  return problems.map((problem, index) => {
    const target = targets[index] ?? [];
    let found = wanted;
    let depth = 0;
    for (const segment of target) {
      const child = found.children.get(String(segment));
      if (child?.valueOffset === undefined) break;
      found = child;
      depth += 1;
    }
    const preferKey = (problem.at ?? 'value') !== 'value' || depth < target.length;
    const offset = (preferKey ? found.keyOffset : undefined) ?? found.valueOffset ?? 0;
    return { file, ...position(offset), key: formatKeyPath(problem.path), message: problem.message };
  });
}

/** The issue for a key given twice in one JSON object. */
export function repeatedKeyIssue(
  file: string,
  position: (offset: number) => { line: number; column: number },
  repeated: RepeatedJsonKey,
): SpecIssue {
  const message = `duplicate key (also on line ${position(repeated.firstOffset).line})`;
  return { file, ...position(repeated.offset), key: formatKeyPath(repeated.path), message };
}
