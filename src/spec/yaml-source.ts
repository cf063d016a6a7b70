import {
  Composer,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  Parser,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import { formatKeyPath, type KeyPath } from './key-path.js';
import { MAX_NESTING_DEPTH } from './limits.js';
import { sortIssues, type SpecIssue } from './spec-error.js';
import { repeatedKeys, tooDeepAt } from './yaml-tree.js';

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
  readonly pin: (problem: PathProblem) => SpecIssue;
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
  const position = (offset: number): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const syntaxIssue = (offset: number, message: string): SpecIssue => ({
    file,
    ...position(offset),
    key: '',
    message: `invalid YAML: ${message}`,
  });

  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const deepAt = tooDeepAt(tokens, MAX_NESTING_DEPTH);
  if (deepAt !== undefined) {
    const issue = syntaxIssue(deepAt, `nested deeper than ${MAX_NESTING_DEPTH} levels`);
    const pin = (problem: PathProblem): SpecIssue => ({
      ...issue,
      key: formatKeyPath(problem.path),
      message: problem.message,
    });
    return { file, data: undefined, syntaxIssues: [issue], pin };
  }
  // Repeated keys are found by repeatedKeys() in linear time; the library's own check is quadratic.
  const [doc, ...others] = new Composer({ uniqueKeys: false }).compose(tokens, true, text.length);
  if (doc === undefined) throw new Error('the YAML composer returned no document');
  const syntaxIssues: SpecIssue[] = doc.errors.map((error) => syntaxIssue(error.pos[0], error.message));
  const second = others[0];
  if (second !== undefined) {
    syntaxIssues.push(syntaxIssue(second.range[0], 'holds more than one document; remove the second "---"'));
  }
  const pin = pinner(doc, file, position);
  if (syntaxIssues.length === 0) {
    for (const { path, node, first } of repeatedKeys(doc.contents)) {
      const firstLine = position(first.range?.[0] ?? 0).line;
      const message = `duplicate key (also on line ${firstLine})`;
      syntaxIssues.push({ file, ...position(node.range?.[0] ?? 0), key: formatKeyPath(path), message });
    }
  }

  let data: unknown;
  if (syntaxIssues.length === 0) {
    try {
      data = doc.toJS();
    } catch (error) {
      // toJS throws on unresolved or excessive aliases, which parsing alone does not report.
      syntaxIssues.push(syntaxIssue(0, (error as Error).message));
    }
  }
  return { file, data, syntaxIssues: sortIssues(syntaxIssues), pin };
}

/** Turns path problems into issues at the line and column of the node the path leads to. */
function pinner(doc: Document, file: string, position: (offset: number) => { line: number; column: number }) {
  const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();
  const pairOf: PairOf = (map, segment) => {
    let index = pairIndex.get(map);
    if (index === undefined) {
      // Built once per mapping: looking keys up one by one would make pinning n issues cost n × keys.
      index = new Map();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key !== undefined && !index.has(key)) index.set(key, pair);
      }
      pairIndex.set(map, index);
    }
    return index.get(String(segment));
  };
  return (problem: PathProblem): SpecIssue => {
    const at = problem.at ?? 'value';
    const target = at === 'parent' ? problem.path.slice(0, -1) : problem.path;
    const found = locate(doc, target, pairOf);
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
}

type PairOf = (map: YAMLMap, segment: string | number) => Pair | undefined;

function locate(doc: Document, path: KeyPath, pairOf: PairOf): Located {
  let node: Node | undefined = asNode(doc, doc.contents);
  let keyNode: Node | undefined;
  let depth = 0;
  for (const segment of path) {
    let nextNode: Node | undefined;
    let nextKey: Node | undefined;
    if (isMap(node)) {
      const pair = pairOf(node, segment);
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
