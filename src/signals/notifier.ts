import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { assertPositiveInteger } from '../infra/argument-checks.js';
import { KeyedQueue } from '../infra/keyed-queue.js';
import type { NotifyEvent, NotifySpec } from '../spec/types.js';
import { postJson, type Backoff } from './post-json.js';
import { redactUrl } from '../infra/redact.js';

/** What every notification of one rollout says about it. */
export interface NotifyContext {
  /** The rollout's id. */
  readonly rollout: string;
  /** The rollout spec's name. */
  readonly name: string;
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
}

/** The facts of one event; what is left out is sent as null (or `[]` for `hot`). */
export interface NotifyDetails {
  readonly step?: string | null;
  readonly result?: string | null;
  readonly reason?: string;
  /** Drones that answered HOT: both formats name them. */
  readonly hot?: readonly string[];
  readonly drones?: { readonly total: number; readonly updated: number };
}

/** The `json` format's body. */
export interface NotifyBody {
  readonly event: NotifyEvent;
  readonly rollout: string;
  readonly name: string;
  /** When `notify` was called (ISO 8601), the same on every try. */
  readonly at: string;
  readonly step: string | null;
  readonly result: string | null;
  readonly reason: string | null;
  readonly hot: readonly string[];
  readonly config: NotifyContext['config'];
  readonly drones: { readonly total: number; readonly updated: number } | null;
}

/** One delivery (target × event) once its retries are spent, for the audit log. */
export interface NotifySendRecord {
  readonly key: string;
  readonly event: NotifyEvent;
  /** The target's URL without its credentials. */
  readonly url: string;
  readonly ok: boolean;
  /** The last answer's status; null when none came. */
  readonly status: number | null;
  readonly error?: string;
}

export interface NotifierOptions {
  readonly targets: readonly NotifySpec[];
  readonly logger: Logger;
  /** Keys delivered before (e.g. by a process that died): never delivered again. */
  readonly alreadySent?: Iterable<string>;
  /**
   * Called once per key that some target takes, from `notify` itself, before any delivery of it; its
   * deliveries wait for the promise it returns. Record the key here (on disk) and a process that dies
   * mid-send never sends it again. What it throws or rejects with is logged, and the key is sent anyway:
   * a notification told twice after a crash beats one never told.
   */
  readonly beforeSend?: (key: string, event: NotifyEvent) => void | Promise<void>;
  /** Called once per delivery when it is done, sent or not; what it throws is logged and ignored. */
  readonly onSend?: (record: NotifySendRecord) => void;
  readonly context: NotifyContext;
  /** Deliveries in flight at once, over all targets. @default 4 */
  readonly concurrency?: number;
  /** The wait before each retry. @default defaultBackoff (250 ms doubling to 2 s) */
  readonly backoff?: Backoff;
  /** The clock of `at`. @default Date.now */
  readonly now?: () => number;
}

/**
 * Tells people what a rollout does, without ever holding it up or changing its course: `notify` returns
 * at once and nothing here throws after construction. Each key is delivered at most once (marked before
 * sending); each target gets the events in its `on`, in the order `notify` was called (one delivery per
 * target at a time, its retries included; at most `concurrency` deliveries at once over all targets).
 */
export class Notifier {
  readonly #targets: readonly NotifySpec[];
  readonly #logger: Logger;
  readonly #beforeSend: NotifierOptions['beforeSend'];
  readonly #onSend: NotifierOptions['onSend'];
  readonly #context: NotifyContext;
  readonly #backoff: Backoff | undefined;
  readonly #now: () => number;
  readonly #keys: Set<string>;
  readonly #queue: PQueue;
  readonly #perTarget = new KeyedQueue();
  readonly #stop = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  #sent = 0;
  #failed = 0;

  constructor(options: NotifierOptions) {
    const concurrency = options.concurrency ?? 4;
    assertPositiveInteger('concurrency', concurrency);
    this.#targets = [...options.targets];
    this.#logger = options.logger;
    this.#beforeSend = options.beforeSend;
    this.#onSend = options.onSend;
    this.#context = options.context;
    this.#backoff = options.backoff;
    this.#now = options.now ?? Date.now;
    this.#keys = new Set(options.alreadySent ?? []);
    this.#queue = new PQueue({ concurrency });
    // Each delivery in flight listens on the stop signal twice (here and in got).
    setMaxListeners(2 * concurrency + 8, this.#stop.signal);
  }

  /** Queues `event` for every target whose `on` has it, unless `key` was given before; returns at once. */
  notify(key: string, event: NotifyEvent, details: NotifyDetails = {}): void {
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    if (this.#stop.signal.aborted) {
      this.#logger.debug({ key, event }, 'notification dropped: the notifier is closed');
      return;
    }
    try {
      this.#enqueue(key, event, details);
    } catch (error) {
      this.#logger.warn({ key, event, err: error }, 'notification dropped: it could not be queued');
    }
  }

  /**
   * Waits for the deliveries queued or in flight (and any queued meanwhile) to be done, for `timeoutMs` at
   * most; never rejects. Whatever is left goes on: `close` cancels it.
   */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), Math.max(0, timeoutMs));
    });
    try {
      while (this.#inFlight.size > 0) {
        const outcome = await Promise.race([Promise.allSettled([...this.#inFlight]), expired]);
        if (outcome === 'expired') {
          this.#logger.warn({ pending: this.#inFlight.size, timeoutMs }, 'notifications still pending after drain');
          return;
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cancels the deliveries queued or in flight (each recorded as failed) and drops any later `notify`. */
  close(): void {
    this.#stop.abort(new Error('the notifier was closed'));
  }

  /** Deliveries (target × event) done so far: sent means a 2xx answer. */
  counts(): { sent: number; failed: number } {
    return { sent: this.#sent, failed: this.#failed };
  }

  #enqueue(key: string, event: NotifyEvent, details: NotifyDetails): void {
    const targets = this.#targets
      .map((target, index) => ({ target, index }))
      .filter((t) => t.target.on.includes(event));
    if (targets.length === 0) return;
    const body = this.#body(event, details);
    const texts = { json: JSON.stringify(body), slack: JSON.stringify(slackMessage(body)) };
    const marked = this.#mark(key, event);
    for (const { target, index } of targets) {
      const text = texts[target.format];
      const delivery = this.#perTarget
        .run(String(index), async () => {
          // Awaited in the target's turn, so that its deliveries keep the notify order.
          await marked;
          await this.#queue.add(() => this.#deliver(target, key, event, text));
        })
        .catch((error: unknown) => this.#logger.warn({ key, event, err: error }, 'notification delivery broke'))
        .finally(() => this.#inFlight.delete(delivery));
      this.#inFlight.add(delivery);
    }
  }

  /** Runs beforeSend; the promise settles when it is done and never rejects. */
  #mark(key: string, event: NotifyEvent): Promise<void> {
    const broke = (error: unknown) => {
      this.#logger.warn({ key, event, err: error }, 'beforeSend failed; the notification is sent anyway');
    };
    try {
      return Promise.resolve(this.#beforeSend?.(key, event)).catch(broke);
    } catch (error) {
      broke(error);
      return Promise.resolve();
    }
  }

  #body(event: NotifyEvent, details: NotifyDetails): NotifyBody {
    const { rollout, name, config } = this.#context;
    return {
      event,
      rollout,
      name,
      at: new Date(this.#now()).toISOString(),
      step: details.step ?? null,
      result: details.result ?? null,
      reason: details.reason ?? null,
      hot: [...(details.hot ?? [])],
      config,
      drones: details.drones ?? null,
    };
  }

  async #deliver(target: NotifySpec, key: string, event: NotifyEvent, body: string): Promise<void> {
    const url = redactUrl(target.url);
    let record: NotifySendRecord;
    try {
      const result = await postJson({
        url: target.url,
        body,
        timeoutMs: target.timeoutMs,
        retries: target.retries,
        signal: this.#stop.signal,
        ...(this.#backoff ? { backoff: this.#backoff } : {}),
      });
      if (result.answered && result.status >= 200 && result.status < 300) {
        record = { key, event, url, ok: true, status: result.status };
      } else if (result.answered) {
        const said = result.text.trim().replace(/\s+/g, ' ').slice(0, 200);
        const error = redactUrl(`${url} answered ${result.status}${said === '' ? '' : `: ${said}`}`);
        record = { key, event, url, ok: false, status: result.status, error };
      } else {
        const why = result.code === 'ETIMEDOUT' ? `ETIMEDOUT (no answer within ${target.timeoutMs} ms)` : result.code;
        record = { key, event, url, ok: false, status: null, error: redactUrl(`${url} unreachable: ${why}`) };
      }
    } catch {
      record = { key, event, url, ok: false, status: null, error: 'cancelled: the notifier was closed' };
    }
    if (record.ok) {
      this.#sent += 1;
      this.#logger.debug({ key, event, url, status: record.status }, 'notification sent');
    } else {
      this.#failed += 1;
      this.#logger.warn({ key, event, url, status: record.status, error: record.error }, 'notification failed');
    }
    try {
      this.#onSend?.(record);
    } catch (error) {
      this.#logger.warn({ key, event, err: error }, 'onSend threw; the notification record is lost');
    }
  }
}

/** A Slack incoming-webhook message: a one-line `text` (what notifications show) and one mrkdwn section. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly [
    { readonly type: 'section'; readonly text: { readonly type: 'mrkdwn'; readonly text: string } },
  ];
}

const EMOJI: Readonly<Record<NotifyEvent, string>> = {
  started: ':rocket:',
  step_passed: ':white_check_mark:',
  waiting: ':hourglass_flowing_sand:',
  promoted: ':tada:',
  rolled_back: ':leftwards_arrow_with_hook:',
  aborted_hot: ':rotating_light:',
  needs_attention: ':warning:',
  unchanged: ':zzz:',
  lock_busy: ':lock:',
  interrupted: ':octagonal_sign:',
  invalid: ':x:',
};

/** Slack caps a section's text at 3,000 characters; `text` is kept to the same. */
const SLACK_MAX_CHARS = 3_000;
/** HOT drones named in the one-line text; the section names them all (up to its cap). */
const HOT_IN_TEXT = 10;

/**
 * `:rotating_light: aim-sensitivity-v43-abc aborted_hot: HOT lock mismatch on drone-7 (aim_lock_config.conf v43)`:
 * the reason (or the step), the HOT drones the reason does not already name, and the config.
 */
export function slackMessage(body: NotifyBody): SlackMessage {
  const summary = body.reason ?? (body.step === null ? null : `step ${body.step}`);
  const unnamed = body.hot.filter((drone) => !summary?.includes(drone));
  const hot =
    unnamed.length === 0
      ? ''
      : ` (HOT: ${unnamed.slice(0, HOT_IN_TEXT).join(', ')}${unnamed.length > HOT_IN_TEXT ? `, +${unnamed.length - HOT_IN_TEXT} more` : ''})`;
  const config = `(${body.config.file} ${body.config.version})`;
  const text = `${EMOJI[body.event]} ${body.rollout} ${body.event}${summary === null ? '' : `: ${summary}`}${hot} ${config}`;

  const lines = [
    `${EMOJI[body.event]} *${body.event}* · ${body.rollout} (${body.name})`,
    ...(body.reason === null ? [] : [body.reason]),
    ...(body.hot.length === 0 ? [] : [`*HOT drones:* ${body.hot.join(', ')}`]),
    ...(body.step === null ? [] : [`*step:* ${body.step}`]),
    ...(body.result === null ? [] : [`*result:* ${body.result}`]),
    ...(body.drones === null ? [] : [`*drones:* ${body.drones.updated}/${body.drones.total} updated`]),
    `*config:* ${body.config.file} ${body.config.version} (sha256 ${body.config.sha256.slice(0, 12)})`,
  ];
  return {
    text: clip(escapeSlack(text)),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: clip(lines.map(escapeSlack).join('\n')) } }],
  };
}

/** Slack reads `&`, `<` and `>` as markup: our texts mean them literally. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string): string {
  return text.length > SLACK_MAX_CHARS ? `${text.slice(0, SLACK_MAX_CHARS - 1)}…` : text;
}
