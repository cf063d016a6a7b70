import { RolloutError } from '../errors.js';

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

/** Every validation problem at once, so a user fixes a spec in one pass instead of one error per run. */
export class SpecError extends RolloutError {
  readonly issues: readonly SpecIssue[];

  constructor(issues: readonly SpecIssue[]) {
    super('E_SPEC_INVALID', issues.map(formatSpecIssue).join('\n'));
    this.name = 'SpecError';
    this.issues = issues;
  }
}

/** Reading order: by file as first met, then line, then column. */
export function sortIssues(issues: readonly SpecIssue[]): SpecIssue[] {
  const fileOrder = new Map<string, number>();
  for (const issue of issues) {
    if (!fileOrder.has(issue.file)) fileOrder.set(issue.file, fileOrder.size);
  }
  return [...issues].sort(
    (a, b) =>
      (fileOrder.get(a.file) ?? 0) - (fileOrder.get(b.file) ?? 0) ||
      a.line - b.line ||
      a.column - b.column,
  );
}
