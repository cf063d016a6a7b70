import { createHash, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_CHUNK_BYTES, batchPuts, chunkLines, MAX_TXN_BYTES, MAX_TXN_OPS } from '../../src/store/etcd/batches.js';
import { benchEtcdStateStore } from '../../bench/store-etcd.js';
import { verifyChain } from '../../src/store/audit-chain.js';
import { createEtcdStateStore, type EtcdStateStoreOptions } from '../../src/store/etcd/store.js';
import type { AuditEvent, DroneProgressRecord, StateStore } from '../../src/store/types.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { expectUnansweredWhileStopped, useEtcd } from '../helpers/etcd-suite.js';
import { rejection } from '../helpers/rejection.js';
import {
  describeStateStoreConformance,
  sampleProgress,
  sampleRecord,
  START,
  unchained,
  writeEachConcern,
  type StateStoreContext,
  type StateStoreHarness,
} from './conformance.js';

const ID = 'aim-v43';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('cutting writes to fit etcd', () => {
  const put = (index: number, bytes: number) => ({ key: Buffer.from(`k/${index}`), value: Buffer.alloc(bytes) });

  it('puts at most 128 operations and 1 MiB in one txn, in order', () => {
    const small = batchPuts(Array.from({ length: 300 }, (_, index) => put(index, 10)));
    expect(small.map((batch) => batch.length)).toEqual([128, 128, 44]);
    expect(small.flat().map((each) => each.key.toString())).toEqual(
      Array.from({ length: 300 }, (_, index) => `k/${index}`),
    );
    expect(
      batchPuts(
        Array.from({ length: 10 }, (_, index) => put(index, 10)),
        MAX_TXN_OPS - 1,
      ),
    ).toHaveLength(1);

    const large = batchPuts(Array.from({ length: 10 }, (_, index) => put(index, 300 * 1024)));
    expect(large.map((batch) => batch.length)).toEqual([3, 3, 3, 1]);
    for (const batch of large) {
      expect(batch.reduce((sum, each) => sum + each.key.length + each.value.length, 0)).toBeLessThanOrEqual(
        MAX_TXN_BYTES,
      );
    }
  });

  it('refuses one value over 1 MiB, and chunks audit lines by 64 KiB', () => {
    expect(() => batchPuts([put(0, MAX_TXN_BYTES)])).toThrow(/k\/0 is \d+ bytes/);
    const line = `${'x'.repeat(999)}\n`;
    const chunks = chunkLines(Array.from({ length: 200 }, () => line));
    expect(chunks.map((chunk) => chunk.length)).toEqual([65, 65, 65, 5]);
    expect(chunks.every((chunk) => chunk.join('').length <= AUDIT_CHUNK_BYTES)).toBe(true);
    expect(chunkLines(['a\n', `${'y'.repeat(AUDIT_CHUNK_BYTES)}\n`, 'b\n']).map((chunk) => chunk.length)).toEqual([
      1, 1, 1,
    ]);
  });
});

describe.skipIf(!etcdAvailable())('etcd state store', () => {
  const etcd = useEtcd();

  type EtcdHarness = StateStoreHarness & {
    readonly prefix: string;
    open(options?: Partial<EtcdStateStoreOptions>): StateStore;
    /** Every key under the harness's prefix, without it, in key order. */
    keys(): Promise<string[]>;
    value(key: string): Promise<string | null>;
  };

  /** Stores over one fresh prefix, so that every test starts with an empty store. */
  function makeHarness(context: StateStoreContext): EtcdHarness {
    const prefix = `test-${randomUUID()}/`;
    const opened: StateStore[] = [];
    return {
      prefix,
      open: (options: Partial<EtcdStateStoreOptions> = {}) => {
        const store = createEtcdStateStore({ endpoints: [etcd.server.endpoint], prefix, now: context.now, ...options });
        opened.push(store);
        return store;
      },
      corruptRecord: async (id) => {
        const key = `${prefix}rollouts/${id}/record`;
        await etcd.inspector.put(key).value('{"id": "');
        return key;
      },
      keys: async () => (await etcd.inspector.getAll().prefix(prefix).keys()).map((key) => key.slice(prefix.length)),
      value: (key) => etcd.inspector.get(`${prefix}${key}`).string(),
      dispose: async () => {
        await Promise.all(opened.map((store) => store.close()));
        await etcd.inspector.delete().prefix(prefix);
      },
    };
  }

  describeStateStoreConformance('etcd', async (context) => makeHarness(context));

  describe('etcd specifics', () => {
    let now: number;
    let harness: EtcdHarness;
    let store: StateStore;

    beforeEach(async () => {
      now = START;
      harness = makeHarness({ now: () => now });
      store = harness.open();
      await store.createRollout(sampleRecord(ID));
    });

    afterEach(async () => {
      await harness.dispose();
    });

    it('keeps one key per concern under <prefix>rollouts/<id>/ and nothing of taken commands', async () => {
      await writeEachConcern(store, ID);
      await store.appendAudit(ID, [{ t: START, kind: 'resume' }]);
      await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: START });
      const dir = `rollouts/${ID}/`;
      const keys = await harness.keys();
      expect(keys.filter((key) => !key.startsWith(`${dir}commands/`))).toEqual(
        [
          'audit-next',
          'audit/000000000000',
          'audit/000000000002',
          'progress/drone-1',
          'progress/drone-2',
          'record',
          'snapshot',
        ].map((key) => `${dir}${key}`),
      );
      expect(keys.filter((key) => key.startsWith(`${dir}commands/`))).toEqual([
        expect.stringMatching(/^rollouts\/aim-v43\/commands\/0*\d+-\d{9}-[0-9a-f]{8}$/),
      ]);
      expect(JSON.parse((await harness.value(`${dir}record`)) ?? '')).toEqual(sampleRecord(ID));
      expect(await harness.value(`${dir}snapshot`)).toBe('{"value":"canary"}');
      expect(await harness.value(`${dir}audit-next`)).toBe('3');
      // Each event chained: its seq, and the sha256 of the event before it in canonical form (keys sorted).
      const genesis = sha256(ID);
      const first = `{"kind":"transition","prev":"${genesis}","seq":0,"t":${START}}`;
      expect(await harness.value(`${dir}audit/000000000000`)).toBe(
        `{"t":${START},"kind":"transition","seq":0,"prev":"${genesis}"}\n` +
          `{"t":${START},"kind":"push","drone":"drone-1","seq":1,"prev":"${sha256(first)}"}\n`,
      );
      expect(JSON.parse((await harness.value(`${dir}audit/000000000002`)) ?? '')).toMatchObject({
        kind: 'resume',
        seq: 2,
      });
      expect(JSON.parse((await harness.value(`${dir}progress/drone-1`)) ?? '')).toEqual(sampleProgress('v43'));

      // A finished rollout leaves its history and nothing else.
      await store.updateRollout(ID, { result: 'promoted', ended: now, stage: 'ended' });
      expect(await store.takeCommands(ID)).toHaveLength(1);
      expect((await harness.keys()).filter((key) => key.includes('/commands/'))).toEqual([]);
    });

    it('removes every key of a rollout, and only that rollout', async () => {
      await store.createRollout(sampleRecord('aim-v44'));
      await store.saveSnapshot(ID, { value: 'canary' });
      await store.saveProgress(ID, { 'drone-1': sampleProgress('v43') });
      await store.appendAudit(ID, [{ t: START, kind: 'transition' }]);
      await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: START });
      expect(await store.removeRollout(ID)).toBe(true);
      expect(await harness.keys()).toEqual(['rollouts/aim-v44/record']);
    });

    it('never gives one command to two instances taking at once, over many rounds', async () => {
      const sender = harness.open();
      const takers = [harness.open(), harness.open()];
      const taken: number[] = [];
      let sent = 0;
      const take = async (taker: StateStore): Promise<void> => {
        const batch = (await taker.takeCommands(ID)).map((command) => Number(command.reason));
        expect(batch).toEqual([...batch].sort((a, b) => a - b));
        taken.push(...batch);
      };
      for (let round = 0; round < 150; round += 1) {
        const sends = Array.from({ length: 4 }, () => {
          sent += 1;
          return sender.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', reason: String(sent), at: now });
        });
        await Promise.all([...sends, ...takers.map(take), ...takers.map(take)]);
      }
      await Promise.all(takers.map(take));
      expect(taken).toHaveLength(sent);
      expect(new Set(taken).size).toBe(sent);
      expect((await harness.keys()).filter((key) => key.includes('/commands/'))).toEqual([]);
    });

    it('loses and overwrites no audit event appended from two instances at once, seqs unique and contiguous', async () => {
      const writers = { a: store, b: harness.open() };
      const batch = (writer: string, index: number, size = 3, pad = ''): AuditEvent[] =>
        Array.from({ length: size }, (_, n) => ({
          t: now,
          kind: 'push',
          writer,
          batch: index,
          n,
          ...(pad ? { pad } : {}),
        }));
      // Besides many small batches, one of 2 MiB: more than one txn can hold.
      const big = batch('a', 999, 4_000, 'x'.repeat(500));
      await Promise.all([
        ...Array.from({ length: 40 }, (_, index) => [
          writers.a.appendAudit(ID, batch('a', index)),
          writers.b.appendAudit(ID, batch('b', index)),
        ]).flat(),
        writers.a.appendAudit(ID, big),
      ]);
      const events = await harness.open().readAudit(ID);
      expect(events).toHaveLength(240 + big.length);
      const ids = events.map((event) => `${String(event['writer'])}/${String(event['batch'])}/${String(event['n'])}`);
      expect(new Set(ids).size).toBe(events.length);
      for (const writer of ['a', 'b']) {
        expect(events.filter((event) => event['writer'] === writer && event['batch'] !== 999)).toHaveLength(120);
      }
      // Each small batch is in one chunk, in order; the big one in order, if cut into parts.
      const small = events.filter((event) => event['batch'] !== 999);
      for (let start = 0; start < small.length; start += 3) {
        expect(small.slice(start, start + 3).map((event) => event['n'])).toEqual([0, 1, 2]);
      }
      expect(events.filter((event) => event['batch'] === 999).map((event) => event['n'])).toEqual(
        big.map((event) => event['n']),
      );
      // One chain through every writer's batches, the big one's parts included.
      expect(events.map((event) => event['seq'])).toEqual(events.map((_, seq) => seq));
      expect(verifyChain(ID, await store.readAuditLines(ID))).toMatchObject({ ok: true, events: events.length });

      // Chunk keys carry the seq of their first event: they start at 0 and follow on without gap or overlap.
      const dir = `rollouts/${ID}/`;
      let expected = 0;
      for (const key of (await harness.keys()).filter((each) => each.startsWith(`${dir}audit/`))) {
        expect(Number(key.slice(`${dir}audit/`.length))).toBe(expected);
        const lines = ((await harness.value(key)) ?? '').split('\n').length - 1;
        expect(Buffer.byteLength((await harness.value(key)) ?? '')).toBeLessThanOrEqual(64 * 1024);
        expected += lines;
      }
      expect(expected).toBe(events.length);
      expect(await harness.value(`${dir}audit-next`)).toBe(String(events.length));
    });

    it('refuses to append when the counter was reset under existing events, overwriting nothing', async () => {
      await store.appendAudit(ID, [{ t: now, kind: 'transition' }]);
      await etcd.inspector.delete().key(`${harness.prefix}rollouts/${ID}/audit-next`);
      const error = await rejection(harness.open().appendAudit(ID, [{ t: now, kind: 'push' }]));
      expect(error.code).toBe('E_STATE_STORE');
      expect(error.message).toContain(`${harness.prefix}rollouts/${ID}/audit-next`);
      expect(unchained(await store.readAudit(ID))).toEqual([{ t: now, kind: 'transition' }]);
    });

    it('saves the progress of 3,000 drones in one call, in txns etcd takes', async () => {
      const changes: Record<string, DroneProgressRecord> = {};
      for (let index = 0; index < 3_000; index += 1) {
        changes[`drone-${index}`] = sampleProgress(index % 2 === 0 ? 'v43' : null);
      }
      await store.saveProgress(ID, changes);
      expect(await harness.open().loadProgress(ID)).toEqual(changes);
      expect((await harness.keys()).filter((key) => key.includes('/progress/'))).toHaveLength(3_000);

      // Large values: 200 drones of 16 KiB each are 3.2 MiB, over etcd's 1.5 MiB for one request.
      const error = 'e'.repeat(16 * 1024);
      const large = Object.fromEntries(
        Array.from({ length: 200 }, (_, index) => [`drone-${index}`, sampleProgress('v43', { lastError: error })]),
      );
      await store.saveProgress(ID, large);
      const loaded = await store.loadProgress(ID);
      expect(Object.keys(loaded)).toHaveLength(3_000);
      expect(loaded['drone-199']).toEqual(sampleProgress('v43', { lastError: error }));
      expect(loaded['drone-200']).toEqual(changes['drone-200']);
    });

    it('loses no update when instances race on one record', async () => {
      const writers = [store, harness.open(), harness.open(), harness.open()];
      for (let round = 0; round < 20; round += 1) {
        await Promise.all([
          writers[0]?.updateRollout(ID, { stage: `stage-${round}` }),
          writers[1]?.updateRollout(ID, { reason: `reason-${round}` }),
          ...writers.map((writer, index) => writer.updateRollout(ID, { [`writer${index}`]: round })),
        ]);
        expect(await harness.open().getRollout(ID)).toMatchObject({
          stage: `stage-${round}`,
          reason: `reason-${round}`,
          writer0: round,
          writer1: round,
          writer2: round,
          writer3: round,
        });
      }
    });

    it('fails with E_STATE_STORE saying etcd did not answer while it is stopped, and works again after', async () => {
      await expectUnansweredWhileStopped(etcd, 'E_STATE_STORE', [
        () => store.getRollout(ID),
        () => store.listRollouts(),
        () => store.updateRollout(ID, { stage: 'x' }),
        () => store.appendAudit(ID, [{ t: now, kind: 'push' }]),
        () => store.saveProgress(ID, { 'drone-1': sampleProgress('v43') }),
        () => store.takeCommands(ID),
      ]);
      await expect(store.updateRollout(ID, { stage: 'back' })).resolves.toMatchObject({ stage: 'back' });
    });

    it('fails with E_STATE_STORE when nothing listens at the endpoint', async () => {
      const nowhere = harness.open({ endpoints: ['127.0.0.1:1'] });
      const error = await rejection(nowhere.listRollouts());
      expect(error.code).toBe('E_STATE_STORE');
      expect(error.message).toMatch(/^etcd at 127\.0\.0\.1:1 did not answer \(list rollouts: .+\): check that it runs/);
    });

    it('names the key of a corrupt snapshot, progress, audit line or command, and takes no command then', async () => {
      const dir = `${harness.prefix}rollouts/${ID}/`;
      await etcd.inspector.put(`${dir}snapshot`).value('{"value": ');
      expect((await rejection(store.loadSnapshot(ID))).message).toContain(`${dir}snapshot is corrupt`);

      await store.saveProgress(ID, { 'drone-1': sampleProgress(null) });
      await etcd.inspector.put(`${dir}progress/drone-2`).value('{"before": null}');
      const progressError = await rejection(store.loadProgress(ID));
      expect(progressError.code).toBe('E_STATE_STORE');
      expect(progressError.message).toContain(`${dir}progress/drone-2 is corrupt: now:`);

      await store.appendAudit(ID, [{ t: now, kind: 'transition' }]);
      await etcd.inspector
        .put(`${dir}audit/000000000000`)
        .value(`{"t":${now},"kind":"transition"}\n{"t":"noon","kind":"push"}\n`);
      expect((await rejection(store.readAudit(ID))).message).toContain(`${dir}audit/000000000000:2 is corrupt: t:`);

      await store.sendCommand(ID, { type: 'abort', by: 'mira@ops-1', at: now });
      await etcd.inspector.put(`${dir}commands/000000000000001-bad`).value('{"type": "explode"}');
      const commandError = await rejection(store.takeCommands(ID));
      expect(commandError.message).toContain(`${dir}commands/000000000000001-bad is corrupt`);
      await etcd.inspector.delete().key(`${dir}commands/000000000000001-bad`);
      expect(await store.takeCommands(ID)).toEqual([{ type: 'abort', by: 'mira@ops-1', at: now }]);

      await etcd.inspector.put(`${dir}record`).value(JSON.stringify({ ...sampleRecord(ID), id: 'aim-v99' }));
      expect((await rejection(store.listRollouts())).message).toMatch(/record is corrupt: id: "aim-v99"/);
    });

    it('passes over keys that are not a rollout record when listing', async () => {
      const root = `${harness.prefix}rollouts/`;
      await etcd.inspector.put(`${root}stray`).value('x');
      await etcd.inspector.put(`${root}no-record/progress/drone-1`).value('{}');
      await etcd.inspector.put(`${root}.hidden/record`).value('{');
      await etcd.inspector.put(`${root}/record`).value('{');
      await store.createRollout(sampleRecord('aim-v44', START + 1));
      expect((await store.listRollouts()).map((record) => record.id)).toEqual(['aim-v44', ID]);
      expect(await store.getRollout('no-record')).toBeNull();
    });

    it('refuses a value over one etcd request before writing it', async () => {
      const error = await rejection(store.saveSnapshot(ID, { blob: 'x'.repeat(2 * 1024 * 1024) }));
      expect(error.code).toBe('E_STATE_STORE');
      expect(error.message).toMatch(/snapshot of aim-v43 is \d+ bytes, over the 1048576 bytes/);
      expect(await store.loadSnapshot(ID)).toBeNull();
    });

    it('says what it received when an argument is wrong', async () => {
      expect(() => createEtcdStateStore({ endpoints: [] })).toThrow(/`endpoints`/);
      expect(() => createEtcdStateStore({ endpoints: [''] })).toThrow(/`endpoints\[0\]`/);
      expect(() => createEtcdStateStore({ endpoints: [etcd.server.endpoint], prefix: '' })).toThrow(/`prefix`/);
      expect(() =>
        createEtcdStateStore({ endpoints: [etcd.server.endpoint], now: 5 as unknown as () => number }),
      ).toThrow(/`now`/);
      await expect(store.saveSnapshot(ID, undefined)).rejects.toThrow(/`snapshot`/);
    });

    it('benchEtcdStateStore persists a 1,000-drone rollout and leaves nothing behind', async () => {
      const result = await benchEtcdStateStore([etcd.server.endpoint], 1_000);
      console.log(`etcd state store, 1,000 drones: ${JSON.stringify(result)}`);
      expect(result.transitions).toBe(40);
      expect(result.perTransitionMs).toBeCloseTo(result.totalMs / result.transitions, 1);
      expect(result.auditBytesPerDrone).toBeLessThan(2_048);
      // record, snapshot, 1,000 progress keys, the audit counter and at least one chunk per append.
      expect(result.keys).toBeGreaterThan(1_003);
      expect(await etcd.inspector.getAll().prefix('fleet-rollout-bench/').keys()).toEqual([]);
      await expect(benchEtcdStateStore([etcd.server.endpoint], 0)).rejects.toThrow(/`drones`/);
    });
  });
});
