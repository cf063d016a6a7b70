import { createHmac } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimStatsView } from '../../src/simulator/sim-stats.js';
import { readAudit } from '../helpers/chaos.js';
import { runCli, startCli, startSimProcess, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  fleetHealth,
  lockTable,
  parseReport,
  runArgs,
  tempDirPerTest,
  within,
  writeSpec,
  type SpecOptions,
} from '../helpers/fleet.js';
import { startWebhookReceiver, type ReceivedCall, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/*
 * Webhook gates and notifications through the real CLI: a rollout on `rollout fleet sim` calls a webhook
 * receiver on loopback started by the test, which answers as each test programs it.
 */

const DRONES = 8;
const SECRET = 'whsec-9f8e7d6c5b4a';

/** The JSON body of a webhook call. */
interface HookBody {
  readonly rollout: string;
  readonly name: string;
  readonly type: string;
  readonly step: string | null;
  readonly result: string | null;
  readonly reason: string;
  readonly hot: readonly string[];
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
  readonly drones: { readonly total: number; readonly updated: number };
}

/** The JSON body of a `format: json` notification. */
interface NoteBody {
  readonly event: string;
  readonly rollout: string;
  readonly step: string | null;
  readonly result: string | null;
  readonly reason: string;
  readonly hot: readonly string[];
}

const hookBody = (call: ReceivedCall): HookBody => call.json as HookBody;
const noteBody = (call: ReceivedCall): NoteBody => call.json as NoteBody;

async function simStats(sim: SimProcess): Promise<SimStatsView> {
  return (await (await fetch(`${sim.url}/sim/stats`)).json()) as SimStatsView;
}

describe('webhooks and notifications, through the real CLI', () => {
  const children = new Children();
  const dir = tempDirPerTest('signals-e2e-', children);
  let sim: SimProcess | undefined;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
  });

  afterEach(async () => {
    await receiver.close();
    await sim?.stop();
    sim = undefined;
  });

  async function fleet(...args: string[]): Promise<SimProcess> {
    sim = await startSimProcess(['--drones', String(DRONES), ...args]);
    return sim;
  }

  /** A spec whose `webhooks:` and `notify:` sections are `sections` (YAML, top level), signed with SECRET. */
  async function spec(name: string, sections: string, options: SpecOptions = {}): Promise<string> {
    await writeFile(join(dir.path, 'hook-secret'), `${SECRET}\n`);
    return writeSpec(dir.path, name, { canary: 2, bake: '0s', minSamples: 1, ...options, extra: sections });
  }

  function expectSigned(call: ReceivedCall): void {
    const expected = `sha256=${createHmac('sha256', SECRET).update(call.body).digest('hex')}`;
    expect(call.headers['x-rollout-signature']).toBe(expected);
  }

  /** The fleet as the drones tell it: every drone active, each on `version`. */
  async function expectFleet(running: SimProcess, version: string): Promise<void> {
    const health = Object.values(await fleetHealth(running, DRONES));
    expect(health.map((drone) => drone.state)).toEqual(Array(DRONES).fill('active'));
    expect(new Set(health.map((drone) => drone.configs[FILE]?.version))).toEqual(new Set([version]));
  }

  it('a pre-rollout webhook that refuses ends the run unchanged (exit 6) before any push', async () => {
    const running = await fleet();
    const before = await simStats(running);
    const path = await spec(
      'gate-refused',
      [
        'webhooks:',
        `  - { name: smoke, type: pre-rollout, url: "${receiver.url('/smoke')}", retries: 1, secret_file: hook-secret }`,
        `  - { name: audit, type: post-rollout, url: "${receiver.url('/done')}", secret_file: hook-secret }`,
        'notify:',
        `  - { url: "${receiver.url('/hook')}" }`,
      ].join('\n'),
    );
    receiver.answer('/smoke', { status: 500, body: 'smoke tests failed: 3 of 40' });

    const run = await runCli(runArgs(path, running, dir.path));
    const report = parseReport(run);

    expect(run.code, run.stderr).toBe(6);
    expect(report.result).toBe('unchanged');
    expect(report.reason).toMatch(/^pre-rollout webhook smoke refused the rollout before any push: .*500/u);
    expect((await simStats(running)).pushes).toBe(before.pushes);
    await expectFleet(running, 'v42');
    expect(await lockTable(dir.path)).toEqual([]);

    const smoke = receiver.calls('/smoke');
    expect(smoke).toHaveLength(2);
    expect(hookBody(smoke[0] as ReceivedCall)).toEqual({
      rollout: report.id,
      name: 'smoke',
      type: 'pre-rollout',
      step: null,
      result: null,
      reason: '',
      hot: [],
      config: report.config,
      drones: { total: DRONES, updated: 0 },
    });
    smoke.forEach(expectSigned);
    const done = receiver.calls('/done');
    expect(done.map((call) => hookBody(call))).toMatchObject([{ type: 'post-rollout', result: 'unchanged' }]);
    expect(report.webhooks).toMatchObject([{ name: 'audit', type: 'post-rollout', ok: true }]);
    expect(receiver.calls('/hook').map((call) => noteBody(call).event)).toEqual(['started', 'unchanged']);

    const audited = (await readAudit(dir.path, report.id)).filter((event) => event.kind === 'webhook');
    expect(audited.map((event) => [event.name, event.ok, event.status])).toEqual([
      ['smoke', false, 500],
      ['audit', true, 200],
    ]);
    expect(JSON.stringify(audited)).toContain('smoke tests failed: 3 of 40');
  });

  it('confirm-promotion asks again every interval until it says yes; notifications tell each transition once', async () => {
    const running = await fleet();
    const path = await spec(
      'confirmed',
      [
        'webhooks:',
        `  - { name: approve, type: confirm-promotion, url: "${receiver.url('/approve')}", retries: 0, wait: 30s }`,
        `  - { name: audit, type: post-rollout, url: "${receiver.url('/done')}" }`,
        'notify:',
        `  - { url: "${receiver.url('/hook')}", format: json }`,
        `  - { url: "${receiver.url('/slack')}", format: slack, on: [promoted, aborted_hot] }`,
        '  - { url: "http://127.0.0.1:9/nobody", on: [promoted], retries: 1, timeout: 1s }',
      ].join('\n'),
      { waves: ['{ percent: 50, bake: 0s }', '{ percent: 100, bake: 0s }'] },
    );
    // Not yet, not yet, yes: for wave 1; wave 2 is confirmed at once.
    receiver.answer('/approve', { status: (count) => (count <= 2 ? 409 : 200), body: { error: 'change freeze' } });

    const run = await runCli(runArgs(path, running, dir.path));
    const report = parseReport(run);

    expect(report.result, run.stderr).toBe('promoted');
    await expectFleet(running, 'v43');
    const approve = receiver.calls('/approve');
    expect(approve.map((call) => [hookBody(call).step, call.status])).toEqual([
      ['wave 1', 409],
      ['wave 1', 409],
      ['wave 1', 200],
      ['wave 2', 200],
    ]);
    // Asked again after one analysis interval (500 ms), not in a busy loop
    const [first, second] = approve;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(450);

    const notes = receiver.calls('/hook').map((call) => noteBody(call));
    expect(notes[0]?.event).toBe('started');
    expect(notes.at(-1)).toMatchObject({ event: 'promoted', result: 'promoted' });
    const waiting = notes.filter((note) => note.event === 'waiting');
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ step: 'wave 1' });
    expect(waiting[0]?.reason).toMatch(/confirm-promotion webhook approve/u);
    expect(notes.filter((note) => note.event === 'step_passed').map((note) => note.step)).toEqual([
      'canary',
      'wave 1',
      'wave 2',
    ]);
    const slack = receiver.calls('/slack');
    expect(slack).toHaveLength(1);
    expect((slack[0]?.json as { text: string }).text).toMatch(/promoted/u);

    expect(report.notifications).toEqual({ sent: notes.length + 1, failed: 1 });
    expect(hookBody(receiver.calls('/done')[0] as ReceivedCall)).toMatchObject({
      result: 'promoted',
      drones: { total: DRONES, updated: DRONES },
    });
    const delivered = (await readAudit(dir.path, report.id)).filter((e) => e.kind === 'notification.delivered');
    expect(delivered.filter((event) => event.ok === false).map((event) => event.url)).toEqual([
      'http://127.0.0.1:9/nobody',
    ]);
  });

  it('a confirm-promotion webhook that never says yes rolls the rollout back; the rollback webhooks are told', async () => {
    const running = await fleet();
    const path = await spec(
      'never-confirmed',
      [
        'webhooks:',
        `  - { name: approve, type: confirm-promotion, url: "${receiver.url('/approve')}", retries: 0, wait: 2s }`,
        `  - { name: cleanup, type: rollback, url: "${receiver.url('/rollback')}" }`,
        `  - { name: audit, type: post-rollout, url: "${receiver.url('/done')}" }`,
      ].join('\n'),
    );
    receiver.answer('/approve', { status: 403 });

    const run = await runCli(runArgs(path, running, dir.path));
    const report = parseReport(run);

    expect(run.code, run.stderr).toBe(1);
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/confirm-promotion webhook approve did not confirm wave 1 within 2s/u);
    await expectFleet(running, 'v42');
    const asked = receiver.calls('/approve');
    expect(asked.length).toBeGreaterThanOrEqual(3);
    expect(asked.length).toBeLessThanOrEqual(5);
    const after = receiver.calls().filter((call) => call.path !== '/approve');
    expect(after.map((call) => [call.path, hookBody(call).result, hookBody(call).drones.updated])).toEqual([
      ['/rollback', 'rolled_back', 0],
      ['/done', 'rolled_back', 0],
    ]);
    expect(await lockTable(dir.path)).toEqual([]);
  });

  it('a HOT abort is notified naming the HOT drone, in both formats', async () => {
    const running = await fleet('--hot', 'drone-2');
    const path = await spec(
      'hot',
      [
        'notify:',
        `  - { url: "${receiver.url('/hook')}", on: [aborted_hot] }`,
        `  - { url: "${receiver.url('/slack')}", format: slack }`,
      ].join('\n'),
    );

    const run = await runCli(runArgs(path, running, dir.path));
    const report = parseReport(run);

    expect(run.code).toBe(4);
    expect(report.hot).toEqual(['drone-2']);
    const notes = receiver.calls('/hook').map((call) => noteBody(call));
    expect(notes).toMatchObject([{ event: 'aborted_hot', result: 'aborted_hot', hot: ['drone-2'] }]);
    const slack = receiver.calls('/slack').map((call) => (call.json as { text: string }).text);
    expect(slack.at(-1)).toMatch(/aborted_hot.*drone-2/u);
    expect(report.notifications).toEqual({ sent: 1 + slack.length, failed: 0 });
  });

  it('a rollout killed at its manual gate and resumed sends no notification twice', async () => {
    const running = await fleet();
    const path = await spec('resumed', ['notify:', `  - { url: "${receiver.url('/hook')}" }`].join('\n'));
    await writeFile(path, (await readFile(path, 'utf8')).replace('  bake: 0s', '  bake: 0s\n  approval: manual'));

    const killed = children.track(startCli(runArgs(path, running, dir.path)));
    const [started] = await receiver.waitFor(
      (calls) => calls.some((call) => noteBody(call).event === 'waiting'),
      20_000,
    );
    killed.child.kill('SIGKILL');
    await killed.done;
    const id = noteBody(started as ReceivedCall).rollout;

    const resumed = children.track(startCli(['resume', id, '--output', 'json', '--state-dir', dir.path]));
    await expect
      .poll(async () => (await readAudit(dir.path, id)).filter((event) => event.kind === 'resumed').length, {
        timeout: 15_000,
      })
      .toBe(1);
    await expect
      .poll(async () => (await runCli(['promote', id, '--state-dir', dir.path])).code, { timeout: 15_000 })
      .toBe(0);
    const report = parseReport(await within(resumed.done, 30_000, 'the resumed rollout'));

    expect(report.result).toBe('promoted');
    const events = receiver.calls('/hook').map((call) => `${noteBody(call).event} ${noteBody(call).step ?? '-'}`);
    expect(events).toEqual(['started -', 'step_passed canary', 'waiting canary', 'step_passed wave 1', 'promoted -']);
    await expectFleet(running, 'v43');
  });
});
