/**
 * Progress events and the rate/ETA arithmetic behind them. Nothing here
 * prints: the engine emits {@linkcode Progress} values and the CLI renders them.
 *
 * @module
 */

import type { ConcurrencyMode, Operation } from "../options.ts";

/** A snapshot of a running batch, delivered at most every `progressIntervalMs`. */
export interface Progress {
  /** Bytes written so far (renamed files count in full). */
  bytesDone: number;
  /** Bytes the batch will write (files skipped or failed at planning do not count). */
  bytesTotal: number;
  /** Files finished (published, skipped or failed). */
  filesDone: number;
  /** Files in the batch. */
  filesTotal: number;
  /** Recent throughput in bytes per second (over the last few seconds). */
  bytesPerSecond: number;
  /** Estimated time left in milliseconds, or `null` before there is a rate. */
  etaMs: number | null;
  /** Time since the batch started, in milliseconds. */
  elapsedMs: number;
  /** Source paths of the files being copied right now. */
  inFlight: string[];
  /**
   * `true` while the sources are still being listed: the totals grow as the
   * walk goes on (as rsync's incremental recursion shows them).
   */
  planning: boolean;
  /** The bandwidth limit in force, in bytes per second (`bandwidthLimit`); absent without one. */
  bandwidthLimit?: number;
  /** The concurrency in use: chosen while the batch runs (`"adaptive"`) or as given (`"fixed"`). */
  concurrency?: ConcurrencyInUse;
}

/** How many streams a batch copies with right now. */
export interface ConcurrencyInUse {
  /** `"adaptive"` or `"fixed"` (see `TransferSettings.concurrency`). */
  mode: ConcurrencyMode;
  /** Byte ranges copied at once. */
  streams: number;
  /** Large (chunked) files in flight. */
  files: number;
  /** Small files in flight. */
  smallFiles: number;
}

/** A change of adaptive concurrency, and why it was made. */
export interface ConcurrencyChange extends ConcurrencyInUse {
  /** The streams before. */
  from: number;
  /** Why, in plain words ("4 streams were not 10 % faster than 2"). */
  reason: string;
}

/**
 * What is known of the plan when the first byte is about to be written:
 * all of it for a batch whose walk ends within the read-ahead, the part
 * listed so far otherwise (`complete: false`; progress events carry the
 * growing totals).
 */
export interface StartInfo {
  /** The batch id. */
  batchId: string;
  /** `"copy"` or `"move"`. */
  operation: Operation;
  /** Files planned so far. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** Bytes that will be copied (the rest is renamed, skipped or failed). */
  bytesToCopy: number;
  /** Ranges copied in parallel on the worker pool. */
  chunks: number;
  /** Directories planned so far. */
  dirs: number;
  /** Whether the plan is complete (the walk ended before the first write). */
  complete: boolean;
}

/**
 * Keeps a short window of (time, bytes) samples and derives the current rate
 * and the time left.
 *
 * @example
 * ```ts
 * import { RateMeter } from "./progress.ts";
 *
 * const meter = new RateMeter();
 * meter.sample(0, 0);
 * meter.sample(1000, 50_000_000);
 * console.log(meter.bytesPerSecond); // 50000000
 * console.log(meter.etaMs(100_000_000)); // 1000
 * ```
 */
export class RateMeter {
  #windowMs: number;
  #samples: { atMs: number; bytes: number }[] = [];

  /**
   * Creates a meter.
   *
   * @param windowMs How far back the rate looks.
   */
  constructor(windowMs = 3000) {
    this.#windowMs = windowMs;
  }

  /**
   * Records the bytes done at a moment.
   *
   * @param atMs A monotonic time in milliseconds.
   * @param bytes The bytes done at that time.
   */
  sample(atMs: number, bytes: number): void {
    this.#samples.push({ atMs, bytes });
    while (this.#samples.length > 2 && atMs - this.#samples[1]!.atMs >= this.#windowMs) {
      this.#samples.shift();
    }
  }

  /** Bytes per second over the window (0 before two samples). */
  get bytesPerSecond(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (first === undefined || last === undefined || last.atMs <= first.atMs) return 0;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / (last.atMs - first.atMs));
  }

  /**
   * Time left at the current rate.
   *
   * @param bytesTotal The bytes the batch will write.
   * @returns Milliseconds, or `null` while the rate is 0.
   */
  etaMs(bytesTotal: number): number | null {
    const rate = this.bytesPerSecond;
    const last = this.#samples[this.#samples.length - 1];
    if (rate <= 0 || last === undefined) return null;
    return Math.max(0, Math.round(((bytesTotal - last.bytes) * 1000) / rate));
  }
}
