/**
 * Runs tasks one at a time per key, in the order they were queued. Two calls this process makes to one
 * etcd key without waiting then reach etcd in that order (gRPC alone does not promise it), so of two
 * snapshot saves the later one stays, and this process never races itself on a compare-and-swap.
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
