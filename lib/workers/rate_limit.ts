/**
 * A bandwidth limit shared by the main thread and every worker of a batch:
 * one SharedArrayBuffer holding the rate (bytes per second, 0 for none)
 * and the "theoretical arrival time" of the generic cell rate algorithm (a
 * token bucket with one number): each copier reserves the bytes it is about
 * to move with one compare-and-swap, and sleeps until they are due. Bursts
 * are at most {@linkcode BURST_MS} of the rate, so the rate is smooth over
 * any window longer than that. The rate may change at any time (a
 * timetable, a signal): the next reservation uses it.
 *
 * @module
 */

/** The largest burst, in milliseconds of the rate. */
export const BURST_MS = 50;

/** The longest sleep between looks at a cancel or a lifted limit. */
const PAUSE_STEP_MS = 100;

const RATE = 0;
const DUE = 1;

/** Microseconds on a clock every thread of the process shares. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * The limit's view in one thread.
 *
 * @example
 * ```ts
 * import { RateLimit } from "./rate_limit.ts";
 *
 * let now = 0;
 * const limit = new RateLimit(undefined, () => now);
 * limit.setRate(1_000_000); // 1 MB/s
 * console.log(limit.reserve(50_000)); // 0: its 50 ms are within the burst
 * console.log(limit.reserve(1_000_000)); // 1000000: a second later (µs)
 * ```
 */
export class RateLimit {
  /** The shared memory, to post to workers. */
  readonly buffer: SharedArrayBuffer;
  #slots: BigInt64Array;
  #clock: () => number;

  /**
   * Creates a limit (no rate), or wraps one a worker was sent.
   *
   * @param buffer The shared memory, in a worker.
   * @param clock Microseconds (tests give their own).
   */
  constructor(buffer?: SharedArrayBuffer, clock: () => number = nowMicros) {
    this.buffer = buffer ?? new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT);
    this.#slots = new BigInt64Array(this.buffer);
    this.#clock = clock;
  }

  /** Bytes per second, or `null` when there is no limit. */
  get rate(): number | null {
    const rate = Number(Atomics.load(this.#slots, RATE));
    return rate > 0 ? rate : null;
  }

  /**
   * Sets the rate.
   *
   * @param bytesPerSecond The rate, or `null` for none.
   */
  setRate(bytesPerSecond: number | null): void {
    Atomics.store(this.#slots, RATE, BigInt(Math.max(0, Math.round(bytesPerSecond ?? 0))));
  }

  /**
   * Reserves bytes and gives the waits before they are due, in steps of at
   * most 100 ms; it stops early once `stopped()` says so (a cancel) or the
   * limit is lifted.
   *
   * @param bytes The bytes about to be moved.
   * @param stopped Whether the caller stopped meanwhile.
   * @returns The milliseconds to sleep, one step after another.
   */
  *pauses(bytes: number, stopped: () => boolean): Generator<number> {
    const micros = this.reserve(bytes);
    for (let left = micros / 1000; left > 0; left -= PAUSE_STEP_MS) {
      if (stopped() || this.rate === null) return;
      yield Math.min(PAUSE_STEP_MS, left);
    }
  }

  /**
   * Reserves bytes about to be moved.
   *
   * @param bytes How many.
   * @returns Microseconds to wait before moving them (0: at once).
   */
  reserve(bytes: number): number {
    const rate = Number(Atomics.load(this.#slots, RATE));
    if (rate <= 0 || bytes <= 0) return 0;
    const cost = Math.ceil((bytes * 1_000_000) / rate);
    for (;;) {
      const now = this.#clock();
      const due = Atomics.load(this.#slots, DUE);
      // The bytes take [start, start + cost) of the link's time; they may go
      // once their end is within a burst of now (so a large piece waits for
      // its whole cost, and many small ones flow evenly).
      const end = Math.max(Number(due), now) + cost;
      if (Atomics.compareExchange(this.#slots, DUE, due, BigInt(end)) === due) {
        return Math.max(0, end - now - BURST_MS * 1000);
      }
    }
  }
}
