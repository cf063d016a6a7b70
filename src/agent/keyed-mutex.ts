/**
 * Runs tasks one at a time per key. A drone serialises the requests touching one config (and its
 * pause set) in-process, so a client's retry of a slow push waits for the first attempt and then
 * sees a duplicate, instead of tripping over our own lock file and reading as HOT.
 */
export class KeyedMutex {
  /** key → the tail of that key's queue; dropped once idle so idle drones cost nothing. */
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
