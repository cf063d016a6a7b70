/**
 * The calls a store has in flight, so that closing it waits for them. Once `drain` has begun no call
 * starts: `run` rejects with the store's own "closed" error instead.
 */
export class InFlight {
  readonly #calls = new Set<Promise<unknown>>();
  #draining = false;

  run<T>(call: () => Promise<T>, closed: () => Error): Promise<T> {
    if (this.#draining) return Promise.reject(closed());
    let result: Promise<T>;
    try {
      result = call();
    } catch (error) {
      result = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.#calls.add(result);
    const forget = (): void => void this.#calls.delete(result);
    result.then(forget, forget);
    return result;
  }

  /** Refuses new calls and waits for every call in flight to settle. */
  async drain(): Promise<void> {
    this.#draining = true;
    await Promise.allSettled([...this.#calls]);
  }
}
