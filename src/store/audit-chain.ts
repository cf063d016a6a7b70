import * as nodeCrypto from 'node:crypto';
import type { AuditEvent, AuditLine } from './types.js';

/**
 * The audit log's hash chain, defined once for both backends and for `rollout audit verify`.
 *
 * Every event the store appends carries `seq` (0, 1, 2, … per rollout) and `prev`: the sha256 (hex) of
 * the canonical serialization of the event before it, its own `seq` and `prev` included. The first
 * event's `prev` is the sha256 of the rollout id (UTF-8), so a log copied under another id does not
 * verify. The canonical serialization is the event's JSON with the keys of every object sorted by UTF-16
 * code units (as RFC 8785), no whitespace, strings and numbers as JSON.stringify writes them: how a line
 * is spaced or its keys ordered does not matter, what it says does.
 *
 * A chain shows a line changed, removed, inserted or moved in the middle of a log. It cannot show the
 * last lines cut off, nor a log rewritten from some line on with new hashes: for that, keep the head
 * (`verify --output json` prints it) or an export somewhere else.
 */

/** What the next event appended gets. */
export interface ChainHead {
  readonly seq: number;
  readonly prev: string;
}

export type ChainFault = 'changed' | 'removed' | 'inserted' | 'reordered' | 'unchained';

export type ChainVerdict =
  | {
      readonly ok: true;
      readonly events: number;
      /** The hash of the last event (the `prev` the next one gets): keep it to notice lines cut off the end. */
      readonly head: string;
    }
  | {
      readonly ok: false;
      /** The first line that is wrong, 1-based as `AuditLine.number`. */
      readonly line: number;
      readonly fault: ChainFault;
      /** `line 7 was changed: its hash does not match what line 8 recorded` */
      readonly problem: string;
    };

const CHAIN_FIELDS = ['seq', 'prev'] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The canonical serialization of `value`: of a value parsed from JSON, and of any other value as
 * JSON.stringify writes it and JSON.parse reads it back (`toJSON` called, members that are undefined, a
 * function or a symbol left out of objects and null in arrays, non-finite numbers null). So an event is
 * hashed as it will be read back without writing and parsing it once more.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalMember(value, '');
  if (text === undefined) {
    throw new TypeError(`Expected a value JSON can write, got a ${typeof value}`);
  }
  return text;
}

/**
 * The canonical text of `input`, the member `key` of its holder, or undefined where JSON.stringify
 * writes nothing (an object leaves the member out). Its steps are JSON.stringify's: `toJSON(key)` once,
 * then the value it gives.
 */
function canonicalMember(input: unknown, key: string): string | undefined {
  let value = input;
  if ((typeof value === 'object' && value !== null) || typeof value === 'function' || typeof value === 'bigint') {
    const toJson = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJson === 'function') value = (toJson as (key: string) => unknown).call(value, key);
  }
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      // A bigint throws, as JSON.stringify does.
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) text += ',';
      text += canonicalMember(value[index], String(index)) ?? 'null';
    }
    return `${text}]`;
  }
  const object = value as Readonly<Record<string, unknown>>;
  const keys = Object.keys(object).sort();
  // An event's usual shape: JSON.stringify writes the members in the order of its key list, natively
  // (not an object toJSON gave that has a toJSON of its own: JSON.stringify would call that one too).
  if (typeof object['toJSON'] !== 'function' && keys.every((name) => isFlat(object[name]))) {
    return JSON.stringify(object, keys);
  }
  let text = '{';
  for (const name of keys) {
    const member = canonicalMember(object[name], name);
    if (member === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(name)}:${member}`;
  }
  return `${text}}`;
}

/** A primitive JSON writes as it is (or leaves out): no toJSON to call, nothing for a key list to filter. */
function isPlainPrimitive(value: unknown): boolean {
  if (value === null) return true;
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' || type === 'undefined' || type === 'symbol';
}

/** A member a key list given to JSON.stringify does not touch: a primitive, or an array of them with no toJSON. */
function isFlat(value: unknown): boolean {
  if (isPlainPrimitive(value)) return true;
  return (
    Array.isArray(value) &&
    typeof (value as { toJSON?: unknown }).toJSON !== 'function' &&
    value.every(isPlainPrimitive)
  );
}

/**
 * An event's hash is taken once per event written: 400,000 times in a 100,000-drone abort. `crypto.hash`
 * (Node 20.12 and later) takes a third of createHash's time for a text this short; earlier Node 20s
 * have only createHash.
 */
const sha256: (text: string) => string =
  (nodeCrypto as Partial<typeof nodeCrypto>).hash === undefined
    ? (text) => nodeCrypto.createHash('sha256').update(text, 'utf8').digest('hex')
    : (text) => nodeCrypto.hash('sha256', text, 'hex');

/** The hash of an event (parsed from its line, or about to be written): the next event's `prev`. */
export function eventHash(event: unknown): string {
  return sha256(canonicalJson(event));
}

/** Where the chain of rollout `id` starts: the first event's seq and prev. */
export function chainStart(id: string): ChainHead {
  return { seq: 0, prev: sha256(id) };
}

/** Refuses events that bring a `seq` or `prev` of their own: those fields are the chain's, set by the store. */
export function assertUnchained(events: readonly AuditEvent[], name: string): void {
  events.forEach((event, index) => {
    const taken = CHAIN_FIELDS.find((field) => Object.hasOwn(event, field));
    if (taken !== undefined) {
      throw new TypeError(
        `Expected \`${name}[${index}]\` to leave out \`${taken}\`: the store sets the audit chain's seq and prev, got \`${JSON.stringify(event[taken])}\``,
      );
    }
  });
}

/** The line that stores `event` at `head` (ending in a newline), and the head after it. */
export function chainEvent(event: AuditEvent, head: ChainHead): { readonly line: string; readonly next: ChainHead } {
  const chained = { ...event, seq: head.seq, prev: head.prev };
  return { line: `${JSON.stringify(chained)}\n`, next: { seq: head.seq + 1, prev: eventHash(chained) } };
}

/** The lines that store `events` from `head` on, and the head after them. */
export function chainEvents(
  events: readonly AuditEvent[],
  head: ChainHead,
): { readonly lines: string[]; readonly next: ChainHead } {
  const lines: string[] = [];
  let next = head;
  for (const event of events) {
    const chained = chainEvent(event, next);
    lines.push(chained.line);
    next = chained.next;
  }
  return { lines, next };
}

/** A stored line, parsed only as far as the chain needs. */
type Link =
  | { readonly number: number; readonly state: 'broken'; readonly why: string }
  | { readonly number: number; readonly state: 'unchained'; readonly hash: string }
  | {
      readonly number: number;
      readonly state: 'chained';
      readonly seq: number;
      readonly prev: string;
      readonly hash: string;
    };

type ChainedLink = Extract<Link, { state: 'chained' }>;
type UnchainedLink = Extract<Link, { state: 'unchained' }>;

function linkOf(text: string, number: number): Link {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { number, state: 'broken', why: 'it is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { number, state: 'broken', why: 'it is not a JSON object' };
  }
  const fields = value as Readonly<Record<string, unknown>>;
  const hash = eventHash(value);
  const { seq, prev } = fields;
  if (seq === undefined && prev === undefined) {
    return { number, state: 'unchained', hash };
  }
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    return {
      number,
      state: 'broken',
      why:
        seq === undefined
          ? 'it has a prev but no seq'
          : `its seq is not a whole number from 0 up (${JSON.stringify(seq)})`,
    };
  }
  if (typeof prev !== 'string' || !SHA256_HEX.test(prev)) {
    return {
      number,
      state: 'broken',
      why:
        prev === undefined ? 'it has a seq but no prev' : `its prev is not a sha256 in hex (${JSON.stringify(prev)})`,
    };
  }
  return { number, state: 'chained', seq, prev, hash };
}

/**
 * What the event after `last` (the text of the log's last stored line) gets. A log recorded before the
 * chain goes on from its last event's hash at seq `events()`, the number of events it holds. A last line
 * that cannot be chained to is a problem: appending after it would hide it.
 */
export async function headAfter(
  last: string,
  events: () => Promise<number> | number,
): Promise<ChainHead | { readonly problem: string }> {
  const link = linkOf(last, 0);
  switch (link.state) {
    case 'broken':
      return { problem: `its last line cannot be chained to: ${link.why}` };
    case 'unchained':
      return { seq: await events(), prev: link.hash };
    case 'chained':
      return { seq: link.seq + 1, prev: link.hash };
  }
}

function fail(line: number, fault: ChainFault, problem: string): ChainVerdict {
  return { ok: false, line, fault, problem };
}

/**
 * Checks the chain of rollout `id` over its stored lines, in order, and names the first line that was
 * changed, removed, inserted or moved. Each line is judged by the lines around it: a line whose hash
 * does not match what the next one recorded was changed if the line after that still chains on; a line
 * that does not chain, followed by one that does, was inserted.
 */
export function verifyChain(id: string, stored: readonly AuditLine[]): ChainVerdict {
  const links = stored.map((line) => linkOf(line.text, line.number));
  let unchained = 0;
  while (links[unchained]?.state === 'unchained') unchained += 1;
  const first = links[0]?.number ?? 1;
  if (links.length > 0 && unchained === links.length) {
    return fail(
      first,
      'unchained',
      `the log predates the hash chain: none of its ${links.length} events has a seq and prev (it was recorded before audit events were chained), so it cannot be verified`,
    );
  }

  const chainsOn = (link: Link | undefined, seq: number, prev: string): link is ChainedLink =>
    link?.state === 'chained' && link.seq === seq && link.prev === prev;
  // Every line before `index` chains on, so the event at seq s is links[s], and the seq due is `index`.
  let prev = chainStart(id).prev;
  for (let index = 0; index < links.length; index += 1) {
    const link = links[index] as Link;
    const before = links[index - 1];
    const next = links[index + 1];
    if (index < unchained) {
      prev = (link as UnchainedLink).hash;
      continue;
    }
    if (link.state !== 'chained') {
      const why = link.state === 'broken' ? link.why : 'it has no seq and prev';
      if (chainsOn(next, index, prev)) {
        const from = before === undefined ? 'starts the chain' : `chains on from line ${before.number}`;
        return fail(
          link.number,
          'inserted',
          `line ${link.number} was inserted: ${why}, and line ${next.number} ${from}`,
        );
      }
      return fail(link.number, 'changed', `line ${link.number} was changed: ${why}`);
    }
    if (link.seq > index) {
      if (next?.state === 'chained' && next.seq === index) {
        return fail(
          link.number,
          'reordered',
          `lines ${link.number} and ${next.number} are out of order: seq ${link.seq} comes before seq ${index}`,
        );
      }
      const missing = link.seq - index;
      const what = missing === 1 ? 'a line is missing' : `${missing} lines are missing`;
      return fail(
        link.number,
        'removed',
        index === 0
          ? `${what} before line ${link.number}: the log starts at seq ${link.seq}, not 0`
          : `${what} before line ${link.number}: seq jumps from ${index - 1} to ${link.seq}`,
      );
    }
    if (link.seq < index) {
      const twin = links[link.seq] as ChainedLink | UnchainedLink;
      // Of two lines with one seq, the one the next line chains on from is the genuine one.
      const twinForged =
        twin === before &&
        twin.state === 'chained' &&
        twin.hash !== link.hash &&
        twin.prev === link.prev &&
        chainsOn(next, index, link.hash);
      const inserted = twinForged ? twin : link;
      return fail(
        inserted.number,
        'inserted',
        `line ${inserted.number} was inserted: seq ${link.seq} appears twice (lines ${twin.number} and ${link.number})`,
      );
    }
    if (link.prev !== prev) {
      if (next?.state === 'chained' && next.seq === link.seq && next.prev === prev) {
        return fail(
          link.number,
          'inserted',
          `line ${link.number} was inserted: its prev does not chain, and seq ${link.seq} appears again on line ${next.number}`,
        );
      }
      if (before === undefined) {
        return fail(
          link.number,
          'changed',
          `line ${link.number} was changed: its prev is not where the chain of rollout ${id} starts`,
        );
      }
      if (next === undefined || chainsOn(next, index + 1, link.hash)) {
        return fail(
          before.number,
          'changed',
          `line ${before.number} was changed: its hash does not match what line ${link.number} recorded`,
        );
      }
      return fail(
        link.number,
        'changed',
        `line ${link.number} was changed: its prev does not match the hash of line ${before.number}`,
      );
    }
    prev = link.hash;
  }

  if (unchained > 0) {
    const last = links[unchained - 1]?.number ?? first;
    const which = unchained === 1 ? `line ${first} predates` : `lines ${first} to ${last} predate`;
    return fail(
      first,
      'unchained',
      `${which} the hash chain (recorded before audit events were chained) and cannot be verified; the ${links.length - unchained} events after them chain on intact`,
    );
  }
  return { ok: true, events: links.length, head: prev };
}
