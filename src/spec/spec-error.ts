import { RolloutError } from '../errors.js';
import { MAX_REPORTED_ISSUES } from './limits.js';

/** One problem found in a spec, a config or an inventory, pinned to a place in a file. */
export interface SpecIssue {
  /** The file as the user named it (relative to the working directory when possible). */
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** Dotted path of the key as written in YAML, e.g. `waves[1].percent`; empty for a whole-file problem. */
  readonly key: string;
  readonly message: string;
}

/** `rollouts/x.yaml:12:5 canary.drones: must be a positive integer, got 0` */
export function formatSpecIssue(issue: SpecIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.key === '' ? `${where} ${issue.message}` : `${where} ${issue.key}: ${issue.message}`;
}

/**
 * Every validation problem at once, so a user fixes a spec in one pass instead of one error per run;
 * past MAX_REPORTED_ISSUES they are counted, not listed, so a file of 50,000 mistakes stays readable.
 */
export class SpecError extends RolloutError {
  /** The first MAX_REPORTED_ISSUES issues, in the order given. */
  readonly issues: readonly SpecIssue[];
  /** How many issues were found but not listed. */
  readonly unlisted: number;

  /** `uncounted`: issues found but already left out of `issues` by whoever collected them. */
  constructor(issues: readonly SpecIssue[], uncounted = 0) {
    const listed = issues.slice(0, MAX_REPORTED_ISSUES);
    const unlisted = issues.length - listed.length + uncounted;
    const count = `${unlisted.toLocaleString('en-US')} more ${unlisted === 1 ? 'issue' : 'issues'}`;
    const more = unlisted === 0 ? [] : [`and ${count}`];
    super('E_SPEC_INVALID', [...listed.map(formatSpecIssue), ...more].join('\n'));
    this.name = 'SpecError';
    this.issues = listed;
    this.unlisted = unlisted;
  }
}

/** Reading order: by file as first met, then line, then column. */
export function sortIssues(issues: readonly SpecIssue[]): SpecIssue[] {
  const fileOrder = new Map<string, number>();
  for (const issue of issues) {
    if (!fileOrder.has(issue.file)) fileOrder.set(issue.file, fileOrder.size);
  }
  return [...issues].sort(
    (a, b) => (fileOrder.get(a.file) ?? 0) - (fileOrder.get(b.file) ?? 0) || a.line - b.line || a.column - b.column,
  );
}
