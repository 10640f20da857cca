/**
 * A minimal async mutex: callers run one at a time, in the order they asked.
 *
 * Needed where a critical section spans an await (a state save waiting for fdatasync, a table update
 * followed by a save): without it, two completions could interleave and a save could record an older
 * done-set after a newer one. A promise chain is all that takes; a dependency would add nothing.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `critical` once every earlier caller has finished; its result or error is passed through. */
  run<T>(critical: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(critical);
    // The next caller waits for this one to settle, whether it succeeded or threw.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
