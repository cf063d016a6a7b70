import { randomBytes } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory, writeFileAtomic } from '../../infra/atomic-write.js';
import { namesIn, readTextIfExists } from '../../infra/optional-files.js';
import { operatorCommandSchema, parseStored } from '../record-schemas.js';
import type { RolloutFiles } from './rollout-files.js';
import { isErrno } from '../../infra/errno.js';
import type { OperatorCommand } from '../types.js';

/**
 * Operator commands as one file each in `commands/`. Names sort by send time, then by a counter for
 * sends from this process within one millisecond; the pid and random suffix keep two processes apart.
 * A taker claims a command by renaming it into `commands/taken/`: the rename succeeds for exactly one
 * taker, in this process or any other.
 */

let sent = 0;

export async function enqueueCommand(files: RolloutFiles, command: OperatorCommand, now: number): Promise<void> {
  sent += 1;
  const at = String(Math.max(0, Math.trunc(now))).padStart(15, '0');
  const name = `${at}-${String(sent).padStart(9, '0')}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
  await writeFileAtomic(join(files.commands, name), `${JSON.stringify(command)}\n`);
}

/** The commands nobody has taken yet, oldest first, each claimed for the caller. */
export async function claimCommands(files: RolloutFiles): Promise<OperatorCommand[]> {
  const names = await namesIn(files.commands);
  // Temp files of sends in progress start with a dot; `taken` is a directory without the suffix.
  const pending = names.filter((name) => name.endsWith('.json') && !name.startsWith('.')).sort();
  if (pending.length === 0) {
    return [];
  }
  // Read and check every one before claiming any, so a file edited by hand fails the call without
  // swallowing good commands that would already have been claimed.
  const readable: { readonly name: string; readonly command: OperatorCommand }[] = [];
  for (const name of pending) {
    const file = join(files.commands, name);
    const text = await readTextIfExists(file);
    if (text !== undefined) {
      readable.push({ name, command: parseStored(operatorCommandSchema, text, file) });
    }
  }
  await mkdir(files.taken).catch((error: unknown) => {
    if (!isErrno(error, 'EEXIST')) {
      throw error;
    }
  });
  const claimed: OperatorCommand[] = [];
  for (const { name, command } of readable) {
    try {
      await rename(join(files.commands, name), join(files.taken, name));
      claimed.push(command);
    } catch (error) {
      // Another taker renamed it first; it is theirs.
      if (!isErrno(error, 'ENOENT')) {
        throw error;
      }
    }
  }
  if (claimed.length > 0) {
    // Without this a power cut could undo the claims and hand the same commands out again.
    await syncDirectory(files.commands);
    await syncDirectory(files.taken);
  }
  return claimed;
}
