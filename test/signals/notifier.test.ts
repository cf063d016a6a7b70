import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Notifier, slackMessage, type NotifierOptions, type NotifySendRecord } from '../../src/signals/notifier.js';
import { NOTIFY_EVENTS } from '../../src/spec/signals-schema.js';
import type { NotifySpec } from '../../src/spec/types.js';
import { startWebhookReceiver, type ReceivedCall, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const CONTEXT = {
  rollout: 'aim-sensitivity-v43-abc',
  name: 'aim-sensitivity',
  config: { file: 'aim_lock_config.conf', version: 'v43', sha256: '0123456789abcdef'.repeat(4) },
};
const NOW = Date.UTC(2025, 0, 2, 3, 4, 5);

let receiver: WebhookReceiver;
let notifier: Notifier | undefined;

beforeEach(async () => {
  receiver = await startWebhookReceiver();
});

afterEach(async () => {
  notifier?.close();
  notifier = undefined;
  await receiver.close();
});

function target(path: string, overrides: Partial<NotifySpec> = {}): NotifySpec {
  return { url: receiver.url(path), format: 'json', on: NOTIFY_EVENTS, timeoutMs: 2_000, retries: 0, ...overrides };
}

interface Harness {
  readonly notifier: Notifier;
  readonly records: NotifySendRecord[];
  /** The logger's NDJSON lines, parsed. */
  readonly logs: Record<string, unknown>[];
}

function start(targets: readonly NotifySpec[], options: Partial<NotifierOptions> = {}): Harness {
  const records: NotifySendRecord[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  notifier = new Notifier({
    targets,
    logger,
    context: CONTEXT,
    onSend: (record) => records.push(record),
    backoff: () => 10,
    now: () => NOW,
    ...options,
  });
  return { notifier, records, logs };
}

const events = (calls: readonly ReceivedCall[]) => calls.map((call) => (call.json as { event: string }).event);

describe('Notifier', () => {
  it('sends each target only the events in its `on`, in the json format', async () => {
    const { notifier, records } = start([
      target('/ops', { on: ['started', 'promoted'] }),
      target('/audit', { on: ['step_passed'] }),
    ]);

    notifier.notify('started', 'started', { drones: { total: 10, updated: 0 } });
    notifier.notify('step_passed:0', 'step_passed', { step: 'canary', drones: { total: 10, updated: 1 } });
    notifier.notify('end', 'promoted', { result: 'promoted', reason: 'all steps passed' });
    await notifier.drain(5_000);

    expect(events(receiver.calls('/ops'))).toEqual(['started', 'promoted']);
    expect(events(receiver.calls('/audit'))).toEqual(['step_passed']);
    expect(receiver.calls('/ops')[1]?.json).toEqual({
      event: 'promoted',
      rollout: 'aim-sensitivity-v43-abc',
      name: 'aim-sensitivity',
      at: '2025-01-02T03:04:05.000Z',
      step: null,
      result: 'promoted',
      reason: 'all steps passed',
      hot: [],
      config: CONTEXT.config,
      drones: null,
    });
    expect(receiver.calls('/ops')[0]?.headers['content-type']).toBe('application/json');
    expect(notifier.counts()).toEqual({ sent: 3, failed: 0 });
    expect(records.map((r) => `${r.key}:${r.event}:${String(r.ok)}:${r.status}`).sort()).toEqual([
      'end:promoted:true:200',
      'started:started:true:200',
      'step_passed:0:step_passed:true:200',
    ]);
  });

  it('delivers a key at most once, and never one sent before', async () => {
    const { notifier, records } = start([target('/ops')], { alreadySent: ['started', 'waiting:1:3'] });

    notifier.notify('started', 'started', {});
    notifier.notify('waiting:1:3', 'waiting', {});
    notifier.notify('waiting:1:4', 'waiting', {});
    notifier.notify('waiting:1:4', 'waiting', {});
    notifier.notify('end', 'rolled_back', {});
    notifier.notify('end', 'promoted', {});
    await notifier.drain(5_000);

    expect(events(receiver.calls('/ops'))).toEqual(['waiting', 'rolled_back']);
    expect(records.map((r) => r.key)).toEqual(['waiting:1:4', 'end']);
  });

  it('marks a key even when no target takes its event', async () => {
    const { notifier } = start([target('/ops', { on: ['promoted'] })]);
    notifier.notify('end', 'rolled_back', {});
    notifier.notify('end', 'promoted', {});
    await notifier.drain(5_000);
    expect(receiver.calls()).toHaveLength(0);
  });

  it('calls beforeSend once per key some target takes, and delivers only once it is done', async () => {
    const marks: string[] = [];
    let release!: () => void;
    const recorded = new Promise<void>((resolve) => (release = resolve));
    const { notifier } = start([target('/a', { on: ['started', 'promoted'] }), target('/b', { on: ['started'] })], {
      alreadySent: ['step_passed:0'],
      beforeSend: async (key, event) => {
        marks.push(`${key}:${event}:${receiver.calls().length}`);
        if (key === 'started') await recorded;
      },
    });

    notifier.notify('started', 'started', {});
    notifier.notify('step_passed:0', 'started', {});
    notifier.notify('waiting:0:1', 'waiting', {});
    notifier.notify('end', 'promoted', {});
    expect(marks).toEqual(['started:started:0', 'end:promoted:0']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.calls()).toHaveLength(0);

    release();
    await notifier.drain(5_000);
    expect(events(receiver.calls('/a'))).toEqual(['started', 'promoted']);
    expect(events(receiver.calls('/b'))).toEqual(['started']);
  });

  it('sends anyway when beforeSend fails, and says so in the log', async () => {
    const { notifier, logs } = start([target('/ops')], {
      beforeSend: (key) => {
        if (key === 'started') throw new Error('disk full');
        return Promise.reject(new Error('disk still full'));
      },
    });
    notifier.notify('started', 'started', {});
    notifier.notify('end', 'promoted', {});
    await notifier.drain(5_000);
    expect(notifier.counts()).toEqual({ sent: 2, failed: 0 });
    expect(logs.filter((line) => line['msg'] === 'beforeSend failed; the notification is sent anyway')).toHaveLength(2);
  });

  it('retries a failed delivery, then counts it failed and logs a warning', async () => {
    receiver.answer('/flaky', { status: (n) => (n === 1 ? 502 : 200) });
    receiver.answer('/down', { status: 500, body: 'nope' });
    const { notifier, records, logs } = start([target('/flaky', { retries: 2 }), target('/down', { retries: 1 })]);

    notifier.notify('started', 'started', {});
    await notifier.drain(5_000);

    expect(receiver.calls('/flaky').map((c) => c.status)).toEqual([502, 200]);
    expect(receiver.calls('/down')).toHaveLength(2);
    expect(notifier.counts()).toEqual({ sent: 1, failed: 1 });
    expect(records.find((r) => !r.ok)).toEqual({
      key: 'started',
      event: 'started',
      url: receiver.url('/down'),
      ok: false,
      status: 500,
      error: `${receiver.url('/down')} answered 500: nope`,
    });
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 40, msg: 'notification failed', key: 'started', status: 500 }),
    );
  });

  it('counts an unreachable target failed, without its URL credentials in any text', async () => {
    const gone = await startWebhookReceiver();
    await gone.close();
    const url = gone.url('/x').replace('http://', 'http://bot:t0ken@');
    const { notifier, records, logs } = start([target('/x', { url, retries: 1 })]);

    notifier.notify('started', 'started', {});
    await notifier.drain(5_000);

    expect(notifier.counts()).toEqual({ sent: 0, failed: 1 });
    const shown = gone.url('/x').replace('http://', 'http://bot:***@');
    expect(records[0]).toMatchObject({ ok: false, status: null, url: shown });
    expect(records[0]?.error).toBe(`${shown} unreachable: ECONNREFUSED`);
    expect(JSON.stringify({ records, logs })).not.toContain('t0ken');
  });

  it('keeps the notify order per target, even when an earlier delivery is retried', async () => {
    receiver.answer('/ops', { status: (n) => (n === 1 ? 503 : 200) });
    const { notifier } = start([target('/ops', { retries: 2 })], { backoff: () => 100 });

    notifier.notify('started', 'started', {});
    notifier.notify('step_passed:0', 'step_passed', {});
    notifier.notify('step_passed:1', 'step_passed', {});
    await notifier.drain(5_000);

    expect(events(receiver.calls('/ops'))).toEqual(['started', 'started', 'step_passed', 'step_passed']);
    expect(notifier.counts()).toEqual({ sent: 3, failed: 0 });
  });

  it('has at most `concurrency` deliveries in flight over all targets', async () => {
    const paths = ['/a', '/b', '/c', '/d'];
    for (const path of paths) receiver.answer(path, { delayMs: 300 });
    const { notifier } = start(
      paths.map((path) => target(path)),
      { concurrency: 2 },
    );

    notifier.notify('started', 'started', {});
    await receiver.waitFor((calls) => calls.length === 2, 2_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(receiver.calls()).toHaveLength(2);
    await notifier.drain(5_000);
    expect(receiver.calls()).toHaveLength(4);
  });

  it('returns from notify at once, and drain waits for the deliveries', async () => {
    receiver.answer('/slow', { delayMs: 300 });
    const { notifier } = start([target('/slow')]);

    const started = performance.now();
    notifier.notify('end', 'promoted', {});
    expect(performance.now() - started).toBeLessThan(50);
    expect(notifier.counts()).toEqual({ sent: 0, failed: 0 });

    await notifier.drain(5_000);
    expect(notifier.counts()).toEqual({ sent: 1, failed: 0 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('drain gives up after its timeout when a receiver never answers, and close cancels what is left', async () => {
    receiver.answer('/void', { delayMs: Number.POSITIVE_INFINITY });
    const { notifier, records } = start([target('/void', { timeoutMs: 30_000, retries: 3 })]);
    notifier.notify('end', 'rolled_back', {});
    await receiver.waitFor((calls) => calls.length === 1, 2_000);

    const started = performance.now();
    await notifier.drain(100);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(notifier.counts()).toEqual({ sent: 0, failed: 0 });

    notifier.close();
    await notifier.drain(1_000);
    expect(notifier.counts()).toEqual({ sent: 0, failed: 1 });
    expect(records).toEqual([
      {
        key: 'end',
        event: 'rolled_back',
        url: receiver.url('/void'),
        ok: false,
        status: null,
        error: 'cancelled: the notifier was closed',
      },
    ]);
    notifier.notify('late', 'started', {});
    await notifier.drain(1_000);
    expect(receiver.calls()).toHaveLength(1);
  });

  it('drain returns at once when nothing is pending', async () => {
    const { notifier } = start([target('/ops')]);
    const started = performance.now();
    await notifier.drain(5_000);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('is not disturbed by an onSend that throws', async () => {
    const { notifier, logs } = start([target('/ops')], {
      onSend: () => {
        throw new Error('audit log full');
      },
    });
    notifier.notify('started', 'started', {});
    notifier.notify('end', 'promoted', {});
    await notifier.drain(5_000);
    expect(notifier.counts()).toEqual({ sent: 2, failed: 0 });
    expect(logs.filter((line) => line['msg'] === 'onSend threw; the notification record is lost')).toHaveLength(2);
  });

  it('sends a Slack incoming-webhook message that names the HOT drones', async () => {
    const { notifier } = start([target('/slack', { format: 'slack' }), target('/json')]);

    notifier.notify('end', 'aborted_hot', {
      reason: 'HOT lock mismatch on drone-7',
      hot: ['drone-7', 'drone-9'],
      step: 'canary',
      result: 'aborted_hot',
      drones: { total: 10, updated: 2 },
    });
    await notifier.drain(5_000);

    const slack = receiver.calls('/slack')[0]?.json as { text: string; blocks: unknown[] };
    expect(receiver.calls('/slack')[0]?.headers['content-type']).toBe('application/json');
    expect(slack.text).toBe(
      ':rotating_light: aim-sensitivity-v43-abc aborted_hot: HOT lock mismatch on drone-7 (HOT: drone-9) (aim_lock_config.conf v43)',
    );
    expect(slack.blocks).toEqual([
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: [
            ':rotating_light: *aborted_hot* · aim-sensitivity-v43-abc (aim-sensitivity)',
            'HOT lock mismatch on drone-7',
            '*HOT drones:* drone-7, drone-9',
            '*step:* canary',
            '*result:* aborted_hot',
            '*drones:* 2/10 updated',
            '*config:* aim_lock_config.conf v43 (sha256 0123456789ab)',
          ].join('\n'),
        },
      },
    ]);
    expect(receiver.calls('/json')[0]?.json).toMatchObject({ event: 'aborted_hot', hot: ['drone-7', 'drone-9'] });
  });
});

describe('slackMessage', () => {
  const body = {
    event: 'aborted_hot' as const,
    rollout: 'r-1',
    name: 'aim',
    at: '2025-01-02T03:04:05.000Z',
    step: null,
    result: null,
    reason: null,
    hot: [] as string[],
    config: CONTEXT.config,
    drones: null,
  };

  it('matches the one-line shape of the example', () => {
    const message = slackMessage({
      ...body,
      rollout: CONTEXT.rollout,
      reason: 'HOT lock mismatch on drone-7',
      hot: ['drone-7'],
    });
    expect(message.text).toBe(
      ':rotating_light: aim-sensitivity-v43-abc aborted_hot: HOT lock mismatch on drone-7 (aim_lock_config.conf v43)',
    );
  });

  it('names HOT drones the reason leaves out, ten at most in the text', () => {
    const hot = Array.from({ length: 12 }, (_, i) => `drone-${i + 1}`);
    const message = slackMessage({ ...body, hot });
    expect(message.text).toBe(
      `:rotating_light: r-1 aborted_hot (HOT: ${hot.slice(0, 10).join(', ')}, +2 more) (aim_lock_config.conf v43)`,
    );
    expect(message.blocks[0].text.text).toContain(`*HOT drones:* ${hot.join(', ')}`);
  });

  it('falls back on the step, and escapes what Slack reads as markup', () => {
    const message = slackMessage({ ...body, event: 'step_passed', step: '<canary & co>' });
    expect(message.text).toBe(
      ':white_check_mark: r-1 step_passed: step &lt;canary &amp; co&gt; (aim_lock_config.conf v43)',
    );
  });

  it('has an emoji for every event and stays within Slack’s 3,000 characters', () => {
    for (const event of NOTIFY_EVENTS) {
      const message = slackMessage({ ...body, event, reason: 'x'.repeat(5_000) });
      expect(message.text).toMatch(/^:[a-z_]+: /);
      expect(message.text.length).toBeLessThanOrEqual(3_000);
      expect(message.blocks[0].text.text.length).toBeLessThanOrEqual(3_000);
    }
  });
});
