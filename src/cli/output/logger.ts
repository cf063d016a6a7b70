import pino, { type Level, type Logger } from 'pino';
import type { OutputFormat } from '../common.js';
import { LogFile } from './log-file.js';
import { humanDestination } from './log-text.js';

/** From the most severe to the most verbose, then `silent`. */
export const LOG_LEVELS: readonly (Level | 'silent')[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** What reaches stderr. */
  readonly level: Level | 'silent';
  /** An NDJSON log file that keeps `info` and up (or more, if `level` asks for more). */
  readonly file?: string;
  /** Lines on stderr: short lines for people (`text`) or pino NDJSON (`json`); the file is NDJSON always. @default 'json' */
  readonly format?: OutputFormat;
  /** Where stderr's lines, and the warning of a failing log file, go. @default process.stderr */
  readonly stderr?: { write(text: string): unknown };
}

/** The more verbose of the two: the later in LOG_LEVELS. */
function lower(a: Level | 'silent', b: Level): Level {
  if (a === 'silent') return b;
  return LOG_LEVELS.indexOf(a) > LOG_LEVELS.indexOf(b) ? a : b;
}

/** Logs to stderr at the chosen level and, for rollouts, to an NDJSON file in the state dir. */
export function createLogger(options: LoggerOptions): Logger {
  const stderr = options.stderr ?? process.stderr;
  const streams: pino.StreamEntry[] = [];
  if (options.level !== 'silent') {
    const stream =
      options.format === 'text'
        ? humanDestination(stderr)
        : options.stderr === undefined
          ? pino.destination({ dest: 2, sync: true })
          : { write: (line: string) => void stderr.write(line) };
    streams.push({ level: options.level, stream });
  }
  if (options.file) {
    streams.push({
      level: lower(options.level, 'info'),
      stream: new LogFile(options.file, (text) => void stderr.write(text)),
    });
  }
  if (streams.length === 0) return pino({ level: 'silent' });
  const level = options.file ? lower(options.level, 'info') : options.level;
  return pino({ level, base: { pid: process.pid } }, pino.multistream(streams));
}
