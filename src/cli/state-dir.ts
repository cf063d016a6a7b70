import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The state dir's name, looked for in the cwd and its ancestors. */
export const STATE_DIR_NAME = '.rollout';

export interface StateDirSources {
  /** `--state-dir`, if given. */
  readonly flag?: string;
  /** `$ROLLOUT_STATE_DIR`; empty counts as unset. */
  readonly env?: string;
  readonly cwd: string;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The absolute state dir: `--state-dir`, else `$ROLLOUT_STATE_DIR`, else the `.rollout` of the nearest
 * ancestor of the cwd that has one (as git finds `.git`), so every shell in one checkout shares one
 * lock table; else `./.rollout`, created on first write.
 */
export function resolveStateDir(sources: StateDirSources): string {
  if (sources.flag !== undefined && sources.flag !== '') return resolve(sources.cwd, sources.flag);
  if (sources.env !== undefined && sources.env !== '') return resolve(sources.cwd, sources.env);
  const start = resolve(sources.cwd);
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, STATE_DIR_NAME);
    if (isDirectory(candidate)) return candidate;
    if (dirname(dir) === dir) return join(start, STATE_DIR_NAME);
  }
}
