/**
 * Reads a plan's items ahead of the executor, into a bounded buffer: the walk
 * of later folders goes on while earlier files are copied, and memory stays
 * bounded by the buffer, not by the size of the tree.
 *
 * The first fill reads up to the whole capacity (a batch that fits is checked
 * whole before anything is written); afterwards the buffer is kept at a
 * smaller depth, enough to keep the copy fed. Items that wait long in the
 * buffer outlive V8's young generation and are copied into the old one,
 * where they die: 10 000 waiting items made a copy of 100 000 small files
 * peak about 15 MiB higher than 1 000 (bench/many_files.ts), at the same
 * speed.
 *
 * @module
 */

/** Items held ahead once the first fill is done (the depth that keeps the lanes fed). */
export const STEADY_DEPTH = 1000;

/** A bounded buffer filled from an async source in the background. */
export class ReadAhead<T> {
  #source: AsyncIterator<T>;
  #capacity: number;
  #steady: number;
  #onItem: (item: T) => void;
  #buffer: T[] = [];
  #done = false;
  #error: { error: unknown } | undefined;
  #wakeReader: (() => void) | undefined;
  #wakePump: (() => void) | undefined;
  #pumping: Promise<void> | undefined;
  #stopped = false;

  /**
   * Prepares the buffer; nothing is read until {@linkcode ReadAhead.fill}.
   *
   * @param source The items.
   * @param capacity How many items are read ahead at most.
   * @param onItem Called for each item as it is read (the totals grow).
   * @param steady How many items are read ahead after the first fill (at most
   * `capacity`).
   */
  constructor(
    source: AsyncIterable<T>,
    capacity: number,
    onItem: (item: T) => void,
    steady = STEADY_DEPTH,
  ) {
    this.#source = source[Symbol.asyncIterator]();
    this.#capacity = Math.max(1, capacity);
    this.#steady = Math.max(1, Math.min(steady, this.#capacity));
    this.#onItem = onItem;
  }

  /**
   * Starts reading and waits until the buffer is full or the source ended;
   * from then on, the buffer is refilled to the steady depth only.
   *
   * @returns The items read so far, and whether they are all of them.
   * @throws What the source threw.
   */
  async fill(): Promise<{ items: readonly T[]; complete: boolean }> {
    this.#pumping ??= this.#pump();
    while (!this.#done && this.#error === undefined && this.#buffer.length < this.#capacity) {
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
    if (this.#error !== undefined) throw this.#error.error;
    // The buffer itself: it empties as the items are taken, so holding the
    // answer holds no item.
    const items = this.#buffer;
    this.#capacity = this.#steady;
    return { items, complete: this.#done };
  }

  /**
   * The next item if one is read already (no wait, no promise).
   *
   * @returns The item, or `undefined` when none is buffered: then ask {@linkcode ReadAhead.next}.
   */
  take(): T | undefined {
    if (this.#buffer.length === 0) return undefined;
    const item = this.#buffer.shift()!;
    this.#wakePump?.();
    return item;
  }

  /**
   * The next item, or `undefined` at the end.
   *
   * @throws What the source threw.
   */
  async next(): Promise<T | undefined> {
    this.#pumping ??= this.#pump();
    for (;;) {
      const item = this.take();
      if (item !== undefined) return item;
      if (this.#error !== undefined) throw this.#error.error;
      if (this.#done) return undefined;
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
  }

  /** Whether the source has ended. */
  get complete(): boolean {
    return this.#done;
  }

  /** Stops reading; returns what was read and not taken. */
  async stop(): Promise<T[]> {
    this.#stopped = true;
    this.#wakePump?.();
    await this.#pumping?.catch(() => {});
    await this.#source.return?.().catch(() => {});
    return this.#buffer.splice(0);
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#stopped) {
        if (this.#buffer.length >= this.#capacity) {
          await new Promise<void>((resolve) => (this.#wakePump = resolve));
          continue;
        }
        const step = await this.#source.next();
        if (step.done) break;
        this.#onItem(step.value);
        this.#buffer.push(step.value);
        this.#wakeReader?.();
      }
    } catch (error) {
      this.#error = { error };
    } finally {
      this.#done = this.#error === undefined;
      this.#wakeReader?.();
    }
  }
}
