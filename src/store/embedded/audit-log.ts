import type { AssertHeld } from '../../infra/critical-section.js';
import { readTextIfExists } from '../../infra/optional-files.js';
import { chainEvents, chainStart, headAfter } from '../audit-chain.js';
import { appendLines, completeLines } from './json-lines.js';
import { auditEventSchema, parseStored } from '../record-schemas.js';
import { corruptFile } from '../store-errors.js';
import type { AuditEvent, AuditLine } from '../types.js';

/**
 * The audit log: one JSON event per line, appended and fsynced per batch, never rewritten. Each event is
 * chained to the one before it (audit-chain.ts), going on from the file's last line, whoever wrote it.
 */

/** Runs inside the caller's critical section on `file`, which keeps a second appender off the tail it reads and repairs. */
export async function appendAuditEvents(
  file: string,
  id: string,
  events: readonly AuditEvent[],
  assertHeld: AssertHeld,
): Promise<void> {
  await appendLines(file, async (target) => {
    const last = await target.lastLine();
    const head =
      last === undefined ? chainStart(id) : await headAfter(last, async () => (await target.completeLines()).length);
    if ('problem' in head) {
      throw corruptFile(file, `${head.problem}; audit events cannot be appended after it`);
    }
    assertHeld();
    return chainEvents(events, head).lines.join('');
  });
}

/** Needs no section: appends only add whole lines, and a line still being written is left out. */
export async function readAuditEvents(file: string): Promise<AuditEvent[]> {
  return (await readAuditLines(file)).map((line) => parseStored(auditEventSchema, line.text, `${file}:${line.number}`));
}

/** The complete, non-blank lines, unparsed, numbered as in the file. */
export async function readAuditLines(file: string): Promise<AuditLine[]> {
  return completeLines((await readTextIfExists(file)) ?? '');
}
