import { randomUUID } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventHash, verifyChain } from '../../src/store/audit-chain.js';
import { createEtcdStateStore } from '../../src/store/etcd/store.js';
import type { AuditEvent, StateStore } from '../../src/store/types.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { useEtcd } from '../helpers/etcd-suite.js';
import { rejection } from '../helpers/rejection.js';
import { sampleRecord, START, unchained, type StateStoreContext, type StateStoreHarness } from './conformance.js';
import { makeEmbeddedHarness } from './embedded-harness.js';

/**
 * The hash chain as both backends keep it: appends from instances that come and go (a resumed process)
 * or write at once chain on one after the other, a log from before the chain is continued, and an edit
 * to what is stored is named by line.
 */

const ID = 'aim-v43';

interface ChainHarness extends StateStoreHarness {
  /** Stores `texts` as the whole audit log of `id`, as a version before the chain would have (each a line). */
  writeRawLog(id: string, texts: readonly string[]): Promise<void>;
  /** Replaces line `line` (1-based, as readAuditLines numbers it) of the stored log with `text`. */
  replaceLine(id: string, line: number, text: string): Promise<void>;
  /** Where a problem with the log's last line is named: the file, or the etcd key prefix. */
  readonly where: (id: string) => string;
}

function batch(writer: string, index: number, size = 3): AuditEvent[] {
  return Array.from({ length: size }, (_, n) => ({ t: START + n, kind: 'push', drone: `drone-${n}`, writer, index }));
}

function describeChainedAudit(name: string, makeHarness: (context: StateStoreContext) => Promise<ChainHarness>): void {
  describe(`the audit chain in the ${name} store`, () => {
    let harness: ChainHarness;
    let store: StateStore;

    beforeEach(async () => {
      harness = await makeHarness({ now: () => START });
      store = harness.open();
      await store.createRollout(sampleRecord(ID));
    });

    afterEach(async () => {
      await harness.dispose();
    });

    const verify = async (): Promise<ReturnType<typeof verifyChain>> =>
      verifyChain(ID, await harness.open().readAuditLines(ID));

    it('goes on from the last event when another instance appends, as `rollout resume` does', async () => {
      await store.appendAudit(ID, batch('run', 0));
      await store.appendAudit(ID, batch('run', 1));
      await store.close();

      const resumed = harness.open();
      await resumed.appendAudit(ID, batch('resume', 0));
      // An instance that wrote before the others: its idea of where the log ends is stale.
      const early = harness.open();
      await early.appendAudit(ID, batch('early', 0, 1));
      await resumed.appendAudit(ID, batch('resume', 1, 1));
      await early.appendAudit(ID, batch('early', 1, 1));

      const events = await harness.open().readAudit(ID);
      expect(events.map((event) => event['seq'])).toEqual(Array.from({ length: 12 }, (_, seq) => seq));
      expect(events[6]?.['prev']).toBe(eventHash(events[5]));
      expect(unchained(events)).toEqual([
        ...batch('run', 0),
        ...batch('run', 1),
        ...batch('resume', 0),
        ...batch('early', 0, 1),
        ...batch('resume', 1, 1),
        ...batch('early', 1, 1),
      ]);
      expect(await verify()).toMatchObject({ ok: true, events: 12 });
    });

    it('chains batches appended without waiting, from one instance and another at once', async () => {
      const other = harness.open();
      await Promise.all(
        Array.from({ length: 15 }, (_, index) => [
          store.appendAudit(ID, batch('a', index)),
          other.appendAudit(ID, batch('b', index, 2)),
        ]).flat(),
      );
      await store.appendAudit(ID, batch('a', 99));
      const verdict = await verify();
      expect(verdict).toMatchObject({ ok: true, events: 15 * 5 + 3 });
      // Each batch stays whole, in the order given.
      const events = await store.readAudit(ID);
      for (let start = 0; start < events.length;) {
        const size = events[start]?.['writer'] === 'a' ? 3 : 2;
        expect(events.slice(start, start + size).map((event) => event['drone'])).toEqual(
          Array.from({ length: size }, (_, n) => `drone-${n}`),
        );
        start += size;
      }
    });

    it('names the line edited in the store, and one that is no longer JSON', async () => {
      await store.appendAudit(ID, batch('run', 0, 4));
      await store.appendAudit(ID, batch('run', 1, 4));
      const lines = await store.readAuditLines(ID);
      expect(lines.map((line) => line.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

      await harness.replaceLine(ID, 6, (lines[5]?.text ?? '').replace('"drone-1"', '"drone-7"'));
      expect(await verify()).toEqual({
        ok: false,
        line: 6,
        fault: 'changed',
        problem: 'line 6 was changed: its hash does not match what line 7 recorded',
      });

      await harness.replaceLine(ID, 6, (lines[5]?.text ?? '').slice(0, 30));
      expect(await verify()).toEqual({
        ok: false,
        line: 6,
        fault: 'changed',
        problem: 'line 6 was changed: it is not valid JSON',
      });
    });

    it('continues a log recorded before the chain from its last event, and says it predates the chain', async () => {
      const legacy = batch('old', 0).map((event) => JSON.stringify(event));
      await harness.writeRawLog(ID, legacy);
      expect(await verify()).toMatchObject({ ok: false, line: 1, fault: 'unchained' });

      await harness.open().appendAudit(ID, batch('resume', 0, 2));
      const events = await store.readAudit(ID);
      expect(events.slice(0, 3).every((event) => event['seq'] === undefined)).toBe(true);
      expect(events.slice(3).map((event) => event['seq'])).toEqual([3, 4]);
      expect(events[3]?.['prev']).toBe(eventHash(JSON.parse(legacy[2] ?? '')));
      expect(await verify()).toEqual({
        ok: false,
        line: 1,
        fault: 'unchained',
        problem:
          'lines 1 to 3 predate the hash chain (recorded before audit events were chained) and cannot be verified; the 2 events after them chain on intact',
      });
    });

    it('refuses to append after a last line that cannot be chained to, writing nothing', async () => {
      await store.appendAudit(ID, batch('run', 0, 2));
      const lines = await store.readAuditLines(ID);
      await harness.replaceLine(ID, 2, '{"t": 1, "kind": "push", "oops"}');
      const error = await rejection(harness.open().appendAudit(ID, batch('resume', 0, 1)));
      expect(error.code).toBe('E_STATE_STORE');
      expect(error.message).toContain(harness.where(ID));
      expect(error.message).toContain('its last line cannot be chained to: it is not valid JSON');
      expect((await store.readAuditLines(ID)).map((line) => line.text)).toEqual([
        lines[0]?.text,
        '{"t": 1, "kind": "push", "oops"}',
      ]);
    });

    it('refuses events that bring their own seq or prev, writing nothing', async () => {
      await expect(store.appendAudit(ID, [{ t: START, kind: 'push', seq: 3 }])).rejects.toThrow(
        /`events\[0\]` to leave out `seq`/,
      );
      await expect(store.appendAudit(ID, [{ t: START, kind: 'push', prev: 'x' }])).rejects.toThrow(TypeError);
      expect(await store.readAuditLines(ID)).toEqual([]);
    });
  });
}

describeChainedAudit('embedded', async (context) => {
  const harness = await makeEmbeddedHarness(context);
  const file = (id: string): string => join(harness.dir, 'rollouts', id, 'audit.ndjson');
  return {
    ...harness,
    where: file,
    writeRawLog: (id, texts) => writeFile(file(id), texts.map((text) => `${text}\n`).join('')),
    replaceLine: async (id, line, text) => {
      const texts = (await readFile(file(id), 'utf8')).split('\n');
      texts[line - 1] = text;
      await writeFile(file(id), texts.join('\n'));
    },
  };
});

describe('the audit chain in audit.ndjson', () => {
  it('goes on from a last line longer than one read, past blank lines and a torn tail', async () => {
    const harness = await makeEmbeddedHarness({ now: () => START });
    try {
      const store = harness.open();
      await store.createRollout(sampleRecord(ID));
      const file = join(harness.dir, 'rollouts', ID, 'audit.ndjson');
      // 200 KiB of é: longer than the 64 KiB read back from the end at a time, and cut mid-character there.
      await store.appendAudit(ID, [{ t: START, kind: 'judgement', samples: 'é'.repeat(100 * 1024) }]);
      await appendFile(file, '\n  \n{"t": 1, "kind": "pu');
      await harness.open().appendAudit(ID, [{ t: START, kind: 'ended' }]);

      const lines = await store.readAuditLines(ID);
      expect(lines.map((line) => line.number)).toEqual([1, 4]);
      expect(verifyChain(ID, lines)).toMatchObject({ ok: true, events: 2 });
      expect(JSON.parse(lines[1]?.text ?? '')).toMatchObject({ kind: 'ended', seq: 1 });
    } finally {
      await harness.dispose();
    }
  });
});

describe.skipIf(!etcdAvailable())('etcd', () => {
  const etcd = useEtcd();

  describeChainedAudit('etcd', async (context) => {
    const prefix = `test-${randomUUID()}/`;
    const opened: StateStore[] = [];
    const auditKey = (id: string): string => `${prefix}rollouts/${id}/audit/`;
    return {
      open: () => {
        const store = createEtcdStateStore({ endpoints: [etcd.server.endpoint], prefix, now: context.now });
        opened.push(store);
        return store;
      },
      corruptRecord: () => Promise.reject(new Error('not used here')),
      dispose: async () => {
        await Promise.all(opened.map((store) => store.close()));
        await etcd.inspector.delete().prefix(prefix);
      },
      where: auditKey,
      writeRawLog: async (id, texts) => {
        await etcd.inspector.put(`${auditKey(id)}000000000000`).value(texts.map((text) => `${text}\n`).join(''));
        await etcd.inspector.put(`${prefix}rollouts/${id}/audit-next`).value(String(texts.length));
      },
      replaceLine: async (id, line, text) => {
        const chunks = await etcd.inspector.getAll().prefix(auditKey(id)).sort('Key', 'Ascend').strings();
        let first = 1;
        for (const [key, value] of Object.entries(chunks)) {
          const texts = value.split('\n');
          texts.pop();
          if (line < first + texts.length) {
            texts[line - first] = text;
            await etcd.inspector.put(key).value(texts.map((each) => `${each}\n`).join(''));
            return;
          }
          first += texts.length;
        }
        throw new Error(`no line ${line} in ${auditKey(id)}`);
      },
    };
  });
});
