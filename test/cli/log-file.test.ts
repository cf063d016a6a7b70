import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/cli/output/logger.js';
import { tempDir } from '../helpers/cli.js';

function collector() {
  const lines: string[] = [];
  return { lines, stream: { write: (text: string) => lines.push(text) } };
}

describe('the per-rollout log file', () => {
  let dir: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    dir = await tempDir('log-file-');
  });

  afterEach(async () => {
    await dir.remove();
  });

  it('keeps NDJSON at info and up, whatever stderr shows', async () => {
    const file = join(dir.path, 'logs', 'r-1.ndjson');
    const stderr = collector();
    const logger = createLogger({ level: 'error', format: 'text', file, stderr: stderr.stream });
    logger.info({ drone: 'drone-1' }, 'pushed');
    logger.error('broke');
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(lines.map((line) => line.msg)).toEqual(['pushed', 'broke']);
    expect(stderr.lines).toEqual(['error: broke\n']);
  });

  // /dev/full answers every write with ENOSPC: a full disk, for real, without root.
  it.skipIf(!existsSync('/dev/full'))(
    'stops writing to a file whose writes fail, says so once on stderr, and never throws',
    () => {
      const stderr = collector();
      const logger = createLogger({ level: 'error', format: 'text', file: '/dev/full', stderr: stderr.stream });
      expect(() => {
        for (let index = 0; index < 100; index += 1) logger.info({ index }, 'a line the disk has no room for');
        logger.error('still reaches stderr');
      }).not.toThrow();
      expect(stderr.lines).toEqual([
        expect.stringMatching(
          /^warning: the log file \/dev\/full cannot be written \(ENOSPC: [^)]*\); logging to it stopped\n$/,
        ),
        'error: still reaches stderr\n',
      ]);
    },
  );

  it('goes on without a file it cannot create', () => {
    const stderr = collector();
    const blocked = join('/dev/null', 'logs', 'r-1.ndjson');
    const logger = createLogger({ level: 'error', file: blocked, stderr: stderr.stream });
    expect(() => logger.info('nowhere to go')).not.toThrow();
    expect(stderr.lines).toEqual([
      expect.stringMatching(
        /^warning: the log file \/dev\/null\/logs\/r-1\.ndjson cannot be written \(E\w+: .*\); logging to it stopped\n$/,
      ),
    ]);
  });
});
