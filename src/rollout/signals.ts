import type { Logger } from 'pino';
import { callWebhook, redactUrl, type WebhookCall, type WebhookPayload } from '../signals/webhook.js';
import { Notifier } from '../signals/notifier.js';
import type { AuditEvent } from '../store/types.js';
import type { NotifyEvent, Plan, WebhookSpec, WebhookType } from '../spec/types.js';
import type { Ledger } from './ledger.js';
import type { RolloutRecorder } from './recorder.js';

/** Where a rollout stands when it calls out: what a webhook's payload and a notification carry. */
export interface SignalDetails {
  readonly step: string | null;
  readonly result?: string | null;
  readonly reason?: string;
  readonly hot?: readonly string[];
}

/** What the rollout's own calls out came to, for its report. */
export interface SignalsSummary {
  readonly notifications: { readonly sent: number; readonly failed: number };
  /** The post-rollout and rollback webhooks called at the end, and how each answered. */
  readonly webhooks: readonly WebhookCall[];
}

/** How long the end of a rollout waits for its last notifications to go out. */
const DRAIN_MS = 30_000;

/** The audit kind that marks a notification as sent (or tried): a resumed rollout never sends it again. */
const NOTIFICATION = 'notification';

/** Keys of the notifications an earlier process of this rollout already sent, from its audit log. */
export function sentNotificationKeys(events: readonly AuditEvent[]): string[] {
  return events.flatMap((event) => (event.kind === NOTIFICATION && typeof event.key === 'string' ? [event.key] : []));
}

/**
 * The rollout's calls to the outside: its webhooks (gates that can stop it, and calls after the fact)
 * and its notifications (never blocking, each transition told once, also across `resume`). Every call
 * and its answer go to the audit log.
 */
export class RolloutSignals {
  readonly #rolloutId: string;
  readonly #plan: Plan;
  readonly #ledger: Ledger;
  readonly #recorder: RolloutRecorder;
  readonly #notifier: Notifier;

  constructor(options: {
    readonly rolloutId: string;
    readonly plan: Plan;
    readonly ledger: Ledger;
    readonly recorder: RolloutRecorder;
    readonly logger: Logger;
    readonly alreadySent: readonly string[];
  }) {
    this.#rolloutId = options.rolloutId;
    this.#plan = options.plan;
    this.#ledger = options.ledger;
    this.#recorder = options.recorder;
    const { config } = options.plan;
    this.#notifier = new Notifier({
      targets: options.plan.spec.notify,
      logger: options.logger,
      alreadySent: options.alreadySent,
      context: {
        rollout: options.rolloutId,
        name: options.plan.spec.name,
        config: { file: config.file, version: config.version, sha256: config.sha256 },
      },
      beforeSend: async (key, event) => {
        // On disk before it goes out: a process that dies right after sending never sends it twice.
        this.#recorder.audit(NOTIFICATION, { key, event });
        await this.#recorder.flushOrLog('recording a notification failed');
      },
      onSend: (delivery) => {
        this.#recorder.audit('notification.delivered', { ...delivery, url: redactUrl(delivery.url) });
      },
    });
  }

  /** The webhooks of one type, in spec order. */
  hooks(type: WebhookType): readonly WebhookSpec[] {
    return this.#plan.spec.webhooks.filter((hook) => hook.type === type);
  }

  /** Calls one webhook with the rollout's state; the call and its answer go to the audit log. */
  async call(hook: WebhookSpec, details: SignalDetails, signal?: AbortSignal): Promise<WebhookCall> {
    const call = await callWebhook(hook, this.#payload(hook, details), signal);
    this.#recorder.audit('webhook', { ...call, url: redactUrl(call.url) });
    return call;
  }

  /** Tells the notification targets of `event`, once per `key`; returns at once. */
  notify(key: string, event: NotifyEvent, details: SignalDetails): void {
    this.#notifier.notify(key, event, { ...details, drones: this.#droneCounts() });
  }

  /**
   * The end of the rollout, once the fleet is resumed and the lock released: notifies the result, calls
   * the rollback webhooks when a rollback ran and the post-rollout ones always; none of it changes the
   * result. Waits for the notifications still in flight, up to DRAIN_MS.
   */
  async end(
    outcome: { readonly result: NotifyEvent; readonly reason: string; readonly hot: readonly string[] },
    rolledBack: boolean,
  ): Promise<SignalsSummary> {
    const details = { step: null, result: outcome.result, reason: outcome.reason, hot: outcome.hot };
    this.notify('end', outcome.result, details);
    const calls: WebhookCall[] = [];
    const afterTheFact = [...(rolledBack ? this.hooks('rollback') : []), ...this.hooks('post-rollout')];
    for (const hook of afterTheFact) calls.push(await this.call(hook, details));
    await this.#notifier.drain(DRAIN_MS);
    return { notifications: this.#notifier.counts(), webhooks: calls };
  }

  #payload(hook: WebhookSpec, details: SignalDetails): WebhookPayload {
    const { config } = this.#plan;
    return {
      rollout: this.#rolloutId,
      name: hook.name,
      type: hook.type,
      step: details.step,
      result: details.result ?? null,
      reason: details.reason ?? '',
      hot: details.hot ?? [],
      config: { file: config.file, version: config.version, sha256: config.sha256 },
      drones: this.#droneCounts(),
    };
  }

  #droneCounts(): { total: number; updated: number } {
    const sha = this.#plan.config.sha256;
    const updated = this.#ledger.ids((progress) => progress.pushSent && progress.now?.sha256 === sha).length;
    return { total: this.#plan.drones.length, updated };
  }
}
