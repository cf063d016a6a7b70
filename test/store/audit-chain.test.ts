import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertUnchained,
  canonicalJson,
  chainEvents,
  chainStart,
  eventHash,
  headAfter,
  verifyChain,
} from '../../src/store/audit-chain.js';
import type { AuditEvent, AuditLine } from '../../src/store/types.js';

const ID = 'aim-v43';
const T = Date.parse('2026-11-26T10:00:00Z');

/** Ten events as a rollout writes them: line k holds seq k-1. */
function events(count = 10): AuditEvent[] {
  return Array.from({ length: count }, (_, index) => ({ t: T + index, kind: 'push', drone: `drone-${index + 1}` }));
}

/** The lines of a log of `events`, chained as the stores chain them, numbered from 1. */
function chained(list: readonly AuditEvent[] = events(), id = ID): string[] {
  return chainEvents(list, chainStart(id)).lines.map((line) => line.slice(0, -1));
}

function numbered(texts: readonly string[]): AuditLine[] {
  return texts.map((text, index) => ({ number: index + 1, text }));
}

/** Line `line` (1-based) with its drone changed, as a person would edit it. */
function editDrone(texts: readonly string[], line: number, drone = 'drone-99'): string[] {
  return texts.map((text, index) =>
    index === line - 1 ? text.replace(/"drone":"[^"]*"/, `"drone":"${drone}"`) : text,
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('the canonical serialization', () => {
  it('sorts keys at every depth, by code unit, integer-like keys included, with no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [{ z: null, y: 'é' }], 10: true, 9: false })).toBe(
      '{"10":true,"9":false,"a":[{"y":"é","z":null}],"b":1}',
    );
    expect(eventHash(JSON.parse('{ "kind": "push", "t": 1 }'))).toBe(eventHash({ t: 1, kind: 'push' }));
    expect(eventHash({ t: 1, kind: 'push' })).toBe(sha256('{"kind":"push","t":1}'));
  });

  it('starts each rollout at seq 0 with the sha256 of its id', () => {
    expect(chainStart(ID)).toEqual({ seq: 0, prev: sha256(ID) });
  });

  it('hashes the UTF-8 of the text: a known answer, and text beyond Latin-1 as createHash reads it', () => {
    expect(chainStart('abc').prev).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const event = { t: 1, kind: 'push', reason: 'drone-7 says “lock mismatch” ✈ \u{1F681} \ud800' };
    expect(eventHash(event)).toBe(sha256(canonicalJson(event)));
  });

  it('chains each event to the hash of the one before, its seq and prev included', () => {
    const [first, second] = chained(events(2)).map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(first).toEqual({ t: T, kind: 'push', drone: 'drone-1', seq: 0, prev: sha256(ID) });
    expect(second).toMatchObject({ seq: 1, prev: sha256(canonicalJson(first)) });
  });

  it('hashes an event as it is read back: fields set to undefined are left out', () => {
    const [line] = chainEvents([{ t: T, kind: 'operator', reason: undefined }], chainStart(ID)).lines;
    expect(line).not.toContain('reason');
    const { next } = chainEvents([{ t: T, kind: 'operator', reason: undefined }], chainStart(ID));
    expect(next.prev).toBe(eventHash(JSON.parse(line ?? '')));
  });

  it('serializes any value JSON can write as it reads back, without writing and parsing it', () => {
    const writable = fc.anything({
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      stringUnit: 'binary',
    });
    fc.assert(
      fc.property(writable, (value) => {
        const text = JSON.stringify(value) as string | undefined;
        if (text === undefined) expect(() => canonicalJson(value)).toThrow(TypeError);
        else expect(canonicalJson(value)).toBe(canonicalJson(JSON.parse(text)));
      }),
      { numRuns: 2_000 },
    );
    class Stamp {
      constructor(readonly at: number) {}
      toJSON(): { at: number } {
        return { at: this.at };
      }
    }
    // JSON.stringify calls toJSON once, with the member's key, on objects, arrays and functions alike.
    const unusual: unknown[] = [
      { list: Object.assign([1], { toJSON: () => ({ x: 1 }) }) },
      { a: { toJSON: () => new Date(0) } },
      { d: { b: 1 }, f: Object.assign(() => 1, { toJSON: () => 'f' }) },
      { f: Object.assign(() => 1, { toJSON: () => ({ y: 2 }) }) },
      { k: { toJSON: (key: string) => key }, list: [{ toJSON: (key: string) => key }] },
      { stamp: new Stamp(5) },
      { a: { toJSON: () => new Stamp(6) } },
    ];
    for (const value of unusual) {
      expect(canonicalJson(value)).toBe(canonicalJson(JSON.parse(JSON.stringify(value))));
      const [line] = chainEvents([{ t: T, kind: 'odd', value }], chainStart(ID)).lines;
      expect(chainEvents([{ t: T, kind: 'odd', value }], chainStart(ID)).next.prev).toBe(
        eventHash(JSON.parse(line ?? '')),
      );
    }
    expect(canonicalJson({ at: new Date(T), gone: undefined, list: [undefined, () => 1, NaN, -0] })).toBe(
      `{"at":"2026-11-26T10:00:00.000Z","list":[null,null,null,0]}`,
    );
  });

  it('refuses events that bring their own seq or prev', () => {
    expect(() =>
      assertUnchained(
        [
          { t: T, kind: 'push' },
          { t: T, kind: 'push', seq: 4 },
        ],
        'events',
      ),
    ).toThrow(/`events\[1\]` to leave out `seq`/);
    expect(() => assertUnchained([{ t: T, kind: 'push', prev: 'x' }], 'events')).toThrow(TypeError);
  });

  it('goes on after the last stored line, chained or from before the chain, and refuses a broken one', async () => {
    const last = chained().at(-1) ?? '';
    expect(await headAfter(last, () => 99)).toEqual({ seq: 10, prev: eventHash(JSON.parse(last)) });
    const legacy = `{"t":${T},"kind":"ended"}`;
    expect(await headAfter(legacy, () => 7)).toEqual({ seq: 7, prev: eventHash(JSON.parse(legacy)) });
    expect(await headAfter('{"t": 1, "kind": "pu', () => 0)).toEqual({
      problem: 'its last line cannot be chained to: it is not valid JSON',
    });
  });
});

describe('verifyChain', () => {
  it('says an intact log is intact, with its event count and head', () => {
    const texts = chained();
    expect(verifyChain(ID, numbered(texts))).toEqual({
      ok: true,
      events: 10,
      head: eventHash(JSON.parse(texts.at(-1) ?? '')),
    });
    expect(verifyChain(ID, [])).toEqual({ ok: true, events: 0, head: sha256(ID) });
  });

  it('names a changed line: its hash does not match what the next line recorded', () => {
    expect(verifyChain(ID, numbered(editDrone(chained(), 7)))).toEqual({
      ok: false,
      line: 7,
      fault: 'changed',
      problem: 'line 7 was changed: its hash does not match what line 8 recorded',
    });
    // Reformatting a line (spaces, key order) changes nothing it says.
    const texts = chained();
    texts[3] = JSON.stringify(JSON.parse(texts[3] ?? ''), null, 1).replaceAll('\n', '');
    expect(verifyChain(ID, numbered(texts))).toMatchObject({ ok: true });
  });

  it('names the first of two changed lines, and a change to the first line', () => {
    expect(verifyChain(ID, numbered(editDrone(editDrone(chained(), 8), 3)))).toMatchObject({ line: 3 });
    expect(verifyChain(ID, numbered(editDrone(chained(), 1)))).toMatchObject({ line: 1, fault: 'changed' });
  });

  it("names a line whose prev was changed, and a log under another rollout's id", () => {
    const texts = chained();
    texts[6] = JSON.stringify({ ...(JSON.parse(texts[6] ?? '') as object), prev: sha256('another line') });
    expect(verifyChain(ID, numbered(texts))).toEqual({
      ok: false,
      line: 7,
      fault: 'changed',
      problem: 'line 7 was changed: its prev does not match the hash of line 6',
    });
    expect(verifyChain('aim-v44', numbered(chained()))).toEqual({
      ok: false,
      line: 1,
      fault: 'changed',
      problem: 'line 1 was changed: its prev is not where the chain of rollout aim-v44 starts',
    });
  });

  it('names a removed line: seq jumps', () => {
    const texts = chained();
    texts.splice(6, 1);
    expect(verifyChain(ID, numbered(texts))).toEqual({
      ok: false,
      line: 7,
      fault: 'removed',
      problem: 'a line is missing before line 7: seq jumps from 5 to 7',
    });
    expect(verifyChain(ID, numbered(chained().slice(2)))).toMatchObject({
      line: 1,
      fault: 'removed',
      problem: '2 lines are missing before line 1: the log starts at seq 2, not 0',
    });
    const three = chained();
    three.splice(3, 3);
    expect(verifyChain(ID, numbered(three))).toMatchObject({
      line: 4,
      problem: '3 lines are missing before line 4: seq jumps from 2 to 6',
    });
  });

  it('names an inserted line: forged with the right seq and prev, copied, or not an event at all', () => {
    const texts = chained();
    // A forger who knows the scheme: seq 6 and the hash of line 6, so it chains; the real seq 6 follows.
    const forged = JSON.stringify({
      t: T,
      kind: 'push',
      drone: 'drone-66',
      seq: 6,
      prev: eventHash(JSON.parse(texts[5] ?? '')),
    });
    const withForged = [...texts.slice(0, 6), forged, ...texts.slice(6)];
    expect(verifyChain(ID, numbered(withForged))).toEqual({
      ok: false,
      line: 7,
      fault: 'inserted',
      problem: 'line 7 was inserted: seq 6 appears twice (lines 7 and 8)',
    });

    const copied = [...texts.slice(0, 6), texts[5] ?? '', ...texts.slice(6)];
    expect(verifyChain(ID, numbered(copied))).toEqual({
      ok: false,
      line: 7,
      fault: 'inserted',
      problem: 'line 7 was inserted: seq 5 appears twice (lines 6 and 7)',
    });

    const unchainedEvent = [...texts.slice(0, 6), `{"t":${T},"kind":"push","drone":"drone-66"}`, ...texts.slice(6)];
    expect(verifyChain(ID, numbered(unchainedEvent))).toEqual({
      ok: false,
      line: 7,
      fault: 'inserted',
      problem: 'line 7 was inserted: it has no seq and prev, and line 8 chains on from line 6',
    });

    const stray = ['not json at all', ...texts];
    expect(verifyChain(ID, numbered(stray))).toMatchObject({
      line: 1,
      fault: 'inserted',
      problem: 'line 1 was inserted: it is not valid JSON, and line 2 starts the chain',
    });

    // Seq 6 with a prev that does not chain, before the real seq 6.
    const badPrev = JSON.stringify({ t: T, kind: 'push', seq: 6, prev: sha256('nothing') });
    expect(verifyChain(ID, numbered([...texts.slice(0, 6), badPrev, ...texts.slice(6)]))).toEqual({
      ok: false,
      line: 7,
      fault: 'inserted',
      problem: 'line 7 was inserted: its prev does not chain, and seq 6 appears again on line 8',
    });
  });

  it('names a reordered pair', () => {
    const texts = chained();
    [texts[6], texts[7]] = [texts[7] ?? '', texts[6] ?? ''];
    expect(verifyChain(ID, numbered(texts))).toEqual({
      ok: false,
      line: 7,
      fault: 'reordered',
      problem: 'lines 7 and 8 are out of order: seq 7 comes before seq 6',
    });
  });

  it('names a line that is no longer JSON, or whose chain fields were spoiled', () => {
    const texts = chained();
    texts[6] = (texts[6] ?? '').slice(0, 20);
    expect(verifyChain(ID, numbered(texts))).toEqual({
      ok: false,
      line: 7,
      fault: 'changed',
      problem: 'line 7 was changed: it is not valid JSON',
    });
    const noSeq = chained();
    noSeq[4] = (noSeq[4] ?? '').replace(/"seq":\d+,/, '');
    expect(verifyChain(ID, numbered(noSeq))).toMatchObject({
      line: 5,
      problem: 'line 5 was changed: it has a prev but no seq',
    });
    const stringSeq = chained();
    stringSeq[4] = (stringSeq[4] ?? '').replace('"seq":4', '"seq":"4"');
    expect(verifyChain(ID, numbered(stringSeq))).toMatchObject({
      line: 5,
      problem: 'line 5 was changed: its seq is not a whole number from 0 up ("4")',
    });
    const array = chained();
    array[2] = '[1,2]';
    expect(verifyChain(ID, numbered(array))).toMatchObject({
      line: 3,
      problem: 'line 3 was changed: it is not a JSON object',
    });
  });

  it('uses the line numbers it is given: blank lines in a file are counted', () => {
    const lines = chained().map((text, index) => ({ number: index < 3 ? index + 1 : index + 2, text }));
    lines[5] = { number: lines[5]?.number ?? 0, text: editDrone([lines[5]?.text ?? ''], 1)[0] ?? '' };
    expect(verifyChain(ID, lines)).toMatchObject({
      line: 7,
      problem: 'line 7 was changed: its hash does not match what line 8 recorded',
    });
  });

  it('says a log recorded before the chain predates it, and checks what was chained on after it', () => {
    const legacy = events(4).map((event) => JSON.stringify(event));
    expect(verifyChain(ID, numbered(legacy))).toEqual({
      ok: false,
      line: 1,
      fault: 'unchained',
      problem:
        'the log predates the hash chain: none of its 4 events has a seq and prev (it was recorded before audit events were chained), so it cannot be verified',
    });

    // Resumed after the upgrade: the chain goes on from the last old event, at seq 4.
    const head = { seq: 4, prev: eventHash(JSON.parse(legacy[3] ?? '')) };
    const resumed = [...legacy, ...chainEvents(events(3), head).lines.map((line) => line.slice(0, -1))];
    expect(verifyChain(ID, numbered(resumed))).toEqual({
      ok: false,
      line: 1,
      fault: 'unchained',
      problem:
        'lines 1 to 4 predate the hash chain (recorded before audit events were chained) and cannot be verified; the 3 events after them chain on intact',
    });
    // A change after the old lines is still named, and first.
    expect(verifyChain(ID, numbered(editDrone(resumed, 5)))).toMatchObject({ line: 5, fault: 'changed' });
    expect(verifyChain(ID, numbered(editDrone(resumed, 4)))).toMatchObject({
      line: 4,
      problem: 'line 4 was changed: its hash does not match what line 5 recorded',
    });
  });
});
