import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliProcess, CliResult } from './cli.js';

/** Helpers of the chaos test: SIGKILL a rollout process at a point its audit log shows, and check what is left. */

/** One line of `<state-dir>/rollouts/<id>/audit.ndjson`. */
export interface AuditEvent {
  readonly t: number;
  readonly kind: string;
  readonly [field: string]: unknown;
}

export type Running = CliProcess;

function rolloutDir(stateDir: string, id: string): string {
  return join(stateDir, 'rollouts', id);
}

/** The id of the only rollout in the state dir, once its record is in place (staging dirs start with a dot). */
async function onlyRolloutId(stateDir: string): Promise<string | undefined> {
  const names = await readdir(join(stateDir, 'rollouts')).catch(() => [] as string[]);
  return names.find((name) => !name.startsWith('.'));
}

/** The complete lines of the audit log; a line still being written is left out. */
export async function readAudit(stateDir: string, id: string): Promise<AuditEvent[]> {
  const text = await readFile(join(rolloutDir(stateDir, id), 'audit.ndjson'), 'utf8').catch(() => '');
  const lines = text.split('\n');
  lines.pop();
  return lines.filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as AuditEvent);
}

/** The machine state in the persisted snapshot (`{"locked":{"stages":"analysing"}}`), or '' when there is none yet. */
async function snapshotValue(stateDir: string, id: string): Promise<string> {
  const text = await readFile(join(rolloutDir(stateDir, id), 'snapshot.json'), 'utf8').catch(() => '');
  try {
    return JSON.stringify((JSON.parse(text) as { value?: unknown }).value ?? '');
  } catch {
    return '';
  }
}

/** `pause 3, push 2, …`, for a summary or a failure message. */
export function countKinds(events: readonly AuditEvent[]): string {
  const counts = new Map<string, number>();
  for (const event of events) counts.set(event.kind, (counts.get(event.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${kind} ${n}`).join(', ');
}

export function lastStage(events: readonly AuditEvent[]): string {
  const to = events.findLast((e) => e.kind === 'transition')?.to;
  if (to === undefined) return '';
  return typeof to === 'string' ? to : JSON.stringify(to);
}

/**
 * What the watcher sees: the audit log so far, the index from which the watched process wrote it (0 for
 * `run`, the log's length before it for a `resume`), and the persisted snapshot's state.
 */
export interface Watched {
  readonly events: readonly AuditEvent[];
  readonly from: number;
  readonly snapshot: string;
  /** How many requests of a kind the drone has answered through the holding proxy, held or not. */
  readonly answered: (kind: RequestKind, drone: string) => number;
}

export interface KillPoint {
  /** For test names and the summary: `mid canary push (1st push)`. */
  readonly label: string;
  readonly reached: (watched: Watched) => boolean;
}

/** `started` is in the audit log and no `pause` yet. */
export const startedLogged: KillPoint = {
  label: 'before pause (`started` logged)',
  reached: ({ events }) => events.some((e) => e.kind === 'started') && !events.some((e) => e.kind === 'pause'),
};

/**
 * The k-th event of `kind` is logged while the rollout is still in a stage matching `stage` (the latest
 * transition's `to`), counting the events this process logged since that stage began.
 */
export function inStage(label: string, stage: RegExp, kind: string, k: number): KillPoint {
  return {
    label,
    reached: ({ events, from }) => {
      let begin = events.findLastIndex((e) => e.kind === 'transition');
      if (begin < 0 || !stage.test(String(events[begin]?.to))) return false;
      for (let i = begin - 1; i >= 0; i -= 1) {
        const event = events[i];
        if (event?.kind !== 'transition') continue;
        if (!stage.test(String(event.to))) break;
        begin = i;
      }
      return events.slice(Math.max(begin, from)).filter((e) => e.kind === kind).length >= k;
    },
  };
}

/** An event of `kind` is logged by the watched process (`lock.acquired`). */
export function logged(label: string, kind: string): KillPoint {
  return { label, reached: ({ events, from }) => events.slice(from).some((e) => e.kind === kind) };
}

export interface Killed {
  readonly id: string;
  /** The audit log as the watcher saw it when it sent SIGKILL. */
  readonly seen: readonly AuditEvent[];
  /** The audit log once the process was gone. */
  readonly after: readonly AuditEvent[];
}

/**
 * Watches a `rollout run` / `rollout resume` process, polling its audit log every 20 ms, and SIGKILLs it
 * at `point`. Throws when the process ended first: a kill point never reached fails its case.
 */
export async function killAt(
  running: Running,
  stateDir: string,
  point: KillPoint,
  options: { readonly id?: string; readonly from?: number; readonly proxy?: HoldingProxy } = {},
): Promise<Killed> {
  const answered = options.proxy ? options.proxy.answered : () => 0;
  let ended: CliResult | undefined;
  void running.done.then((result) => (ended = result));
  const from = options.from ?? 0;
  const deadline = Date.now() + 30_000;
  let id = options.id;
  let events: AuditEvent[];
  for (;;) {
    id ??= await onlyRolloutId(stateDir);
    events = id === undefined ? [] : await readAudit(stateDir, id);
    if (ended !== undefined) {
      throw new Error(
        `kill point "${point.label}" not reached: the process exited first (code ${ended.code}); it logged ${countKinds(events.slice(from))}; last stage "${lastStage(events)}"\n${ended.stderr.slice(-2000)}`,
      );
    }
    if (id !== undefined && point.reached({ events, from, snapshot: await snapshotValue(stateDir, id), answered }))
      break;
    if (Date.now() > deadline) {
      running.child.kill('SIGKILL');
      throw new Error(
        `kill point "${point.label}" not reached within 30 s; logged ${countKinds(events.slice(from))}; last stage "${lastStage(events)}"`,
      );
    }
    await sleep(20);
  }
  running.child.kill('SIGKILL');
  const result = await running.done;
  if (result.signal !== 'SIGKILL')
    throw new Error(
      `kill point "${point.label}": the process ended on its own (code ${result.code}) before SIGKILL landed`,
    );
  return { id, seen: events, after: await readAudit(stateDir, id) };
}

/** The requests a drone agent serves that a rollout makes, by what they do. */
export type RequestKind = 'pause' | 'push' | 'rollback' | 'resume' | 'telemetry';

function kindOf(method: string, path: string): RequestKind | undefined {
  if (method === 'POST' && path.endsWith('/v1/pause')) return 'pause';
  if (method === 'POST' && path.endsWith('/v1/resume')) return 'resume';
  if (method === 'POST' && /\/v1\/configs\/[^/]+\/rollback$/u.test(path)) return 'rollback';
  if (method === 'PUT' && /\/v1\/configs\/[^/]+$/u.test(path)) return 'push';
  if (method === 'GET' && path.endsWith('/v1/telemetry')) return 'telemetry';
  return undefined;
}

/**
 * Holds matching requests to one drone for `HOLD_MS`: `before` the drone sees the request (it has not
 * acted when the rollout is killed, and acts late, for a process that is gone), or `after` it answered
 * (it acted, and the rollout never hears). Only the first `times` matching requests are held.
 */
export interface Hold {
  readonly drone: string;
  readonly kind: RequestKind;
  readonly when: 'before' | 'after';
  /** @default 1 */
  readonly times?: number;
  /** @default HOLD_MS */
  readonly ms?: number;
}

/** Longer than the runner's one-second audit flush, so a stage held this long shows its progress first. */
export const HOLD_MS = 1_500;

export interface HoldingProxy {
  /** Where the drones are, through the proxy: the simulator's `/d/<id>` paths on another port. */
  readonly url: string;
  /** Resolves once every request it took has been answered: a held request from a killed process has landed. */
  idle(): Promise<void>;
  /** How many requests of `kind` to `drone` the drone has answered (it acted), whether or not the answer is held. */
  readonly answered: (kind: RequestKind, drone: string) => number;
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of `rollout fleet sim` that holds chosen requests: it widens exactly the
 * window a kill point needs, and nothing else, so each case stays short.
 */
export async function startHoldingProxy(target: string, holds: readonly Hold[]): Promise<HoldingProxy> {
  const seen = holds.map(() => 0);
  const answers = new Map<string, number>();
  const holdFor = (method: string, path: string): Hold | undefined => {
    const kind = kindOf(method, path);
    const index = holds.findIndex((h) => h.kind === kind && path.startsWith(`/d/${h.drone}/`));
    const hold = holds[index];
    if (hold === undefined) return undefined;
    const n = (seen[index] = (seen[index] ?? 0) + 1);
    return n <= (hold.times ?? 1) ? hold : undefined;
  };
  const forward = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const hold = holdFor(method, url.split('?')[0] ?? url);
    const ms = hold?.ms ?? HOLD_MS;
    if (hold?.when === 'before') await sleep(ms);
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'authorization']) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const answer = await fetch(`${target}${url}`, {
      method,
      headers,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    const body = Buffer.from(await answer.arrayBuffer());
    const kind = kindOf(method, url.split('?')[0] ?? url);
    const drone = /^\/d\/([^/]+)\//u.exec(url)?.[1];
    if (kind !== undefined && drone !== undefined)
      answers.set(`${kind} ${drone}`, (answers.get(`${kind} ${drone}`) ?? 0) + 1);
    if (hold?.when === 'after') await sleep(ms);
    response
      .writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' })
      .end(body);
  };
  const inFlight = new Set<Promise<void>>();
  const server = createServer((request, response) => {
    const forwarded = forward(request, response)
      .catch((error: unknown) => {
        if (!response.headersSent)
          response.writeHead(502).end(JSON.stringify({ error: 'proxy', message: String(error) }));
      })
      .finally(() => inFlight.delete(forwarded));
    inFlight.add(forwarded);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async idle() {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
    answered: (kind, drone) => answers.get(`${kind} ${drone}`) ?? 0,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
    },
  };
}

/**
 * What the audit log must show after a resume that ended with `result`: it starts with `started`, has a
 * `resumed`, ends with `ended` and that result, and every drone a push reached (ok) either runs the new
 * version (promoted) or has a later successful rollback. Returns the problems; none when complete.
 */
export function auditProblems(
  events: readonly AuditEvent[],
  result: 'promoted' | 'rolled_back' | 'unchanged',
  versions: Readonly<Record<string, string | undefined>>,
  newVersion: string,
): string[] {
  const problems: string[] = [];
  if (events[0]?.kind !== 'started')
    problems.push(`the audit log starts with ${JSON.stringify(events[0]?.kind)}, not "started"`);
  if (!events.some((e) => e.kind === 'resumed')) problems.push('no "resumed" event');
  const last = events.at(-1);
  if (last?.kind !== 'ended' || last.result !== result)
    problems.push(`the last event is ${JSON.stringify(last)}, not "ended" with result ${result}`);
  events.forEach((event, index) => {
    if (event.kind !== 'push' || event.ok !== true) return;
    const drone = String(event.drone);
    if (result === 'promoted') {
      if (versions[drone] !== newVersion)
        problems.push(`${drone} took a push (event ${index}) but runs ${versions[drone]} after the promotion`);
    } else if (!events.slice(index + 1).some((e) => e.kind === 'rollback' && e.ok === true && e.drone === drone)) {
      problems.push(`${drone} took a push (event ${index}) and has no later successful rollback`);
    }
  });
  return problems;
}
