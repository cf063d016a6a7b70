import { open } from 'node:fs/promises';
import type { z } from 'zod';
import { expectInteger, expectNonEmptyString } from '../infra/argument-checks.js';
import { isErrno } from '../infra/errno.js';
import { MAX_MISSION_LENGTH, operationalSchema, type Operational, type OperationalView } from '../protocol/v1.js';
import { formatDuration } from '../spec/duration.js';
import { formatKeyPath, valueAt } from '../spec/key-path.js';

/**
 * Where a drone's operational state comes from: the vehicle's own software (its autopilot or mission
 * computer) knows whether it flies, its battery and its mission; the agent only passes that on, in its
 * health and pause answers, so a rollout can gate pushes on it.
 */
export interface OperationalSource {
  /** The state now, or `{error}` saying why it cannot be told; a gate holds back a drone whose state is an error. */
  read(): Promise<OperationalView>;
}

export const DEFAULT_OPERATIONAL_MAX_AGE_MS = 60_000;
/** An operational state is a few dozen bytes; a bigger file is not one, and is not read. */
export const MAX_OPERATIONAL_FILE_BYTES = 64 * 1024;
export const DEFAULT_OPERATIONAL_TIMEOUT_MS = 2_000;

/** The shape the vehicle's software must write, as messages show it. */
export const OPERATIONAL_SHAPE = '{"flight": "grounded"|"airborne", "battery": 0-100, "mission": "<id>"|null}';

/** What each member of an operational state must be, worded for error messages. */
export const OPERATIONAL_RULES: Readonly<Record<keyof Operational, string>> = {
  flight: '"grounded" or "airborne"',
  battery: 'a number from 0 to 100 (percent)',
  mission: `null (no mission) or a mission id of 1 to ${MAX_MISSION_LENGTH} characters`,
};

export interface OperationalFileOptions {
  /**
   * A file whose mtime is older than this reads as an error: the vehicle's software stopped rewriting it,
   * so what it says may no longer hold. @default 60000
   */
  readonly maxAgeMs?: number;
  /** The clock the file's mtime is compared with. @default Date.now */
  readonly now?: () => number;
}

/**
 * The state in a JSON file the vehicle's software keeps current, read afresh at each `read()` (it is a
 * few bytes). A file missing, unreadable, not JSON, of the wrong shape, or not rewritten within `maxAgeMs`
 * (or modified further than that in the future) reads as `{error}` naming the path and what to do: a
 * stale state never reads as valid.
 */
export function operationalFile(path: string, options: OperationalFileOptions = {}): OperationalSource {
  expectNonEmptyString('path', path);
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_OPERATIONAL_MAX_AGE_MS;
  expectInteger('maxAgeMs', maxAgeMs, 1);
  const now = options.now ?? Date.now;
  const where = `operational state file ${path}`;
  return {
    read: async () => {
      let text: string;
      let mtimeMs: number;
      try {
        // One handle for both, so the age and the content are of the same file even if it is replaced meanwhile.
        const handle = await open(path, 'r');
        try {
          const stat = await handle.stat();
          if (stat.size > MAX_OPERATIONAL_FILE_BYTES) {
            return {
              error: `${where} holds ${stat.size} bytes, more than the ${MAX_OPERATIONAL_FILE_BYTES} an operational state may take: it must hold ${OPERATIONAL_SHAPE} alone`,
            };
          }
          mtimeMs = stat.mtimeMs;
          text = await handle.readFile('utf8');
        } finally {
          await handle.close();
        }
      } catch (error) {
        return { error: unreadableFile(where, error) };
      }
      const ageMs = now() - mtimeMs;
      // A time far ahead would keep a state that is no longer rewritten fresh for that much longer.
      if (ageMs < -maxAgeMs) {
        return {
          error:
            `${where} was last modified ${Math.ceil(-ageMs / 1000)} s in the future: the clock of this host or ` +
            `of the vehicle's software is wrong, so the agent cannot tell whether the state is current`,
        };
      }
      if (ageMs > maxAgeMs) {
        return {
          error:
            `${where} was not updated for ${Math.ceil(ageMs / 1000)} s, longer than --operational-max-age ` +
            `${formatDuration(maxAgeMs)}: the vehicle's software must rewrite it at least that often`,
        };
      }
      return parseOperational(text, where, 'file');
    },
  };
}

export interface OperationalUrlOptions {
  /** A request that has not answered within this long reads as an error. @default 2000 */
  readonly timeoutMs?: number;
}

/**
 * The state from a local HTTP endpoint of the vehicle's software, one `GET` per `read()`. An endpoint that
 * does not answer in time, answers other than 2xx, or answers something other than an operational state
 * reads as `{error}`.
 */
export function operationalUrl(url: string, options: OperationalUrlOptions = {}): OperationalSource {
  if (!isHttpUrl(url)) throw new TypeError(`Expected \`url\` to be an http or https URL, got ${JSON.stringify(url)}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_OPERATIONAL_TIMEOUT_MS;
  expectInteger('timeoutMs', timeoutMs, 1);
  const where = `operational state endpoint ${url}`;
  return {
    read: async () => {
      let status: number;
      let text: string;
      try {
        const response = await fetch(url, {
          headers: { accept: 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        return { error: unreachableUrl(where, error, timeoutMs) };
      }
      if (status < 200 || status > 299) {
        return {
          error: `${where} answered HTTP ${status}: ${excerpt(text)}; it must answer 200 with ${OPERATIONAL_SHAPE}`,
        };
      }
      return parseOperational(text, where, 'answer');
    },
  };
}

/** Whether `text` is an absolute http: or https: URL. */
export function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const { protocol } = new URL(text);
  return protocol === 'http:' || protocol === 'https:';
}

/**
 * A zod issue of an operational state (or of a body holding one), worded with the key it is about and
 * what that key must be (`rules`), to follow a colon: `"battery" must be a number from 0 to 100
 * (percent), got 150 (number)`.
 */
export function issueText(
  issue: z.core.$ZodIssue | undefined,
  value: unknown,
  rules: Readonly<Record<string, string>> = OPERATIONAL_RULES,
): string {
  if (issue === undefined) return 'is not valid';
  if (issue.code === 'unrecognized_keys') {
    return `${issue.keys.length === 1 ? 'unknown key' : 'unknown keys'} ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
  }
  const path = issue.path.filter((segment) => typeof segment !== 'symbol');
  if (path.length === 0) return `expected one JSON object, got ${shownValue(value)}`;
  const key = formatKeyPath(path);
  const received = valueAt(value, path);
  const rule = rules[key] ?? 'valid';
  return received === undefined
    ? `"${key}" is missing: it must be ${rule}`
    : `"${key}" must be ${rule}, got ${shownValue(received)}`;
}

/** `text` as an operational state, or `{error}` naming `where` it came from and what is wrong with it. */
function parseOperational(text: string, where: string, what: 'file' | 'answer'): OperationalView {
  const expected =
    what === 'file' ? `the vehicle's software must write ${OPERATIONAL_SHAPE}` : `it must answer ${OPERATIONAL_SHAPE}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // A file read while its writer is halfway through reads as not JSON: a writer must replace it whole.
    const whole = what === 'file' ? ', atomically (to a temp file, then rename)' : '';
    return {
      error: `${where} is not JSON (${text.trim() === '' ? 'it is empty' : excerpt(text)}): ${expected}${whole}`,
    };
  }
  const parsed = operationalSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  return { error: `${where}: ${issueText(parsed.error.issues[0], value)}; ${expected}` };
}

function unreadableFile(where: string, error: unknown): string {
  if (isErrno(error, 'ENOENT')) {
    return `${where} does not exist: the vehicle's software must write ${OPERATIONAL_SHAPE} there (or start the agent with another --operational-file)`;
  }
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  return `cannot read ${where}${code === undefined ? '' : ` (${code})`}: ${reason}; the agent must be able to read it`;
}

function unreachableUrl(where: string, error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') {
    return `${where} did not answer within ${timeoutMs} ms: is the vehicle's software running?`;
  }
  const cause = error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return `cannot reach ${where} (${reason}): is the vehicle's software running and serving it?`;
}

/** How a received value shows in a message: `150 (number)`, `"yes" (string)`. */
export function shownValue(value: unknown): string {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  // JSON shows NaN as null, and undefined as nothing at all.
  const text = typeof value === 'number' || value === undefined ? String(value) : JSON.stringify(value);
  return `${excerpt(text)} (${kind})`;
}

function excerpt(text: string): string {
  const line = text.trim().replace(/\s+/gu, ' ');
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
