/**
 * A lane of a running batch: files of one kind (large or small) in flight
 * up to a limit, with a bounded queue in front, so that reading the plan
 * waits when the lane is full instead of holding the plan in memory.
 *
 * @module
 */

/** Runs tasks with at most `concurrency` in flight and at most `capacity` waiting. */
export class Lane {
  #concurrency: number;
  #floor = 1;
  #capacity: number;
  #queue: (() => Promise<void>)[] = [];
  #active = 0;
  #space: (() => void)[] = [];
  #idle: (() => void)[] = [];
  #error: { error: unknown } | undefined;

  /**
   * Creates an empty lane.
   *
   * @param concurrency Tasks in flight at once.
   * @param capacity Tasks waiting at most before {@linkcode Lane.push} waits.
   */
  constructor(concurrency: number, capacity: number) {
    this.#concurrency = concurrency;
    this.#capacity = capacity;
  }

  /**
   * Queues a task; waits while the queue is full.
   *
   * @param task The work.
   * @throws The first error a task threw.
   */
  async push(task: () => Promise<void>): Promise<void> {
    while (this.#queue.length >= this.#capacity && this.#error === undefined) {
      await new Promise<void>((resolve) => this.#space.push(resolve));
    }
    if (this.#error !== undefined) throw this.#error.error;
    this.#queue.push(task);
    this.#pump();
  }

  /** Tasks in flight at most, now. */
  get concurrency(): number {
    return this.#concurrency;
  }

  /**
   * Lets more tasks run at once from now on, and never fewer later
   * ({@linkcode Lane.resize} stays at or above it).
   *
   * @param concurrency Tasks in flight at once.
   */
  widen(concurrency: number): void {
    this.#floor = Math.max(this.#floor, concurrency);
    this.resize(this.#concurrency);
  }

  /**
   * Sets how many tasks run at once from now on (adaptive concurrency), not
   * below what {@linkcode Lane.widen} asked for; running tasks beyond it finish.
   *
   * @param concurrency Tasks in flight at once (at least 1).
   */
  resize(concurrency: number): void {
    this.#concurrency = Math.max(1, this.#floor, Math.floor(concurrency));
    this.#pump();
  }

  /** Waits until every queued task has ended; throws the first error a task threw. */
  async drain(): Promise<void> {
    while (this.#active > 0 || this.#queue.length > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    if (this.#error !== undefined) throw this.#error.error;
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#queue.length > 0) {
      const task = this.#queue.shift()!;
      this.#space.shift()?.();
      this.#active++;
      task().catch((error) => {
        this.#error ??= { error };
      }).finally(() => {
        this.#active--;
        this.#pump();
        if (this.#active === 0 && this.#queue.length === 0) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
        if (this.#error !== undefined) { for (const resolve of this.#space.splice(0)) resolve(); }
      });
    }
  }
}
