import type { ServerResponse } from 'node:http';
import { startEventStream } from './http-answers.js';

/** A listener that has not taken this much of what was sent is dropped; its browser reconnects afresh. */
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;

/**
 * One server-sent event stream that many pages share: it reads its source every `pollMs` while anyone
 * listens, and sends the text only when it changed. A new listener gets the latest text at once. A
 * source that fails is told to the listeners as a `store-error` event (once per error), and read again
 * next round; the next good read is sent whatever it holds.
 */
export class LiveFeed {
  readonly #read: () => Promise<string>;
  readonly #pollMs: number;
  readonly #onIdle: () => void;
  readonly #listeners = new Set<ServerResponse>();
  #last: string | undefined;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  constructor(options: { read: () => Promise<string>; pollMs: number; onIdle: () => void }) {
    this.#read = options.read;
    this.#pollMs = options.pollMs;
    this.#onIdle = options.onIdle;
  }

  /** Streams to `response` until it closes; the browser reconnects by itself (after `retry` ms). */
  add(response: ServerResponse): void {
    // Gone while the request was routed: its close event has passed, so it would never be removed.
    if (response.destroyed || response.socket === null || response.socket.destroyed) return;
    startEventStream(response);
    response.write('retry: 1000\n\n');
    if (this.#last !== undefined) response.write(`data: ${this.#last}\n\n`);
    this.#listeners.add(response);
    response.once('close', () => {
      if (this.#listeners.delete(response) && this.#listeners.size === 0) this.close();
    });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => void this.#poll(), this.#pollMs);
      void this.#poll();
    }
  }

  /** Stops reading and ends every stream. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const response of listeners) response.end();
    this.#last = undefined;
    this.#lastError = undefined;
    this.#onIdle();
  }

  #send(block: string): void {
    for (const response of this.#listeners) {
      if (response.writableLength > MAX_BACKLOG_BYTES) {
        this.#listeners.delete(response);
        response.destroy();
        continue;
      }
      response.write(block);
    }
    if (this.#listeners.size === 0) this.close();
  }

  async #poll(): Promise<void> {
    // A slow store (etcd over a network) must not pile up reads: one at a time, the next round skips.
    if (this.#reading) return;
    this.#reading = true;
    try {
      const text = await this.#read();
      this.#lastError = undefined;
      if (text === this.#last) return;
      this.#last = text;
      this.#send(`data: ${text}\n\n`);
    } catch (error) {
      const message = JSON.stringify({ message: error instanceof Error ? error.message : String(error) });
      // Sent again once the store recovers, even if what it holds has not changed meanwhile.
      this.#last = undefined;
      if (message === this.#lastError) return;
      this.#lastError = message;
      this.#send(`event: store-error\ndata: ${message}\n\n`);
    } finally {
      this.#reading = false;
    }
  }
}
