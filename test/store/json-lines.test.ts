import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { completeLines, streamCompleteLines, type TextLine } from '../../src/store/embedded/json-lines.js';
import { makeStateDir } from './temp-dir.js';

async function streamed(path: string): Promise<TextLine[]> {
  const lines: TextLine[] = [];
  for await (const line of streamCompleteLines(path)) lines.push(line);
  return lines;
}

describe('streamCompleteLines', () => {
  let remove: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await remove?.();
  });

  it('yields what completeLines does, numbered alike: blank lines skipped, a torn tail left out, long and multi-byte lines whole', async () => {
    const made = await makeStateDir();
    remove = made.remove;
    const path = join(made.dir, 'log.ndjson');
    // A line far longer than a read chunk, and multi-byte characters across chunk edges.
    const long = JSON.stringify({ drone: 'é'.repeat(200_000), n: 1 });
    const text = `{"a":1}\n\n${long}\n  \n{"b":"ü"}\n{"torn":`;
    await writeFile(path, text);

    const lines = await streamed(path);

    expect(lines).toEqual(completeLines(text));
    expect(lines.map((line) => line.number)).toEqual([1, 3, 5]);
  });

  it('yields nothing for a missing file', async () => {
    expect(await streamed('/nonexistent/fleet-rollout/log.ndjson')).toEqual([]);
  });
});
