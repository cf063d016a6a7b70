import { CST, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { KeyPath } from './key-path.js';

/**
 * The offset of the first token nested deeper than `maxDepth` collections, or undefined. Walked without
 * recursion over the parser's tokens, before the composer (which recurses per level) ever sees them:
 * a deep `[[[[…` otherwise overflows the stack, at worst inside V8 where it cannot be caught.
 */
export function tooDeepAt(tokens: readonly CST.Token[], maxDepth: number): number | undefined {
  const pending: { readonly token: CST.Token; readonly depth: number }[] = tokens.map((token) => ({ token, depth: 0 }));
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.depth > maxDepth) return next.token.offset;
    for (const child of childTokens(next.token)) pending.push({ token: child, depth: next.depth + 1 });
  }
  return undefined;
}

function childTokens(token: CST.Token): CST.Token[] {
  if (token.type === 'document') return token.value === undefined ? [] : [token.value];
  if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') return [];
  const children: CST.Token[] = [];
  for (const item of token.items) {
    if (item.key) children.push(item.key);
    if (item.value) children.push(item.value);
  }
  return children;
}

/** A key given twice in one mapping: where the second one is, and the first. */
export interface RepeatedKey {
  readonly path: KeyPath;
  readonly node: Node;
  readonly first: Node;
}

/**
 * Every key repeated within one mapping, in one pass with a map per mapping. The YAML library's own
 * check compares each key with every earlier one, so 20,000 keys cost 200 million comparisons.
 */
export function repeatedKeys(root: unknown): RepeatedKey[] {
  const repeated: RepeatedKey[] = [];
  const pending: { readonly node: unknown; readonly path: KeyPath }[] = [{ node: root, path: [] }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node, path } = next;
    if (isMap(node)) {
      const seen = new Map<unknown, Node>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const first = seen.get(pair.key.value);
          const keyPath = [...path, String(pair.key.value)];
          if (first === undefined) seen.set(pair.key.value, pair.key);
          else repeated.push({ path: keyPath, node: pair.key, first });
          pending.push({ node: pair.value, path: keyPath });
        } else {
          pending.push({ node: pair.key, path }, { node: pair.value, path });
        }
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => pending.push({ node: item, path: [...path, index] }));
    }
  }
  return repeated;
}
