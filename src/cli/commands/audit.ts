import { verifyChain, type ChainVerdict } from '../../store/audit-chain.js';
import { count } from '../../wording.js';
import { openStateStore, printJson, type CommonOptions } from '../common.js';
import { mustGet } from './status.js';

export interface AuditOptions extends CommonOptions {
  readonly id: string;
}

/** What `verify` prints for a person; export says the same on stderr when the chain is broken. */
function describeVerdict(id: string, verdict: ChainVerdict): string {
  if (verdict.ok) return `audit log of ${id} intact: ${count(verdict.events, 'event')}`;
  const state = verdict.fault === 'unchained' ? 'cannot be verified' : 'is not intact';
  return `audit log of ${id} ${state}: ${verdict.problem}`;
}

/**
 * `rollout audit verify <id>`: checks the hash chain of a rollout's audit log and names the first line
 * that was changed, removed, inserted or moved. Exit 0 when intact, 1 when not (or when the log predates
 * the chain), 2 for an unknown id.
 */
export async function auditVerifyCommand(options: AuditOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    const record = await mustGet(store, options.id);
    const verdict = verifyChain(record.id, await store.readAuditLines(record.id));
    if (options.output === 'json') printJson({ id: record.id, ...verdict });
    else process.stdout.write(`${describeVerdict(record.id, verdict)}\n`);
    return verdict.ok ? 0 : 1;
  } finally {
    await store.close();
  }
}

/**
 * `rollout audit export <id>`: the audit log as stored, one event per line with its seq and prev, on
 * stdout for an archive elsewhere. Everything is printed, a broken chain too; then the exit code is 1 and
 * stderr says what is wrong, so `export > archive || alert` notices.
 */
export async function auditExportCommand(options: AuditOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    const record = await mustGet(store, options.id);
    const lines = await store.readAuditLines(record.id);
    if (lines.length > 0) process.stdout.write(`${lines.map((line) => line.text).join('\n')}\n`);
    const verdict = verifyChain(record.id, lines);
    if (verdict.ok) return 0;
    process.stderr.write(`${describeVerdict(record.id, verdict)}; exported as stored\n`);
    return 1;
  } finally {
    await store.close();
  }
}
