import { pino, type Logger } from 'pino';

/** NDJSON on stderr: stdout belongs to the CLI's one JSON result. */
export function defaultLogger(name: string): Logger {
  return pino({ name, level: 'info' }, pino.destination(2));
}
