import pino, { type DestinationStream } from 'pino';

/** Bindings worth a person's attention, printed after the message as `(stage: pushing)`. */
const SHOWN = ['stage', 'key', 'file'] as const;

function text(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/**
 * One pino NDJSON line as a short line for people: `error: drone-7: rollback failed: …`, with the drone
 * first, the error's message when the log message leaves it out, and a few bindings after. A line that
 * is not JSON is passed through.
 */
export function humanLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof entry['level'] === 'number' ? (pino.levels.labels[entry['level']] ?? 'log') : 'log';
  const parts = [level];
  const drone = text(entry['drone']);
  if (drone !== undefined) parts.push(drone);
  let message = text(entry['msg']) ?? '';
  const err = entry['err'];
  const cause = typeof err === 'object' && err !== null ? text((err as Record<string, unknown>)['message']) : undefined;
  if (cause !== undefined && !message.includes(cause)) message = message === '' ? cause : `${message}: ${cause}`;
  parts.push(message);
  const shown = SHOWN.flatMap((name) => {
    const value = text(entry[name]);
    return value === undefined ? [] : [`${name}: ${value}`];
  });
  return `${parts.join(': ')}${shown.length > 0 ? ` (${shown.join(', ')})` : ''}\n`;
}

/** A pino destination that prints every line it gets as a human line on `out`. */
export function humanDestination(out: { write(text: string): unknown }): DestinationStream {
  return { write: (line: string) => void out.write(humanLogLine(line)) };
}
