import { unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../../infra/atomic-write.js';
import type { AssertHeld } from '../../infra/critical-section.js';
import { readTextIfExists, sizeOf } from '../../infra/optional-files.js';
import { appendLines, streamCompleteLines } from './json-lines.js';
import { isPlainProgressBatch, parseStored, progressBatchSchema } from '../record-schemas.js';
import { corruptFile } from '../store-errors.js';
import type { RolloutFiles } from './rollout-files.js';
import type { DroneProgressRecord } from '../types.js';
import { VersionRefs } from '../../infra/version-refs.js';

/**
 * Per-drone progress as a log of batches (`progress.ndjson`, last one wins) on top of a folded base
 * (`progress.json`). Saving a batch costs what the batch weighs; the log is folded into the base once it
 * outgrows both COMPACT_AFTER_BYTES and LOG_TO_BASE times the base, so a compaction (reading base and
 * log, writing the base) costs at most about 1.5 times the bytes appended since the last one, and a load
 * reads at most about five times the base. Every function here runs inside the caller's critical
 * section on `progressLog`.
 */

const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/**
 * A rollout of 100,000 drones appends about 30 MB of progress per stage, all of it for drones the base
 * already holds. Folding whenever the log outgrew the base meant a compaction per stage, each parsing
 * and writing tens of MB on the event loop the requests run on: most of the orchestrator's garbage at
 * that size. Four times the base keeps a run to one or two.
 */
const LOG_TO_BASE = 4;

type Progress = Record<string, DroneProgressRecord>;

export async function appendProgress(files: RolloutFiles, changes: Progress, assertHeld: AssertHeld): Promise<void> {
  assertHeld();
  const logSize = await appendLines(files.progressLog, `${JSON.stringify(changes)}\n`);
  if (logSize >= COMPACT_AFTER_BYTES && logSize >= LOG_TO_BASE * (await sizeOf(files.progressBase))) {
    await compact(files, assertHeld);
  }
}

/**
 * Folds the base and the log, last wins, each checked, so a line damaged by hand is named by its file and
 * line. The log is read line by line (it may be several times the base); what is held is the fold, one
 * record per drone, and the line being read.
 */
export async function loadProgress(files: RolloutFiles): Promise<Progress> {
  // fromEntries defines own properties, so even a drone named `__proto__` stays an ordinary key.
  return Object.fromEntries(await fold(files, readWholeBase));
}

/**
 * The base is this store's own fold of lines checked when they were folded, so it is read a drone per line
 * and only parsed, not checked again: at 100,000 drones checking it took most of a compaction's time and
 * memory. A compaction at that size was also the run's highest point of memory, and V8 sizes its heap from
 * that point on: so the base is read and written one drone per line, never as one string.
 */
async function compact(files: RolloutFiles, assertHeld: AssertHeld): Promise<void> {
  const drones = await fold(files, readBase);
  await writeFileAtomic(files.progressBase, baseText(drones), { beforeCommit: assertHeld });
  // A crash before the unlink replays the log onto a base that already holds it: same result, last wins.
  await unlink(files.progressLog);
}

/** The base read by `readBaseWith`, then the log, last wins; each drone's versions held once (VersionRefs). */
async function fold(files: RolloutFiles, readBaseWith: BaseReader): Promise<Map<string, DroneProgressRecord>> {
  const drones = new Map<string, DroneProgressRecord>();
  const versions = new VersionRefs();
  const add = (batch: Progress): void => {
    for (const [drone, record] of Object.entries(batch)) {
      drones.set(drone, { ...record, before: versions.refOf(record.before), now: versions.refOf(record.now) });
    }
  };
  await readBaseWith(files.progressBase, add);
  for await (const line of streamCompleteLines(files.progressLog)) {
    add(parseProgress(line.text, `${files.progressLog}:${line.number}`));
  }
  return drones;
}

type BaseReader = (path: string, add: (batch: Progress) => void) => Promise<void>;

/** A batch, checked (the plain check first, the schema for what it does not pass), named by `where` if it fails. */
function parseProgress(text: string, where: string): Progress {
  return parseStored(progressBatchSchema, text, where, corruptFile, isPlainProgressBatch);
}

/** The base as one text, checked: whatever its layout, as any JSON reader takes it. */
async function readWholeBase(path: string, add: (batch: Progress) => void): Promise<void> {
  const text = await readTextIfExists(path);
  if (text !== undefined) add(parseProgress(text, path));
}

const BASE_OPEN = '{';
const BASE_CLOSE = '}';
const PIECE_CHARS = 1 << 20;

/**
 * The base's text: one JSON object, `{`, then a line per drone (`"<id>":<record>,`), then `}`. Any JSON
 * reader takes it whole; a compaction reads it line by line. Given in pieces of about a megabyte.
 */
function* baseText(drones: ReadonlyMap<string, DroneProgressRecord>): Generator<string> {
  let piece = `${BASE_OPEN}\n`;
  let left = drones.size;
  for (const [drone, record] of drones) {
    left -= 1;
    piece += `${JSON.stringify(drone)}:${JSON.stringify(record)}${left > 0 ? ',' : ''}\n`;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}${BASE_CLOSE}\n`;
}

/**
 * Reads the base into `add`, a drone at a time when it is in `baseText`'s layout; any other base (one
 * line, written by an earlier version, or laid out by hand) is read whole, as a load reads it.
 */
async function readBase(path: string, add: (batch: Progress) => void): Promise<void> {
  if (!(await readBaseByLine(path, add))) await readWholeBase(path, add);
}

/**
 * Whether the base is in `baseText`'s layout (`{`, a line per drone, commas between them, `}` last), every
 * drone of it given to `add`; false at the first line that is not, or a missing file. A base read in
 * part is read again whole: the same drones again, so the fold is the same.
 */
async function readBaseByLine(path: string, add: (batch: Progress) => void): Promise<boolean> {
  let lines = 0;
  let closed = false;
  // Whether another drone may follow: none read yet, or the last one ended with a comma.
  let open = true;
  for await (const { text } of streamCompleteLines(path)) {
    lines += 1;
    if (lines === 1) {
      if (text !== BASE_OPEN) return false;
    } else if (closed) {
      return false;
    } else if (text === BASE_CLOSE) {
      if (open && lines > 2) return false;
      closed = true;
    } else {
      if (!open) return false;
      open = text.endsWith(',');
      const entry = parsedOrUndefined(`{${open ? text.slice(0, -1) : text}}`);
      if (entry === undefined) return false;
      add(entry);
    }
  }
  return closed;
}

function parsedOrUndefined(text: string): Progress | undefined {
  try {
    return JSON.parse(text) as Progress;
  } catch {
    return undefined;
  }
}
