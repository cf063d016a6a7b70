import { createHash } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { DroneProgressRecord, StateStore } from '../../src/store/types.js';
import { rejection } from '../helpers/rejection.js';
import {
  describeStateStoreConformance,
  sampleProgress,
  sampleRecord,
  START,
  unchained,
  writeEachConcern,
  type StateStoreHarness,
} from './conformance.js';
import { makeEmbeddedHarness } from './embedded-harness.js';

describeStateStoreConformance('embedded', (context) => makeEmbeddedHarness(context));

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('embedded state store on disk', () => {
  const ID = 'aim-v43';
  let harness: StateStoreHarness & { readonly dir: string };
  let store: StateStore;
  let rolloutDir: string;
  const at = (name: string): string => join(rolloutDir, name);
  /** Saves `batch` until the progress log is folded into the base (the log is gone): at most 20 saves. */
  const saveUntilFolded = async (batch: Record<string, DroneProgressRecord>): Promise<void> => {
    for (let rounds = 1; ; rounds += 1) {
      await store.saveProgress(ID, batch);
      if (!(await exists(at('progress.ndjson')))) return;
      expect(rounds).toBeLessThan(20);
    }
  };

  beforeEach(async () => {
    harness = await makeEmbeddedHarness({ now: () => START });
    store = harness.open();
    rolloutDir = join(harness.dir, 'rollouts', ID);
    await store.createRollout(sampleRecord(ID));
  });

  afterEach(async () => {
    await harness.dispose();
  });

  it('keeps one readable file per concern under rollouts/<id>/', async () => {
    await writeEachConcern(store, ID);
    await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: START });
    await store.sendCommand(ID, { type: 'promote', by: 'mira@ops-1', at: START });
    await store.takeCommands(ID);
    await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: START });

    expect((await readdir(rolloutDir)).sort()).toEqual([
      'audit.ndjson',
      'commands',
      'progress.ndjson',
      'record.json',
      'snapshot.json',
    ]);
    expect(JSON.parse(await readFile(at('record.json'), 'utf8'))).toEqual(sampleRecord(ID));
    expect(await readFile(at('snapshot.json'), 'utf8')).toBe('{"value":"canary"}');
    expect((await readFile(at('progress.ndjson'), 'utf8')).split('\n')).toHaveLength(3);
    // Each event chained: its seq, and the sha256 of the event before it in canonical form (keys sorted).
    const genesis = sha256(ID);
    const first = `{"kind":"transition","prev":"${genesis}","seq":0,"t":${START}}`;
    expect(await readFile(at('audit.ndjson'), 'utf8')).toBe(
      `{"t":${START},"kind":"transition","seq":0,"prev":"${genesis}"}\n` +
        `{"t":${START},"kind":"push","drone":"drone-1","seq":1,"prev":"${sha256(first)}"}\n`,
    );
    expect((await readdir(at('commands'))).filter((name) => name.endsWith('.json'))).toHaveLength(1);
    expect(await readdir(at('commands/taken'))).toHaveLength(2);
  });

  it('removes a rollout without leaving its dir, hidden or not', async () => {
    await store.appendAudit(ID, [{ t: START, kind: 'transition' }]);
    await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: START });
    expect(await store.removeRollout(ID)).toBe(true);
    expect(await readdir(join(harness.dir, 'rollouts'))).toEqual([]);
  });

  it('passes over directories without a record, stray files and unfinished creations when listing', async () => {
    const root = join(harness.dir, 'rollouts');
    await mkdir(join(root, 'empty-dir'));
    await mkdir(join(root, '.creating-aim-v44.123.1'));
    await writeFile(join(root, '.creating-aim-v44.123.1', 'record.json'), '{');
    await writeFile(join(root, 'notes.txt'), 'hello');
    expect((await store.listRollouts()).map((record) => record.id)).toEqual([ID]);
    expect(await store.getRollout('empty-dir')).toBeNull();
  });

  it('names the file and the key of a record edited by hand', async () => {
    const record = JSON.parse(await readFile(at('record.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(at('record.json'), JSON.stringify({ ...record, step: { index: 'two', name: 'canary', total: 0 } }));
    const error = await rejection(store.getRollout(ID));
    expect(error.code).toBe('E_STATE_STORE');
    expect(error.message).toContain(at('record.json'));
    expect(error.message).toContain('step.index');

    await writeFile(at('record.json'), JSON.stringify({ ...record, id: 'aim-v99' }));
    expect((await rejection(store.listRollouts())).message).toMatch(/record\.json is corrupt: id: "aim-v99"/);
  });

  it('names the line of an audit event edited by hand', async () => {
    await store.appendAudit(ID, [{ t: START, kind: 'transition' }]);
    await appendFile(at('audit.ndjson'), '{"t": "noon", "kind": "push"}\n');
    const error = await rejection(store.readAudit(ID));
    expect(error.code).toBe('E_STATE_STORE');
    expect(error.message).toContain(`${at('audit.ndjson')}:2`);
    expect(error.message).toContain('t:');
  });

  it('names a corrupt snapshot, progress line or command file', async () => {
    await writeFile(at('snapshot.json'), '{"value": ');
    expect((await rejection(store.loadSnapshot(ID))).message).toContain(at('snapshot.json'));

    await store.saveProgress(ID, { 'drone-1': sampleProgress(null) });
    await appendFile(at('progress.ndjson'), '{"drone-2": {"before": null}}\n');
    const progressError = await rejection(store.loadProgress(ID));
    expect(progressError.message).toContain(`${at('progress.ndjson')}:2`);
    expect(progressError.message).toContain('drone-2.now');

    await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: START });
    await writeFile(at('commands/000000000000001-bad.json'), '{"type": "explode"}');
    const commandError = await rejection(store.takeCommands(ID));
    expect(commandError.code).toBe('E_STATE_STORE');
    expect(commandError.message).toContain('000000000000001-bad.json');
    // Nothing was claimed: once the bad file is gone the good command is still there.
    await rm(at('commands/000000000000001-bad.json'));
    expect(await store.takeCommands(ID)).toEqual([{ type: 'abort', by: 'mira@ops-1', at: START }]);
  });

  it('skips a line torn by a crash mid-append and cuts it off before the next append', async () => {
    await store.appendAudit(ID, [{ t: START, kind: 'transition' }]);
    await appendFile(at('audit.ndjson'), '{"t": 1, "kind": "pu');
    expect(unchained(await store.readAudit(ID))).toEqual([{ t: START, kind: 'transition' }]);
    await store.appendAudit(ID, [{ t: START + 1, kind: 'push' }]);
    expect(unchained(await store.readAudit(ID))).toEqual([
      { t: START, kind: 'transition' },
      { t: START + 1, kind: 'push' },
    ]);
    expect((await store.readAudit(ID)).map((event) => event['seq'])).toEqual([0, 1]);

    await store.saveProgress(ID, { 'drone-1': sampleProgress(null) });
    await appendFile(at('progress.ndjson'), '{"drone-1": {"bef');
    await store.saveProgress(ID, { 'drone-2': sampleProgress('v43') });
    expect(await store.loadProgress(ID)).toEqual({ 'drone-1': sampleProgress(null), 'drone-2': sampleProgress('v43') });
  });

  it('folds a growing progress log into progress.json and loads the same drones afterwards', async () => {
    const drones = Array.from({ length: 10_000 }, (_, index) => `drone-${index}`);
    const batch = (version: string | null): Record<string, DroneProgressRecord> =>
      Object.fromEntries(drones.map((drone) => [drone, sampleProgress(version)]));
    let rounds = 0;
    while (!(await exists(at('progress.json')))) {
      rounds += 1;
      await store.saveProgress(ID, batch(rounds % 2 === 0 ? null : 'v43'));
      expect(rounds).toBeLessThan(10);
    }
    expect(await exists(at('progress.ndjson'))).toBe(false);
    await store.saveProgress(ID, { 'drone-7': sampleProgress('v44') });
    const loaded = await harness.open().loadProgress(ID);
    expect(Object.keys(loaded)).toHaveLength(drones.length);
    expect(loaded['drone-6']).toEqual(sampleProgress(rounds % 2 === 0 ? null : 'v43'));
    expect(loaded['drone-7']).toEqual(sampleProgress('v44'));
    expect((await stat(at('progress.ndjson'))).size).toBeLessThan(1_000);
  });

  it('writes the folded base one drone per line, still one JSON object, and folds it again line by line', async () => {
    const drones = Array.from({ length: 10_000 }, (_, index) => `drone-${index}`);
    // Ids that name an Object method stay ordinary drones through every fold.
    drones.push('constructor', 'toString', 'hasOwnProperty', 'a.b_c-9');
    const batch = (version: string | null): Record<string, DroneProgressRecord> =>
      Object.fromEntries(drones.map((drone) => [drone, sampleProgress(version)]));
    await saveUntilFolded(batch('v43'));
    const text = await readFile(at('progress.json'), 'utf8');
    expect(text.split('\n')).toHaveLength(drones.length + 3);
    expect(Object.keys(JSON.parse(text) as object)).toHaveLength(drones.length);

    await store.saveProgress(ID, { 'drone-7': sampleProgress('v44') });
    await saveUntilFolded(batch(null));
    await store.saveProgress(ID, { 'drone-8': sampleProgress('v44') });
    const loaded = await harness.open().loadProgress(ID);
    expect(Object.keys(loaded)).toHaveLength(drones.length);
    expect(loaded['drone-7']).toEqual(sampleProgress(null));
    expect(loaded['drone-8']).toEqual(sampleProgress('v44'));
    expect(Object.getOwnPropertyDescriptor(loaded, 'constructor')?.value).toEqual(sampleProgress(null));
    expect(loaded['a.b_c-9']).toEqual(sampleProgress(null));
  });

  it('folds a base an earlier version wrote in one line', async () => {
    await store.saveProgress(ID, { 'drone-1': sampleProgress(null) });
    await writeFile(at('progress.json'), JSON.stringify({ 'drone-0': sampleProgress('v42') }));
    const drones = Array.from({ length: 10_000 }, (_, index) => `drone-${index + 1}`);
    await saveUntilFolded(Object.fromEntries(drones.map((drone) => [drone, sampleProgress('v43')])));
    const loaded = await harness.open().loadProgress(ID);
    expect(Object.keys(loaded)).toHaveLength(drones.length + 1);
    expect(loaded['drone-0']).toEqual(sampleProgress('v42'));
    expect((await readFile(at('progress.json'), 'utf8')).startsWith('{\n"drone-0":')).toBe(true);
  });

  describe('a base laid out otherwise than the store writes it', () => {
    const record = JSON.stringify(sampleProgress('v42'));
    /** Saves batches of 10,000 drones until the log is folded (or a save fails); answers the fold. */
    const compactOnto = async (base: string): Promise<Record<string, DroneProgressRecord>> => {
      await store.saveProgress(ID, { 'drone-1': sampleProgress(null) });
      await writeFile(at('progress.json'), base);
      const drones = Array.from({ length: 10_000 }, (_, index) => `drone-${index + 1}`);
      await saveUntilFolded(Object.fromEntries(drones.map((drone) => [drone, sampleProgress('v43')])));
      return harness.open().loadProgress(ID);
    };

    it('reads a base laid out by hand whole, as a load does', async () => {
      const loaded = await compactOnto(JSON.stringify({ x: sampleProgress('v42'), y: sampleProgress('v42') }, null, 2));
      expect(loaded['x']).toEqual(sampleProgress('v42'));
      expect(loaded['y']).toEqual(sampleProgress('v42'));
    });

    it('refuses a base with a drone after its end, or a comma before it, instead of dropping drones', async () => {
      for (const base of [`{\n"x":${record}\n}\n"y":${record}\n`, `{\n"x":${record},\n}\n`]) {
        const error = await rejection(compactOnto(base));
        expect(error).toMatchObject({ code: 'E_STATE_STORE' });
        expect(String(error)).toContain(at('progress.json'));
        await rm(at('progress.ndjson'), { force: true });
      }
    });

    it('reads an empty base and one without its last newline', async () => {
      expect(Object.keys(await compactOnto('{\n}\n'))).toHaveLength(10_000);
      await rm(at('progress.ndjson'), { force: true });
      const loaded = await compactOnto(`{\n"x":${record}\n}`);
      expect(loaded['x']).toEqual(sampleProgress('v42'));
    });
  });

  it('breaks the section marker of a process that was killed inside it', async () => {
    await mkdir(at('record.json.lock'));
    const old = new Date(Date.now() - 60_000);
    await utimes(at('record.json.lock'), old, old);
    await expect(store.updateRollout(ID, { stage: 'canary: pushing' })).resolves.toMatchObject({
      stage: 'canary: pushing',
    });
    expect(await exists(at('record.json.lock'))).toBe(false);
  });

  it('says what it received when an argument is wrong', () => {
    expect(() => createEmbeddedStateStore({ dir: '' })).toThrow(/`dir`/);
    expect(() => createEmbeddedStateStore({ dir: harness.dir, now: 5 as unknown as () => number })).toThrow(/`now`/);
    return expect(store.saveSnapshot(ID, undefined)).rejects.toThrow(/`snapshot`/);
  });
});

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
