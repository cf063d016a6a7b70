import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { makeStateDir } from './temp-dir.js';

export interface FenceHold {
  readonly rollout: string;
  readonly fence: number;
  readonly minFence: number;
}

/**
 * Runs `children` processes of `fence-child.mjs` against one backend, each taking and releasing one key
 * `rounds` times with floors of its own, and returns every hold in the order the holds happened.
 */
export async function raceForFences(
  moduleDir: string,
  backend: string,
  children: number,
  rounds: number,
): Promise<FenceHold[]> {
  const script = fileURLToPath(new URL('./fence-child.mjs', import.meta.url));
  const { dir, remove } = await makeStateDir();
  const logFile = join(dir, 'holds.ndjson');
  try {
    const processes = Array.from({ length: children }, (_, index) =>
      spawn(process.execPath, [script, moduleDir, backend, `child-${index}`, String(rounds), logFile], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const printed = processes.map((child) => {
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      return () => text;
    });
    const exits = processes.map(async (child) => (await once(child, 'exit'))[0] as number | null);
    const printedAll = (line: string): Promise<unknown> =>
      Promise.all(
        printed.map(async (text) => {
          while (!text().includes(line)) await new Promise((resolve) => setTimeout(resolve, 10));
        }),
      );
    await printedAll('ready\n');
    for (const child of processes) child.stdin.write('go\n');
    await Promise.race([printedAll('done\n'), Promise.all(exits)]);
    // A child that closed its store has nothing left to do, and exits by itself at once; anything left open
    // (a watch stream, a connection) would keep it, and a CLI run, alive forever. 10 s tells the two apart
    // on a loaded machine.
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    const running = processes.filter((child) => child.exitCode === null && child.signalCode === null);
    for (const child of running) child.kill('SIGKILL');
    expect(
      running.map((child) => child.spawnargs[4]),
      'children still running after closing their store',
    ).toEqual([]);
    expect(await Promise.all(exits)).toEqual(processes.map(() => 0));
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line !== '');
    return lines.map((line) => JSON.parse(line) as FenceHold);
  } finally {
    await remove();
  }
}

/** Fences strictly grow in the order of the holds (so no two share one), and each is at least its floor. */
export function expectFencesAboveFloors(holds: readonly FenceHold[], count: number): void {
  expect(holds).toHaveLength(count);
  const fences = holds.map((hold) => hold.fence);
  expect(fences).toEqual([...fences].sort((a, b) => a - b));
  expect(new Set(fences).size).toBe(count);
  for (const hold of holds) expect(hold.fence).toBeGreaterThanOrEqual(hold.minFence);
}
