/**
 * Async semaphore and mutex: at most `permits` callers run at once, the rest wait in arrival order.
 *
 * The mutex is needed where a critical section spans an await (a state save waiting for fdatasync, a
 * table update followed by a save): without it, two completions could interleave and a save could record
 * an older done-set after a newer one. The semaphore bounds the blocks handed to the pool, whose queue
 * rejects tasks beyond its limit. Twenty lines; a dependency would add nothing.
 */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  /** Runs `critical` once a permit is free; its result or error is passed through. */
  async run<T>(critical: () => T | Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await critical();
    } finally {
      // Hand the permit straight to the longest waiter, so no newcomer can overtake it.
      const next = this.waiting.shift();
      if (next === undefined) this.free++;
      else next();
    }
  }
}

export class Mutex extends Semaphore {
  constructor() {
    super(1);
  }
}
