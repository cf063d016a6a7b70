import type { AssertHeld } from '../../infra/critical-section.js';
import { readTextIfExists } from '../../infra/optional-files.js';
import { appendLines, completeLines } from './json-lines.js';
import { auditEventSchema, parseStored } from '../record-schemas.js';
import type { AuditEvent } from '../types.js';

/** The audit log: one JSON event per line, appended and fsynced per batch, never rewritten. */

/** Runs inside the caller's critical section on `file`, which keeps a second appender off the tail it repairs. */
export async function appendAuditEvents(
  file: string,
  events: readonly AuditEvent[],
  assertHeld: AssertHeld,
): Promise<void> {
  const lines = events.map((event) => `${JSON.stringify(event)}\n`).join('');
  assertHeld();
  await appendLines(file, lines);
}

/** Needs no section: appends only add whole lines, and a line still being written is left out. */
export async function readAuditEvents(file: string): Promise<AuditEvent[]> {
  const text = (await readTextIfExists(file)) ?? '';
  return completeLines(text).map((line) => parseStored(auditEventSchema, line.text, `${file}:${line.number}`));
}
