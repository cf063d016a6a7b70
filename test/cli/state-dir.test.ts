import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveStateDir } from '../../src/cli/state-dir.js';

describe('resolveStateDir', () => {
  let root: string;
  let deep: string;

  beforeEach(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'state-dir-')));
    deep = join(root, 'a', 'b', 'c');
    await mkdir(deep, { recursive: true });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('takes the .rollout of the nearest ancestor that has one, as git finds .git', async () => {
    await mkdir(join(root, '.rollout'));
    expect(resolveStateDir({ cwd: deep })).toBe(join(root, '.rollout'));
    await mkdir(join(root, 'a', '.rollout'));
    expect(resolveStateDir({ cwd: deep })).toBe(join(root, 'a', '.rollout'));
    expect(resolveStateDir({ cwd: root })).toBe(join(root, '.rollout'));
  });

  it('falls back to ./.rollout when no ancestor has one', () => {
    const ancestors = [];
    for (let dir = deep; dirname(dir) !== dir; dir = dirname(dir)) ancestors.push(join(dir, '.rollout'));
    // The premise of this case: nothing above the temp dir holds a state dir.
    expect(ancestors.filter((dir) => existsSync(dir))).toEqual([]);
    expect(resolveStateDir({ cwd: deep })).toBe(join(deep, '.rollout'));
  });

  it('puts --state-dir before $ROLLOUT_STATE_DIR before discovery, relative to the cwd', async () => {
    await mkdir(join(root, '.rollout'));
    expect(resolveStateDir({ cwd: deep, env: '/srv/state' })).toBe('/srv/state');
    expect(resolveStateDir({ cwd: deep, env: 'env-state', flag: '../flag-state' })).toBe(
      join(root, 'a', 'b', 'flag-state'),
    );
    expect(resolveStateDir({ cwd: deep, env: '' })).toBe(join(root, '.rollout'));
  });
});
