import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Level, type Logger } from 'pino';

export const LOG_LEVELS: readonly (Level | 'silent')[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** What reaches stderr. */
  readonly level: Level | 'silent';
  /** An NDJSON log file that keeps `info` and up (or more, if `level` asks for more). */
  readonly file?: string;
}

function lower(a: Level | 'silent', b: Level): Level {
  if (a === 'silent') return b;
  return pino.levels.values[a]! < pino.levels.values[b]! ? a : b;
}

/** pino NDJSON to stderr at the chosen level and, for rollouts, to a file in the state dir. */
export function createLogger(options: LoggerOptions): Logger {
  const streams: pino.StreamEntry[] = [];
  if (options.level !== 'silent') streams.push({ level: options.level, stream: pino.destination({ dest: 2, sync: true }) });
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true });
    streams.push({ level: lower(options.level, 'info'), stream: pino.destination({ dest: options.file, sync: true }) });
  }
  if (streams.length === 0) return pino({ level: 'silent' });
  const level = options.file ? lower(options.level, 'info') : options.level;
  return pino({ level, base: { pid: process.pid } }, pino.multistream(streams));
}
