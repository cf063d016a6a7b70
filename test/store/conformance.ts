import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AuditEvent,
  DroneProgressRecord,
  OperatorCommand,
  RolloutRecord,
  StateStore,
} from '../../src/store/types.js';
import { verifyChain } from '../../src/store/audit-chain.js';
import { rejection } from '../helpers/rejection.js';

/**
 * The behaviour every StateStore backend owes the runner and the CLI. A backend's test file calls
 * `describeStateStoreConformance` with a factory; the suite owns the clock, so `updated` stamps and
 * command order are decided by the test.
 */

export interface StateStoreContext {
  readonly now: () => number;
}

export interface StateStoreHarness {
  /** A new store instance over the same data on each call: to the store, another process. */
  open(): StateStore;
  /** Makes the stored record of `id` unreadable (not JSON) and returns the name its error must mention. */
  corruptRecord(id: string): Promise<string>;
  /** Closes every store it opened and removes what it created. */
  dispose(): Promise<void>;
}

export const START = Date.parse('2026-11-26T10:00:00Z');

export function sampleRecord(id: string, started = START): RolloutRecord {
  return {
    id,
    name: 'aim-sensitivity-v43',
    specPath: '/srv/fleet/rollouts/aim.yaml',
    specDigest: 'c0ffee',
    inventory: '/srv/fleet/fleet.yaml',
    config: { file: 'aim_lock_config.conf', version: 'v43', sha256: '3f2a9c1b' },
    owner: { host: 'ops-1', pid: 4242, bootId: 'boot-1', user: 'mira' },
    drones: 12,
    stage: 'pausingFleet',
    step: { index: 0, name: 'canary', total: 0 },
    updated: started,
    result: null,
    reason: '',
    started,
    ended: null,
    heartbeat: started,
  };
}

export function sampleProgress(version: string | null, fields: Partial<DroneProgressRecord> = {}): DroneProgressRecord {
  const before = { version: 'v42', sha256: 'aa11' };
  return {
    before,
    now: version === null ? before : { version, sha256: `${version}-sha` },
    pauseSent: true,
    pushSent: version !== null,
    rolledBack: false,
    lastError: null,
    ...fields,
  };
}

/** Events as they were given to appendAudit: read back, without the chain's `seq` and `prev`. */
export function unchained(events: readonly AuditEvent[]): AuditEvent[] {
  return events.map(
    (event) =>
      Object.fromEntries(Object.entries(event).filter(([key]) => key !== 'seq' && key !== 'prev')) as AuditEvent,
  );
}

/**
 * Writes something of each concern for `id`: a snapshot (`canary`), progress in two saves (drone-1 pushed
 * v43, drone-2 not yet), and one audit append of a transition and drone-1's push.
 */
export async function writeEachConcern(store: StateStore, id: string): Promise<void> {
  await store.saveSnapshot(id, { value: 'canary' });
  await store.saveProgress(id, { 'drone-1': sampleProgress(null) });
  await store.saveProgress(id, { 'drone-1': sampleProgress('v43'), 'drone-2': sampleProgress(null) });
  await store.appendAudit(id, [
    { t: START, kind: 'transition' },
    { t: START, kind: 'push', drone: 'drone-1' },
  ]);
}

export function describeStateStoreConformance(
  name: string,
  makeStore: (context: StateStoreContext) => Promise<StateStoreHarness>,
): void {
  describe(`StateStore conformance: ${name}`, () => {
    let now: number;
    let harness: StateStoreHarness;
    let store: StateStore;

    const command = (type: OperatorCommand['type'], reason: string): OperatorCommand => ({
      type,
      by: 'mira@ops-1',
      reason,
      at: now,
    });

    beforeEach(async () => {
      now = START;
      harness = await makeStore({ now: () => now });
      store = harness.open();
    });

    afterEach(async () => {
      await harness.dispose();
    });

    describe('records', () => {
      it('gives back what was created, merges updates and lists newest first', async () => {
        await store.createRollout(sampleRecord('aim-v41', START - 2_000));
        await store.createRollout(sampleRecord('aim-v43', START));
        await store.createRollout(sampleRecord('aim-v42', START - 1_000));
        expect(await store.getRollout('aim-v43')).toEqual(sampleRecord('aim-v43'));

        now += 5_000;
        const updated = await store.updateRollout('aim-v42', {
          stage: 'canary: baking',
          step: { index: 1, name: 'canary', total: 3 },
        });
        expect(updated).toEqual({
          ...sampleRecord('aim-v42', START - 1_000),
          stage: 'canary: baking',
          step: { index: 1, name: 'canary', total: 3 },
          updated: now,
        });
        expect(await harness.open().getRollout('aim-v42')).toEqual(updated);

        const ended = await store.updateRollout('aim-v42', { result: 'promoted', ended: now, updated: now + 1 });
        expect(ended).toMatchObject({ stage: 'canary: baking', result: 'promoted', ended: now, updated: now + 1 });
        expect((await store.listRollouts()).map((record) => record.id)).toEqual(['aim-v43', 'aim-v42', 'aim-v41']);
      });

      it('never changes the id, and leaves out patch keys set to undefined', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const patch = { id: 'other', reason: undefined, stage: 'rollingBack' } as unknown as Partial<RolloutRecord>;
        const updated = await store.updateRollout('aim-v43', patch);
        expect(updated).toMatchObject({ id: 'aim-v43', reason: '', stage: 'rollingBack' });
        expect(await store.getRollout('other')).toBeNull();
      });

      it('refuses to create the same id twice, keeping the first record', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const error = await rejection(harness.open().createRollout({ ...sampleRecord('aim-v43'), name: 'impostor' }));
        expect(error.code).toBe('E_STATE_STORE');
        expect((await store.getRollout('aim-v43'))?.name).toBe('aim-sensitivity-v43');
      });

      it('rejects a malformed record or patch before writing anything', async () => {
        const broken = { ...sampleRecord('aim-v43'), step: { index: 'one' } } as unknown as RolloutRecord;
        await expect(store.createRollout(broken)).rejects.toThrow(/step\.index/);
        expect(await store.listRollouts()).toEqual([]);
        await store.createRollout(sampleRecord('aim-v43'));
        await expect(store.updateRollout('aim-v43', { drones: -1 })).rejects.toThrow(/drones/);
        expect(await store.getRollout('aim-v43')).toEqual(sampleRecord('aim-v43'));
      });

      it('lists nothing in an empty store', async () => {
        expect(await store.listRollouts()).toEqual([]);
      });

      it('fails with a clear error naming the corrupt record, for get and list alike', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const where = await harness.corruptRecord('aim-v43');
        for (const attempt of [
          () => store.getRollout('aim-v43'),
          () => store.listRollouts(),
          () => store.updateRollout('aim-v43', { stage: 'x' }),
        ]) {
          const error = await rejection(attempt());
          expect(error.code).toBe('E_STATE_STORE');
          expect(error.message).toContain(where);
        }
      });

      it('keeps every field when two instances update one rollout at once', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const other = harness.open();
        const rounds = 20;
        await Promise.all([
          (async () => {
            for (let index = 0; index < rounds; index += 1)
              await store.updateRollout('aim-v43', { stage: `stage-${index}` });
          })(),
          (async () => {
            for (let index = 0; index < rounds; index += 1)
              await other.updateRollout('aim-v43', { reason: `reason-${index}` });
          })(),
        ]);
        expect(await store.getRollout('aim-v43')).toMatchObject({
          stage: `stage-${rounds - 1}`,
          reason: `reason-${rounds - 1}`,
        });
      });
    });

    describe('an unknown rollout', () => {
      it('fails every write with E_ROLLOUT_NOT_FOUND and reads as empty', async () => {
        for (const id of ['nope', '../escape', '']) {
          const writes = [
            () => store.updateRollout(id, { stage: 'x' }),
            () => store.saveSnapshot(id, { value: 1 }),
            () => store.saveProgress(id, { 'drone-1': sampleProgress('v43') }),
            () => store.appendAudit(id, [{ t: now, kind: 'push' }]),
            () => store.sendCommand(id, command('abort', 'typo')),
          ];
          for (const write of writes) {
            expect((await rejection(write())).code).toBe('E_ROLLOUT_NOT_FOUND');
          }
          expect(await store.getRollout(id)).toBeNull();
          expect(await store.loadSnapshot(id)).toBeNull();
          expect(await store.loadProgress(id)).toEqual({});
          expect(await store.readAudit(id)).toEqual([]);
          expect(await store.takeCommands(id)).toEqual([]);
        }
        expect(await store.listRollouts()).toEqual([]);
      });
    });

    describe('snapshots', () => {
      it('round-trips JSON and replaces the previous snapshot', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        expect(await store.loadSnapshot('aim-v43')).toBeNull();
        const first = {
          status: 'active',
          value: { canary: 'baking' },
          context: { fence: 7, verdicts: [{ verdict: 'pass', p: 0.4 }], hot: [] },
        };
        await store.saveSnapshot('aim-v43', first);
        expect(await harness.open().loadSnapshot('aim-v43')).toEqual(first);
        const second = { ...first, value: 'rollingBack', context: { ...first.context, hot: ['drone-7'] } };
        await store.saveSnapshot('aim-v43', second);
        expect(await store.loadSnapshot('aim-v43')).toEqual(second);
      });

      it('keeps the last of several saves made without waiting', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        await Promise.all(Array.from({ length: 10 }, (_, index) => store.saveSnapshot('aim-v43', { index })));
        expect(await store.loadSnapshot('aim-v43')).toEqual({ index: 9 });
      });
    });

    describe('progress', () => {
      it('folds every batch, the last one winning for each drone', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        expect(await store.loadProgress('aim-v43')).toEqual({});
        await store.saveProgress('aim-v43', {
          'drone-1': sampleProgress(null),
          'drone-2': sampleProgress(null),
          'drone-3': sampleProgress(null),
        });
        await store.saveProgress('aim-v43', { 'drone-1': sampleProgress('v43') });
        await store.saveProgress('aim-v43', {});
        await harness.open().saveProgress('aim-v43', {
          'drone-2': sampleProgress('v43', { lastError: 'timeout' }),
          'drone-1': sampleProgress(null, { rolledBack: true }),
        });
        expect(await harness.open().loadProgress('aim-v43')).toEqual({
          'drone-1': sampleProgress(null, { rolledBack: true }),
          'drone-2': sampleProgress('v43', { lastError: 'timeout' }),
          'drone-3': sampleProgress(null),
        });
      });

      it('rejects a malformed change naming the drone and key', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const bad = { 'drone-9': { ...sampleProgress('v43'), pushSent: 'yes' } } as unknown as Record<
          string,
          DroneProgressRecord
        >;
        await expect(store.saveProgress('aim-v43', bad)).rejects.toThrow(/drone-9\.pushSent/);
        expect(await store.loadProgress('aim-v43')).toEqual({});
      });
    });

    describe('audit', () => {
      it('appends in order and never rewrites what was read before', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        expect(await store.readAudit('aim-v43')).toEqual([]);
        const first: AuditEvent[] = [
          { t: now, kind: 'transition', to: 'pausingFleet' },
          { t: now + 1, kind: 'pause', drone: 'drone-1', ok: true },
        ];
        await store.appendAudit('aim-v43', first);
        const readOnce = await store.readAudit('aim-v43');
        const readTwice = await harness.open().readAudit('aim-v43');
        expect(readTwice).toEqual(readOnce);
        expect(unchained(readOnce)).toEqual(first);

        const second: AuditEvent[] = [
          {
            t: now + 2,
            kind: 'push',
            drone: 'drone-1',
            version: 'v43',
            sha256: '3f2a9c1b',
            ok: true,
            detail: { retries: 0 },
          },
        ];
        await harness.open().appendAudit('aim-v43', second);
        await store.appendAudit('aim-v43', []);
        const after = await store.readAudit('aim-v43');
        expect(after.slice(0, readOnce.length)).toEqual(readOnce);
        expect(unchained(after)).toEqual([...first, ...second]);
        expect(after.map((event) => event['seq'])).toEqual([0, 1, 2]);
        expect(verifyChain('aim-v43', await store.readAuditLines('aim-v43'))).toMatchObject({ ok: true, events: 3 });
      });

      it('keeps every event of batches appended at once from two instances, each batch in order', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const other = harness.open();
        const batch = (writer: string, index: number): AuditEvent[] =>
          Array.from({ length: 5 }, (_, n) => ({ t: now, kind: 'push', writer, batch: index, n }));
        await Promise.all(
          Array.from({ length: 10 }, (_, index) => [
            store.appendAudit('aim-v43', batch('a', index)),
            other.appendAudit('aim-v43', batch('b', index)),
          ]).flat(),
        );
        const events = await store.readAudit('aim-v43');
        expect(events).toHaveLength(100);
        for (let start = 0; start < events.length; start += 5) {
          const slice = events.slice(start, start + 5);
          expect(slice.map((event) => event['n'])).toEqual([0, 1, 2, 3, 4]);
          expect(new Set(slice.map((event) => `${String(event['writer'])}${String(event['batch'])}`)).size).toBe(1);
        }
        // One chain through both writers' batches.
        expect(events.map((event) => event['seq'])).toEqual(Array.from({ length: 100 }, (_, seq) => seq));
        expect(verifyChain('aim-v43', await store.readAuditLines('aim-v43'))).toMatchObject({ ok: true, events: 100 });
      });

      it('rejects an event without a time or a kind', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const bad = [{ t: now, kind: 'push' }, { t: now }] as unknown as AuditEvent[];
        await expect(store.appendAudit('aim-v43', bad)).rejects.toThrow(/1\.kind/);
        expect(await store.readAudit('aim-v43')).toEqual([]);
      });
    });

    describe('operator commands', () => {
      it('hands each command out once, oldest first, whichever instance sent or takes it', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const cli = harness.open();
        const runner = harness.open();
        expect(await runner.takeCommands('aim-v43')).toEqual([]);
        await cli.sendCommand('aim-v43', command('promote', 'gate looks fine'));
        now += 1;
        await harness.open().sendCommand('aim-v43', command('abort', 'heart rate'));
        now += 1;
        await cli.sendCommand('aim-v43', command('abort', 'again'));
        expect((await runner.takeCommands('aim-v43')).map((taken) => taken.reason)).toEqual([
          'gate looks fine',
          'heart rate',
          'again',
        ]);
        expect(await runner.takeCommands('aim-v43')).toEqual([]);
        expect(await cli.takeCommands('aim-v43')).toEqual([]);
      });

      it('keeps the order of commands sent within one millisecond', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        for (let index = 0; index < 12; index += 1) {
          await store.sendCommand('aim-v43', command('abort', `r${index}`));
        }
        const taken = await harness.open().takeCommands('aim-v43');
        expect(taken.map((each) => each.reason)).toEqual(Array.from({ length: 12 }, (_, index) => `r${index}`));
        expect(taken[0]).toEqual(command('abort', 'r0'));
      });

      it('never gives one command to two instances taking at the same time', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const sender = harness.open();
        const takers = [harness.open(), harness.open()];
        const taken: string[] = [];
        const take = async (taker: StateStore): Promise<void> => {
          const batch = (await taker.takeCommands('aim-v43')).map((each) => each.reason ?? '');
          // Oldest first within every batch: reasons carry the send order.
          expect(batch).toEqual([...batch].sort((a, b) => Number(a) - Number(b)));
          taken.push(...batch);
        };
        let sent = 0;
        for (let round = 0; round < 30; round += 1) {
          const sends = Array.from({ length: 3 }, async () => {
            sent += 1;
            const reason = String(sent);
            now += 1;
            await sender.sendCommand('aim-v43', command('abort', reason));
          });
          await Promise.all([...sends, ...takers.map(take), ...takers.map(take)]);
        }
        await Promise.all(takers.map(take));
        expect(taken).toHaveLength(sent);
        expect(new Set(taken).size).toBe(sent);
      });

      it('rejects a malformed command', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        const bad = { type: 'explode', by: 'x', at: now } as unknown as OperatorCommand;
        await expect(store.sendCommand('aim-v43', bad)).rejects.toThrow(/type/);
        expect(await store.takeCommands('aim-v43')).toEqual([]);
      });
    });

    describe('removal', () => {
      it('removes a rollout and all it left, whole, and leaves the others alone', async () => {
        await store.createRollout(sampleRecord('aim-v42', START - 1_000));
        await store.createRollout(sampleRecord('aim-v43'));
        await store.saveSnapshot('aim-v43', { value: 'promoted' });
        await store.saveProgress('aim-v43', { 'drone-1': sampleProgress('v43') });
        await store.appendAudit('aim-v43', [{ t: now, kind: 'ended' }]);
        await store.sendCommand('aim-v43', command('abort', 'late'));

        expect(await harness.open().removeRollout('aim-v43')).toBe(true);

        for (const reader of [store, harness.open()]) {
          expect(await reader.getRollout('aim-v43')).toBeNull();
          expect(await reader.loadSnapshot('aim-v43')).toBeNull();
          expect(await reader.loadProgress('aim-v43')).toEqual({});
          expect(await reader.readAudit('aim-v43')).toEqual([]);
          expect(await reader.takeCommands('aim-v43')).toEqual([]);
          expect((await reader.listRollouts()).map((record) => record.id)).toEqual(['aim-v42']);
        }
        expect(await store.getRollout('aim-v42')).toEqual(sampleRecord('aim-v42', START - 1_000));
      });

      it('answers false for a rollout that is not there, and writes to a removed one fail', async () => {
        for (const id of ['nope', '../escape', '']) expect(await store.removeRollout(id)).toBe(false);
        await store.createRollout(sampleRecord('aim-v43'));
        expect(await store.removeRollout('aim-v43')).toBe(true);
        expect(await store.removeRollout('aim-v43')).toBe(false);
        expect((await rejection(store.updateRollout('aim-v43', { stage: 'x' }))).code).toBe('E_ROLLOUT_NOT_FOUND');
        expect((await rejection(store.appendAudit('aim-v43', [{ t: now, kind: 'push' }]))).code).toBe(
          'E_ROLLOUT_NOT_FOUND',
        );
      });

      it('lets the id be used again, from nothing', async () => {
        await store.createRollout(sampleRecord('aim-v43'));
        await store.appendAudit('aim-v43', [{ t: now, kind: 'started' }]);
        await store.removeRollout('aim-v43');
        await store.createRollout({ ...sampleRecord('aim-v43'), name: 'second' });
        expect(await store.getRollout('aim-v43')).toMatchObject({ name: 'second' });
        expect(await store.readAudit('aim-v43')).toEqual([]);
        await store.appendAudit('aim-v43', [{ t: now, kind: 'started', again: true }]);
        expect(unchained(await harness.open().readAudit('aim-v43'))).toEqual([
          { t: now, kind: 'started', again: true },
        ]);
        expect(await store.readAudit('aim-v43')).toMatchObject([{ seq: 0 }]);
      });
    });

    it('fails calls made after close, once the calls in flight are done', async () => {
      await store.createRollout(sampleRecord('aim-v43'));
      const inFlight = store.appendAudit('aim-v43', [{ t: now, kind: 'transition' }]);
      await store.close();
      await inFlight;
      expect((await rejection(store.getRollout('aim-v43'))).code).toBe('E_STATE_STORE');
      expect(await harness.open().readAudit('aim-v43')).toHaveLength(1);
    });
  });
}
