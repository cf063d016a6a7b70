import { unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../../infra/atomic-write.js';
import type { AssertHeld } from '../../infra/critical-section.js';
import { readTextIfExists, sizeOf } from '../../infra/optional-files.js';
import { appendLines, streamCompleteLines } from './json-lines.js';
import { parseStored, progressBatchSchema } from '../record-schemas.js';
import { corruptFile } from '../store-errors.js';
import type { RolloutFiles } from './rollout-files.js';
import type { DroneProgressRecord } from '../types.js';

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

export async function loadProgress(files: RolloutFiles): Promise<Progress> {
  return fold(files, (text) => parseStored(progressBatchSchema, text, files.progressBase));
}

/**
 * Folds the base and the log, last wins; `readBase` parses the base's text. The log is read line by line
 * (it may be several times the base), each line checked, so a line damaged by hand is named by its file
 * and line; what is held is the fold, one record per drone, and the line being read.
 */
async function fold(files: RolloutFiles, readBase: (text: string) => Progress): Promise<Progress> {
  const drones = new Map<string, DroneProgressRecord>();
  const add = (batch: Progress): void => {
    for (const [drone, record] of Object.entries(batch)) {
      drones.set(drone, record);
    }
  };
  const base = await readTextIfExists(files.progressBase);
  if (base !== undefined) {
    add(readBase(base));
  }
  for await (const line of streamCompleteLines(files.progressLog)) {
    add(parseStored(progressBatchSchema, line.text, `${files.progressLog}:${line.number}`));
  }
  // fromEntries defines own properties, so even a drone named `__proto__` stays an ordinary key.
  return Object.fromEntries(drones);
}

/**
 * The base is this store's own fold of lines checked when they were folded, so it is only parsed here,
 * not checked again: at 100,000 drones checking it took most of a compaction's time and memory. A
 * load (`rollout resume`) still checks it.
 */
async function compact(files: RolloutFiles, assertHeld: AssertHeld): Promise<void> {
  const folded = await fold(files, (text) => {
    try {
      return JSON.parse(text) as Progress;
    } catch (error) {
      throw corruptFile(files.progressBase, `not valid JSON (${(error as Error).message})`, error);
    }
  });
  await writeFileAtomic(files.progressBase, JSON.stringify(folded), { beforeCommit: assertHeld });
  // A crash before the unlink replays the log onto a base that already holds it: same result, last wins.
  await unlink(files.progressLog);
}
