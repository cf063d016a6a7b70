import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { OperatorCommand } from '../../src/store/types.js';
import { buildChildModule } from '../helpers/child-module.js';
import { sampleRecord, START } from './conformance.js';
import { makeStateDir } from './temp-dir.js';

describe('embedded state store across processes', () => {
  let storeModule: { readonly dir: string; remove: () => Promise<void> };
  let state: { readonly dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    storeModule = await buildChildModule('src/store');
    state = await makeStateDir();
  });

  afterAll(async () => {
    await state.remove();
    await storeModule.remove();
  });

  it('3 processes taking while commands arrive: every command taken exactly once, each batch oldest first', async () => {
    const sender = createEmbeddedStateStore({ dir: state.dir });
    await sender.createRollout(sampleRecord('aim-v43'));
    const script = fileURLToPath(new URL('./take-child.mjs', import.meta.url));
    const children = Array.from({ length: 3 }, () =>
      spawn(process.execPath, [script, storeModule.dir, state.dir, 'aim-v43'], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    // Listened for from the start: a child exits right after printing `done`.
    const exits = children.map(async (child) => (await once(child, 'exit'))[0] as number | null);
    const outputs = children.map((child) => {
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      return () => text;
    });
    const allPrinted = (line: string): Promise<unknown> =>
      Promise.all(
        outputs.map(async (text) => {
          while (!text().includes(line)) await new Promise((resolve) => setTimeout(resolve, 10));
        }),
      );
    const count = 150;
    try {
      await allPrinted('ready\n');
      for (const child of children) child.stdin.write('go\n');
      for (let index = 0; index < count; index += 1) {
        await sender.sendCommand('aim-v43', {
          type: 'abort',
          by: 'mira@ops-1',
          reason: String(index),
          at: START + index,
        });
      }
      for (const child of children) child.stdin.write('stop\n');
      await allPrinted('done\n');
      expect(await Promise.all(exits)).toEqual([0, 0, 0]);
    } finally {
      await sender.close();
      for (const child of children) if (child.exitCode === null) child.kill();
    }

    const perChild = outputs.map((text) =>
      text()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => Number((JSON.parse(line) as OperatorCommand).reason)),
    );
    for (const taken of perChild) expect(taken).toEqual([...taken].sort((a, b) => a - b));
    const all = perChild.flat();
    expect(all).toHaveLength(count);
    expect(new Set(all).size).toBe(count);
  });
});
