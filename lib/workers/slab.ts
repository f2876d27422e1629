/**
 * A slab: one range of a source file read once into shared memory, for
 * several destinations to write (`lib/fanout/`). Its first 8 bytes are two
 * 32-bit counters — the bytes filled so far and the state — which the
 * worker that fills it raises after every buffer and the workers that
 * write from it wait on (`Atomics.wait`), so a range is written to every
 * destination as it is read, with no message per buffer.
 *
 * @module
 */

/** Bytes before the data: the fill counter and the state. */
export const SLAB_HEADER_BYTES = 8;

/** The slab's states. */
export const SLAB_STATE = {
  /** Being read. */
  filling: 0,
  /** Read completely. */
  full: 1,
  /** Its reader stopped (the source failed, or the batch was cancelled): read the rest yourself. */
  abandoned: 2,
} as const;

const FILLED = 0;
const STATE = 1;

/**
 * Views on a slab's counters and data.
 *
 * @example
 * ```ts
 * import { Slab } from "./slab.ts";
 *
 * const slab = Slab.create(4);
 * slab.data.set([1, 2, 3, 4]);
 * slab.filledTo(4, true);
 * console.log(slab.filled, slab.state); // 4 1
 * ```
 */
export class Slab {
  /** The shared memory, to post to workers. */
  readonly buffer: SharedArrayBuffer;
  /** The range's bytes. */
  readonly data: Uint8Array;
  #header: Int32Array;

  /**
   * Wraps a slab's memory (in a worker, the buffer it was sent).
   *
   * @param buffer The shared memory.
   */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#header = new Int32Array(buffer, 0, 2);
    this.data = new Uint8Array(buffer, SLAB_HEADER_BYTES);
  }

  /**
   * A new, empty slab.
   *
   * @param length The range's length (at most 2 GiB − 1).
   * @returns The slab, in state `filling`.
   */
  static create(length: number): Slab {
    return new Slab(new SharedArrayBuffer(SLAB_HEADER_BYTES + length));
  }

  /** Makes it empty again, to hold another range of the same length. */
  reset(): void {
    Atomics.store(this.#header, FILLED, 0);
    Atomics.store(this.#header, STATE, SLAB_STATE.filling);
  }

  /** Bytes read into it so far. */
  get filled(): number {
    return Atomics.load(this.#header, FILLED);
  }

  /** One of {@linkcode SLAB_STATE}. */
  get state(): number {
    return Atomics.load(this.#header, STATE);
  }

  /**
   * Records how far it is filled, and wakes the writers waiting for it.
   *
   * @param bytes Bytes filled so far.
   * @param full Whether that is the whole range.
   */
  filledTo(bytes: number, full = false): void {
    Atomics.store(this.#header, FILLED, bytes);
    if (full) Atomics.store(this.#header, STATE, SLAB_STATE.full);
    Atomics.notify(this.#header, FILLED);
  }

  /** Its reader stopped: the writers read what is missing themselves. */
  abandon(): void {
    if (this.state === SLAB_STATE.full) return;
    Atomics.store(this.#header, STATE, SLAB_STATE.abandoned);
    Atomics.notify(this.#header, FILLED);
  }

  /**
   * In a worker: waits until more than `seen` bytes are filled or the state
   * changes, at most `timeoutMs` (so that the caller can look at its cancel flag).
   *
   * @param seen The fill counter the caller has written up to.
   * @param timeoutMs The longest wait.
   */
  waitBeyond(seen: number, timeoutMs: number): void {
    Atomics.wait(this.#header, FILLED, seen, timeoutMs);
  }
}
