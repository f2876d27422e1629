/**
 * The control block: one SharedArrayBuffer shared by the main thread and all
 * chunk workers. Slot 0 is the cancel flag; slot 1 + i counts the bytes that
 * worker i has written so far. Workers add to their counter after every
 * buffer and read the flag before every buffer; the main thread reads the
 * counters for progress, so no message per buffer is needed.
 *
 * @module
 */

/** Values of the cancel flag. */
export const RUN = 0;
/** Workers stop at their next buffer boundary. */
export const CANCEL = 1;

const FLAG = 0;

/**
 * A view on the shared control block.
 *
 * @example
 * ```ts
 * import { ControlBlock } from "./control.ts";
 *
 * const control = new ControlBlock(4);
 * control.addBytes(2, 1024);
 * console.log(control.totalBytes()); // 1024
 * control.cancel();
 * console.log(control.cancelled); // true
 * ```
 */
export class ControlBlock {
  /** The shared memory, to post to workers. */
  readonly buffer: SharedArrayBuffer;
  #slots: BigInt64Array;

  /**
   * Creates a control block for `workers` workers, or wraps an existing buffer
   * (inside a worker).
   *
   * @param workersOrBuffer The number of workers, or the buffer received from the main thread.
   */
  constructor(workersOrBuffer: number | SharedArrayBuffer) {
    this.buffer = typeof workersOrBuffer === "number"
      ? new SharedArrayBuffer((1 + workersOrBuffer) * BigInt64Array.BYTES_PER_ELEMENT)
      : workersOrBuffer;
    this.#slots = new BigInt64Array(this.buffer);
  }

  /** The number of worker counters. */
  get workers(): number {
    return this.#slots.length - 1;
  }

  /** `true` once {@linkcode ControlBlock.cancel} was called. */
  get cancelled(): boolean {
    return Atomics.load(this.#slots, FLAG) !== BigInt(RUN);
  }

  /** Asks every worker to stop at its next buffer boundary. */
  cancel(): void {
    Atomics.store(this.#slots, FLAG, BigInt(CANCEL));
  }

  /**
   * Adds written bytes to a worker's counter.
   *
   * @param worker The worker's slot (0-based).
   * @param bytes The bytes just written.
   */
  addBytes(worker: number, bytes: number): void {
    Atomics.add(this.#slots, 1 + worker, BigInt(bytes));
  }

  /**
   * The bytes written by all workers so far.
   *
   * @returns The sum of all counters.
   */
  totalBytes(): number {
    let sum = 0n;
    for (let i = 1; i < this.#slots.length; i++) sum += Atomics.load(this.#slots, i);
    return Number(sum);
  }
}
