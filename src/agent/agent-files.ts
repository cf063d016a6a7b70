import { writeFileAtomic, type AtomicWriteOptions } from '../infra/atomic-write.js';
import { readTextIfExists } from '../infra/optional-files.js';

/**
 * How the agent writes the files in a drone's dir (infra/atomic-write.ts does the writing). Its folders
 * such as `.agent/blobs` are created on first use. Its temp files are `.tmp-<pid>-<n>`: a dot name can
 * never collide with a config name, a short one still fits beside long config names, and the pid lets
 * the boot sweep tell a dead writer's leftovers from a live one's.
 */
export async function writeAgentFile(
  path: string,
  data: string | Uint8Array,
  options: Pick<AtomicWriteOptions, 'durable' | 'exclusive'> = {},
): Promise<void> {
  await writeFileAtomic(path, data, {
    ...options,
    createDir: true,
    tempName: (_, sequence) => `.tmp-${process.pid}-${sequence}`,
  });
}

/** The pid of the process that made temp file `name` (see writeAgentFile), or undefined if it is no temp name. */
export function tempWriterPid(name: string): number | undefined {
  const pid = /^\.tmp-(\d+)-\d+$/u.exec(name)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: Pick<AtomicWriteOptions, 'durable'> = {},
): Promise<void> {
  await writeAgentFile(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** The parsed JSON of `path`, or undefined when the file does not exist. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}
