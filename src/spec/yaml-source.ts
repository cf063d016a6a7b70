import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { formatKeyPath, type KeyPath } from './key-path.js';
import type { SpecIssue } from './spec-error.js';

/**
 * Where to point for a problem at a path:
 * - `value`: the value itself (a wrong type, a bad duration);
 * - `key`: the key (an unknown key);
 * - `parent`: the key of the enclosing mapping (a missing key has no place of its own).
 */
export type PointAt = 'value' | 'key' | 'parent';

/** A problem found at a path of a YAML file, before it is pinned to a line and column. */
export interface PathProblem {
  readonly path: KeyPath;
  readonly message: string;
  readonly at?: PointAt;
}

/** A parsed YAML file that can turn paths into line:column positions. */
export interface YamlSource {
  readonly file: string;
  /** The plain data; undefined when the YAML did not parse. */
  readonly data: unknown;
  /** YAML syntax errors, already pinned. */
  readonly syntaxIssues: readonly SpecIssue[];
  pin(problem: PathProblem): SpecIssue;
}

interface Located {
  /** The deepest node found along the path and the key node that led to it. */
  readonly node: Node | undefined;
  readonly keyNode: Node | undefined;
  /** How many path segments were found. */
  readonly depth: number;
}

/** Parses YAML keeping node ranges, so every later error can name its line and column. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const position = (offset: number): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  const syntaxIssues: SpecIssue[] = doc.errors.map((error) => ({
    file,
    ...position(error.pos[0]),
    key: '',
    message: `invalid YAML: ${error.message}`,
  }));

  let data: unknown;
  if (syntaxIssues.length === 0) {
    try {
      data = doc.toJS();
    } catch (error) {
      // toJS throws on unresolved or excessive aliases, which parsing alone does not report.
      syntaxIssues.push({ file, line: 1, column: 1, key: '', message: `invalid YAML: ${(error as Error).message}` });
    }
  }

  const pin = (problem: PathProblem): SpecIssue => {
    const at = problem.at ?? 'value';
    const target = at === 'parent' ? problem.path.slice(0, -1) : problem.path;
    const found = locate(doc, target);
    const complete = found.depth === target.length;
    const preferKey = at !== 'value' || !complete || found.node?.range == null;
    const node = preferKey ? (found.keyNode ?? found.node) : found.node;
    const offset = node?.range?.[0];
    return {
      file,
      ...(offset === undefined ? { line: 1, column: 1 } : position(offset)),
      key: formatKeyPath(problem.path),
      message: problem.message,
    };
  };

  return { file, data, syntaxIssues, pin };
}

function locate(doc: Document, path: KeyPath): Located {
  let node: Node | undefined = asNode(doc, doc.contents);
  let keyNode: Node | undefined;
  let depth = 0;
  for (const segment of path) {
    let nextNode: Node | undefined;
    let nextKey: Node | undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      nextKey = asNode(doc, pair.key);
      nextNode = asNode(doc, pair.value);
    } else if (isSeq(node) && typeof segment === 'number') {
      nextNode = asNode(doc, node.items[segment]);
      if (nextNode === undefined) break;
    } else {
      break;
    }
    node = nextNode;
    keyNode = nextKey;
    depth += 1;
  }
  return { node, keyNode, depth };
}

function asNode(doc: Document, value: unknown): Node | undefined {
  if (isAlias(value)) return value.resolve(doc);
  if (isMap(value) || isSeq(value) || isScalar(value)) return value;
  return undefined;
}
