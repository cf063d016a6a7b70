import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  callWebhook,
  redactUrl,
  signature,
  verifySignature,
  webhookPayload,
  type WebhookPayload,
  type WebhookTarget,
} from '../../src/signals/webhook.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'wh-s3cret-0123456789';
/** Fast retries: the tests pin what is retried, not how long got waits. */
const FAST = { backoff: () => 10 };

let receiver: WebhookReceiver;
let dir: string;

beforeEach(async () => {
  receiver = await startWebhookReceiver();
  dir = await mkdtemp(join(tmpdir(), 'webhook-test-'));
});

afterEach(async () => {
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
});

function hook(overrides: Partial<WebhookTarget> = {}): WebhookTarget {
  return {
    name: 'smoke',
    type: 'pre-rollout',
    url: receiver.url('/smoke'),
    timeoutMs: 2_000,
    retries: 0,
    ...overrides,
  };
}

function payloadFor(spec: WebhookTarget): WebhookPayload {
  return webhookPayload(spec, {
    rollout: 'aim-sensitivity-v43-abc',
    step: null,
    result: null,
    reason: null,
    hot: [],
    config: { file: 'aim_lock_config.conf', version: 'v43', sha256: 'ab'.repeat(32) },
    drones: { total: 10, updated: 0 },
  });
}

async function secretFile(text = `${SECRET}\n`): Promise<string> {
  const file = join(dir, 'secret');
  await writeFile(file, text);
  return file;
}

/** A loopback URL nothing listens on: a receiver started and closed. */
async function deadUrl(path: string): Promise<string> {
  const gone = await startWebhookReceiver();
  await gone.close();
  return gone.url(path);
}

describe('callWebhook', () => {
  it('POSTs the payload as JSON, signed with the HMAC-SHA256 of the exact body bytes', async () => {
    const spec = hook({ secretFile: await secretFile(), headers: { 'X-Team': 'drones' } });
    const payload = payloadFor(spec);

    const call = await callWebhook(spec, payload, undefined, FAST);

    expect(call).toMatchObject({ name: 'smoke', type: 'pre-rollout', ok: true, status: 200, attempts: 1 });
    const [seen] = receiver.calls('/smoke');
    expect(seen?.method).toBe('POST');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.headers['x-team']).toBe('drones');
    expect(seen?.json).toEqual(payload);
    expect(payload).toMatchObject({ name: 'smoke', type: 'pre-rollout' });
    const hmac = createHmac('sha256', SECRET).update(Buffer.from(seen!.body, 'utf8')).digest('hex');
    expect(seen?.headers['x-rollout-signature']).toBe(`sha256=${hmac}`);
    expect(signature(seen!.body, SECRET)).toBe(`sha256=${hmac}`);
    expect(verifySignature(seen!.body, SECRET, seen?.headers['x-rollout-signature'] as string)).toBe(true);
    expect(verifySignature(`${seen!.body} `, SECRET, seen?.headers['x-rollout-signature'] as string)).toBe(false);
    expect(verifySignature(seen!.body, 'other', seen?.headers['x-rollout-signature'] as string)).toBe(false);
    expect(verifySignature(seen!.body, SECRET, undefined)).toBe(false);
  });

  it('keeps its own content-type and signature over headers of the same name in the spec', async () => {
    const spec = hook({
      secretFile: await secretFile(SECRET),
      headers: { 'Content-Type': 'text/plain', 'X-Rollout-Signature': 'sha256=forged' },
    });

    await callWebhook(spec, payloadFor(spec), undefined, FAST);

    const [seen] = receiver.calls('/smoke');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.headers['x-rollout-signature']).toBe(signature(seen!.body, SECRET));
  });

  it('sends no signature without a secret file', async () => {
    await callWebhook(hook(), payloadFor(hook()), undefined, FAST);
    expect(receiver.calls('/smoke')[0]?.headers).not.toHaveProperty('x-rollout-signature');
  });

  it('retries 5xx answers with the same body and signature, then reports the success', async () => {
    receiver.answer('/smoke', { status: (n) => (n <= 2 ? 503 : 200), body: (n) => (n <= 2 ? 'busy' : ' go ahead \n') });
    const spec = hook({ retries: 2, secretFile: await secretFile() });

    const call = await callWebhook(spec, payloadFor(spec), undefined, FAST);

    expect(call).toMatchObject({ ok: true, status: 200, attempts: 3, answer: 'go ahead' });
    expect(call.error).toBeUndefined();
    const calls = receiver.calls('/smoke');
    expect(calls.map((c) => c.status)).toEqual([503, 503, 200]);
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
    expect(new Set(calls.map((c) => c.headers['x-rollout-signature'])).size).toBe(1);
  });

  it('retries 408 and 429 too', async () => {
    receiver.answer('/smoke', { status: (n) => [408, 429, 200][n - 1] ?? 200 });
    const call = await callWebhook(hook({ retries: 2 }), payloadFor(hook()), undefined, FAST);
    expect(call).toMatchObject({ ok: true, attempts: 3 });
  });

  it('reports a non-2xx answer left after the retries with its status and body', async () => {
    receiver.answer('/smoke', { status: 500, body: '  database\n  down  \n' });

    const call = await callWebhook(hook({ retries: 1 }), payloadFor(hook()), undefined, FAST);

    expect(call).toMatchObject({ ok: false, status: 500, attempts: 2, answer: 'database\n  down' });
    expect(call.error).toBe('webhook smoke answered 500: database down');
    expect(receiver.calls('/smoke')).toHaveLength(2);
  });

  it('does not retry a 4xx answer other than 408 and 429', async () => {
    receiver.answer('/smoke', { status: 403, body: { error: 'no' } });

    const call = await callWebhook(hook({ retries: 3 }), payloadFor(hook()), undefined, FAST);

    expect(call).toMatchObject({
      ok: false,
      status: 403,
      attempts: 1,
      error: 'webhook smoke answered 403: {"error":"no"}',
    });
  });

  it('does not follow a redirect: the signed body goes nowhere but the hook', async () => {
    receiver.answer('/smoke', { status: 307, headers: { location: receiver.url('/elsewhere') } });

    const call = await callWebhook(hook(), payloadFor(hook()), undefined, FAST);

    expect(call).toMatchObject({ ok: false, status: 307, error: 'webhook smoke answered 307' });
    expect(receiver.calls('/elsewhere')).toHaveLength(0);
  });

  it('clips a long answer to 500 characters', async () => {
    receiver.answer('/smoke', { body: 'x'.repeat(2_000) });
    const call = await callWebhook(hook(), payloadFor(hook()), undefined, FAST);
    expect(call.answer).toBe(`${'x'.repeat(500)}…`);
  });

  it('reports an unreachable hook after its retries, without throwing', async () => {
    const url = await deadUrl('/smoke');

    const call = await callWebhook(hook({ url, retries: 2 }), payloadFor(hook()), undefined, FAST);

    expect(call).toMatchObject({ ok: false, status: null, attempts: 3 });
    expect(call.error).toBe(`webhook smoke (${url}) unreachable: ECONNREFUSED`);
  });

  it('bounds each try by timeoutMs, and retries a timeout', async () => {
    receiver.answer('/smoke', { delayMs: (n) => (n === 1 ? 5_000 : 0) });

    const call = await callWebhook(hook({ timeoutMs: 100, retries: 1 }), payloadFor(hook()), undefined, FAST);

    expect(call).toMatchObject({ ok: true, status: 200, attempts: 2 });
    expect(call.ms).toBeLessThan(2_000);
  });

  it('gives up on a hook that never answers once the tries are spent', async () => {
    receiver.answer('/smoke', { delayMs: Number.POSITIVE_INFINITY });
    const started = performance.now();

    const call = await callWebhook(hook({ timeoutMs: 100, retries: 1 }), payloadFor(hook()), undefined, FAST);

    expect(performance.now() - started).toBeLessThan(2_000);
    expect(call).toMatchObject({ ok: false, status: null, attempts: 2 });
    expect(call.error).toBe(
      `webhook smoke (${receiver.url('/smoke')}) unreachable: ETIMEDOUT (no answer within 100 ms)`,
    );
  });

  it('sends nothing and names the file when the secret file cannot be read', async () => {
    const missing = join(dir, 'no-such-secret');

    const call = await callWebhook(hook({ secretFile: missing }), payloadFor(hook()), undefined, FAST);

    expect(call).toMatchObject({ ok: false, status: null, attempts: 0 });
    expect(call.error).toBe(`webhook smoke: cannot read secret file ${missing} (ENOENT)`);
    expect(receiver.calls()).toHaveLength(0);
  });

  it('refuses an empty secret file rather than sign with an empty key', async () => {
    const file = await secretFile('\n');
    const call = await callWebhook(hook({ secretFile: file }), payloadFor(hook()), undefined, FAST);
    expect(call).toMatchObject({ ok: false, attempts: 0, error: `webhook smoke: secret file ${file} is empty` });
    expect(receiver.calls()).toHaveLength(0);
  });

  it('reports a URL that is not http(s) without sending', async () => {
    const call = await callWebhook(hook({ url: 'ftp://u:pw@example.test/x' }), payloadFor(hook()), undefined, FAST);
    expect(call).toMatchObject({ ok: false, attempts: 0, url: 'ftp://u:***@example.test/x' });
    expect(call.error).toBe('webhook smoke: "ftp://u:***@example.test/x" is not an http(s) URL (ftp:)');
  });

  it('never shows the secret or the URL credentials in its texts', async () => {
    // A receiver that echoes everything it can back at the caller.
    receiver.answer('/smoke', { status: 500, body: `bad key ${SECRET} for http://ops:hunter2@10.0.0.1/` });
    const url = receiver.url('/smoke').replace('http://', 'http://ops:hunter2@');
    const spec = hook({ url, retries: 0, secretFile: await secretFile() });

    const answered = await callWebhook(spec, payloadFor(spec), undefined, FAST);
    const unreachable = await callWebhook({ ...spec, url: await deadUrl('/x').then(credentialed) }, payloadFor(spec));

    expect(receiver.calls('/smoke')[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('ops:hunter2').toString('base64')}`,
    );
    for (const call of [answered, unreachable]) {
      const texts = JSON.stringify(call);
      expect(texts).not.toContain(SECRET);
      expect(texts).not.toContain('hunter2');
      expect(call.error).toBeDefined();
    }
    expect(answered.error).toBe('webhook smoke answered 500: bad key [redacted] for http://ops:***@10.0.0.1/');
    expect(answered.url).toBe(receiver.url('/smoke').replace('http://', 'http://ops:***@'));
  });

  it('rejects with the abort reason when aborted, before or during the call', async () => {
    receiver.answer('/smoke', { delayMs: Number.POSITIVE_INFINITY });
    const reason = new Error('operator abort');

    await expect(callWebhook(hook(), payloadFor(hook()), AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(receiver.calls()).toHaveLength(0);

    const controller = new AbortController();
    const pending = callWebhook(hook(), payloadFor(hook()), controller.signal);
    await receiver.waitFor((calls) => calls.length === 1, 2_000);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('rejects at once when aborted while waiting to retry', async () => {
    receiver.answer('/smoke', { status: 503 });
    const controller = new AbortController();
    const pending = callWebhook(hook({ retries: 3 }), payloadFor(hook()), controller.signal, {
      backoff: () => 60_000,
    });
    await receiver.waitFor((calls) => calls.length === 1, 2_000);
    const started = performance.now();
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('redactUrl', () => {
  it('hides passwords, lone user names, query values and token-shaped path segments, and leaves the rest as it came', () => {
    expect(redactUrl('https://user:pa%40ss@hooks.example.com:8443/a?b=c&token=s3cr3t#d')).toBe(
      'https://user:***@hooks.example.com:8443/a?b=…&token=…#d',
    );
    expect(redactUrl('https://hooks.slack.com/services/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')).toBe(
      'https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/…',
    );
    expect(redactUrl('failed: "http://127.0.0.1:9/hooks/rollout-notifications-channel"')).toBe(
      'failed: "http://127.0.0.1:9/hooks/rollout-notifications-channel"',
    );
    expect(redactUrl('http://token@host/x')).toBe('http://***@host/x');
    expect(redactUrl('http://127.0.0.1:8080/smoke')).toBe('http://127.0.0.1:8080/smoke');
    expect(redactUrl('see http://a:b@x/ and https://c:d@y/')).toBe('see http://a:***@x/ and https://c:***@y/');
    expect(redactUrl('etcd://root:pw@10.0.0.1:2379')).toBe('etcd://root:***@10.0.0.1:2379');
  });
});

function credentialed(url: string): string {
  return url.replace('http://', 'http://ops:hunter2@');
}
