import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { namesIn, sizeOf } from '../infra/optional-files.js';
import { tempWriterPid } from './agent-files.js';
import { isRecordedPidAlive } from './local-lock.js';

/** Every folder of a drone's dir where an atomic write puts its temp file. */
const WRITE_DIRS = ['.', '.agent', join('.agent', 'meta'), join('.agent', 'blobs'), join('.agent', 'locks')] as const;

/**
 * Removes the temp files of writes whose process died mid-write (a killed agent leaves one per write in
 * flight, as large as the config). A temp file of a live process is its write in progress and stays.
 */
export async function removeInterruptedWrites(dir: string, droneId: string, logger: Logger): Promise<void> {
  let files = 0;
  let bytes = 0;
  // A drone without an `.agent` folder has never been written to by an agent: only its own dir to look at.
  const folders = (await namesIn(dir)).includes('.agent') ? WRITE_DIRS : (['.'] as const);
  for (const folder of folders) {
    const path = join(dir, folder);
    for (const name of await namesIn(path)) {
      const pid = tempWriterPid(name);
      if (pid === undefined || isRecordedPidAlive(pid)) continue;
      bytes += await sizeOf(join(path, name));
      await rm(join(path, name), { force: true });
      files += 1;
    }
  }
  if (files > 0)
    logger.warn(
      { drone: droneId, dir, files, bytes },
      `removed ${files} temp files (${bytes} bytes) of writes interrupted by a crash`,
    );
}
