/**
 * Runs tasks one at a time per key, in the order they were queued; a key's queue is dropped once idle,
 * so idle keys cost nothing. The etcd state store orders its writes to one key with it, the embedded
 * store queues this process's writers of one file before they contend for its marker, and a drone
 * serialises the requests touching one config.
 */
export class KeyedQueue {
  /** key → the tail of its queue; dropped once idle. */
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const tail = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.#tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      done();
      if (this.#tails.get(key) === tail) {
        this.#tails.delete(key);
      }
    }
  }
}
