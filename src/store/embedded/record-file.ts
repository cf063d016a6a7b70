import { readTextIfExists } from '../../infra/optional-files.js';
import { parseStored, rolloutRecordSchema } from '../record-schemas.js';
import type { RolloutFiles } from './rollout-files.js';
import { corruptFile } from '../store-errors.js';
import type { RolloutRecord } from '../types.js';

/** The rollout's record, or undefined when its directory holds none. */
export async function readRecord(files: RolloutFiles): Promise<RolloutRecord | undefined> {
  const text = await readTextIfExists(files.record);
  if (text === undefined) {
    return undefined;
  }
  const record = parseStored(rolloutRecordSchema, text, files.record);
  if (record.id !== files.id) {
    throw corruptFile(files.record, `id: "${record.id}" is not the name of its directory, "${files.id}"`);
  }
  return record;
}
