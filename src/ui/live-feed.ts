import type { ServerResponse } from 'node:http';

/**
 * One server-sent event stream that many pages share: it reads its source every `pollMs` while anyone
 * listens, and sends the text only when it changed. A new listener gets the latest text at once. A
 * source that fails is told to the listeners as a `store-error` event, and read again next round.
 */
export class LiveFeed {
  readonly #read: () => Promise<string>;
  readonly #pollMs: number;
  readonly #onIdle: () => void;
  readonly #listeners = new Set<ServerResponse>();
  #last: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  constructor(options: { read: () => Promise<string>; pollMs: number; onIdle: () => void }) {
    this.#read = options.read;
    this.#pollMs = options.pollMs;
    this.#onIdle = options.onIdle;
  }

  /** Streams to `response` until it closes; the browser reconnects by itself (after `retry` ms). */
  add(response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
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
    for (const response of this.#listeners) response.end();
    this.#listeners.clear();
    this.#last = undefined;
    this.#onIdle();
  }

  async #poll(): Promise<void> {
    // A slow store (etcd over a network) must not pile up reads: one at a time, the next round skips.
    if (this.#reading) return;
    this.#reading = true;
    try {
      const text = await this.#read();
      if (text === this.#last) return;
      this.#last = text;
      for (const response of this.#listeners) response.write(`data: ${text}\n\n`);
    } catch (error) {
      const message = JSON.stringify({ message: error instanceof Error ? error.message : String(error) });
      for (const response of this.#listeners) response.write(`event: store-error\ndata: ${message}\n\n`);
    } finally {
      this.#reading = false;
    }
  }
}
