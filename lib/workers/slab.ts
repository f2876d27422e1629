/**
 * A slab: one range of a source file read once into shared memory, for
 * several destinations to write (`lib/fanout/`). Its first 20 bytes are
 * five 32-bit counters — the bytes filled so far and the state, which the
 * worker that fills it raises after every buffer and the workers that
 * write from it wait on (`Atomics.wait`), so a range is written to every
 * destination as it is read, with no message per buffer; where the data
 * starts and its length; and whether a writer caught up with the fill and
 * waits (then the filler reads the rest at once, rather than at the pace of
 * its own destination). The data starts on a page where FFI tells
 * the address (see `lib/fs/aligned_bytes.ts`: reads into an address 16
 * bytes into a page cost 3.5× on some machines).
 *
 * @module
 */

import { ALIGN_BYTES, alignmentGap } from "../fs/aligned_bytes.ts";

/** The counters before the data: fill counter, state, where the data starts, its length, a writer waiting. */
export const SLAB_HEADER_BYTES = 20;

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
const DATA_AT = 2;
const LENGTH = 3;
const WAITED = 4;

/**
 * Views on a slab's counters and data.
 *
 * @example
 * ```ts
 * import { Slab } from "./slab.ts";
 *
 * const slab = Slab.create(4);
 * slab.data.set([1, 2, 3, 4]);
 * console.log(slab.waited); // false
 * slab.wait(0, 0); // a writer that has nothing to write yet
 * console.log(slab.waited); // true
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
    this.#header = new Int32Array(buffer, 0, SLAB_HEADER_BYTES / 4);
    this.data = new Uint8Array(buffer, this.#header[DATA_AT], this.#header[LENGTH]);
  }

  /**
   * The shared memory a slab of `length` bytes takes (the header and room to
   * start the data on a page): spare memory of this size can hold another.
   *
   * @param length The range's length.
   * @returns Its bytes.
   */
  static bytesFor(length: number): number {
    return SLAB_HEADER_BYTES + ALIGN_BYTES + length;
  }

  /**
   * A new, empty slab.
   *
   * @param length The range's length (at most 2 GiB − 1).
   * @returns The slab, in state `filling`.
   */
  static create(length: number): Slab {
    const buffer = new SharedArrayBuffer(Slab.bytesFor(length));
    const header = new Int32Array(buffer, 0, SLAB_HEADER_BYTES / 4);
    header[DATA_AT] = SLAB_HEADER_BYTES + alignmentGap(buffer, SLAB_HEADER_BYTES);
    header[LENGTH] = length;
    return new Slab(buffer);
  }

  /** Makes it empty again, to hold another range of the same length. */
  reset(): void {
    Atomics.store(this.#header, FILLED, 0);
    Atomics.store(this.#header, STATE, SLAB_STATE.filling);
    Atomics.store(this.#header, WAITED, 0);
  }

  /** Bytes read into it so far. */
  get filled(): number {
    return Atomics.load(this.#header, FILLED);
  }

  /**
   * Whether a writer has caught up with the fill and waited for it: a
   * destination faster than the filler's own. The filler then reads the
   * rest of the range at once, so that the faster destination is not held
   * to the pace of the filler's.
   */
  get waited(): boolean {
    return Atomics.load(this.#header, WAITED) === 1;
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
   * changes, at most `timeoutMs` (so that the caller can look at its cancel
   * flag), and tells the filler that a writer waits ({@linkcode waited}).
   *
   * @param seen The fill counter the caller has written up to.
   * @param timeoutMs The longest wait.
   */
  wait(seen: number, timeoutMs: number): void {
    Atomics.store(this.#header, WAITED, 1);
    Atomics.wait(this.#header, FILLED, seen, timeoutMs);
  }
}
