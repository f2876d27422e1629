/**
 * Adaptive concurrency: how many streams a batch copies with, chosen from
 * what it measures while it runs. Parallel streams pay off where the
 * storage serves them in parallel (a share with latency per request) and
 * cost CPU and round trips where it does not (a server on the same few
 * cores, one disk); no fixed number is right everywhere (bench/RESULTS.md,
 * the realnet sweep). So a batch starts small and climbs:
 *
 * - Each window (about 150 ms of copying while climbing, 300 ms after) gives
 *   the work done at the level in use: bytes, plus {@linkcode FILE_WORK_BYTES}
 *   per file that ended, so that a batch of small files, whose cost is per
 *   file, is measured too.
 * - **Climbing**: the level doubles after each window while the rate rises
 *   by at least {@linkcode TunerOptions.gain} over the level before it; the
 *   first step that does not goes back to the level before it, and the
 *   tuner holds there. A window in which CPU was the limit ends the climb.
 *   The top is the batch's ceiling (`maxWorkers`).
 * - **Holding**: every {@linkcode TunerOptions.probeEvery} windows it tries
 *   one level up (or, at the top, one down) for one window and keeps it only
 *   for the same gain (one down is kept when it is no slower), so that a
 *   batch whose storage or files change (large files, then small ones) follows. While the machine's CPUs are saturated
 *   it does not probe upward: more streams would only take CPU from what
 *   already has it (the kernel, a FUSE daemon, the artists' work).
 * - Windows with nothing copied (planning, waiting on a folder) are not
 *   measured; the level stays.
 *
 * The tuner only decides; `batch.ts` measures and applies its levels to the
 * worker pool and the lanes (see {@linkcode lanesFor}).
 *
 * @module
 */

/** The work one file stands for besides its bytes (its opens, creates, renames): 64 KiB. */
export const FILE_WORK_BYTES = 64 * 1024;

/** Settings of a {@linkcode ConcurrencyTuner}. */
export interface TunerOptions {
  /**
   * The most streams.
   */
  max: number;
  /**
   * The streams to start with (a resumed batch starts where its last run ended).
   * @default {2}
   */
  start?: number;
  /**
   * How much a step up must raise the rate to be kept.
   * @default {1.1}
   */
  gain?: number;
  /**
   * Windows held between two probes.
   * @default {8}
   */
  probeEvery?: number;
}

/** One measured window. */
export interface TunerWindow {
  /** Bytes copied in the window (plus {@linkcode FILE_WORK_BYTES} per file that ended). */
  work: number;
  /** Its length in milliseconds. */
  ms: number;
  /**
   * Whether CPU was the limit during it: the machine's CPUs ≥ 95 % busy, or
   * this process using ≥ 95 % of the cores it may run on.
   */
  cpuBound: boolean;
}

/** A change of level and why it was made, as the tuner reports it. */
export interface TunerDecision {
  /** The level from now on. */
  streams: number;
  /** The level before. */
  from: number;
  /** Why, in plain words. */
  reason: string;
}

/**
 * Decides the number of streams from measured windows.
 *
 * @example Three windows: 2 → 4 streams pays, 4 → 8 does not
 * ```ts
 * import { ConcurrencyTuner } from "./concurrency_tuner.ts";
 *
 * const tuner = new ConcurrencyTuner({ max: 8 });
 * const window = (mibPerS: number) => ({ work: mibPerS * 2 ** 20 * 0.3, ms: 300, cpuBound: false });
 * console.log(tuner.streams); // 2
 * tuner.observe(window(200)); // climbs to 4
 * tuner.observe(window(400)); // climbs to 8
 * const back = tuner.observe(window(410)); // not 10 % more: back to 4
 * console.log(back?.streams, tuner.streams); // 4 4
 * ```
 */
export class ConcurrencyTuner {
  #max: number;
  #gain: number;
  #probeEvery: number;
  #level: number;
  /** The rate of the level before a step up (climbing or probing), to compare with. */
  #before: { level: number; rate: number } | undefined;
  #climbing = true;
  #held = 0;

  /**
   * Creates a tuner at its start level.
   *
   * @param options The ceiling and how it climbs.
   */
  constructor(options: TunerOptions) {
    this.#max = Math.max(1, Math.floor(options.max));
    this.#gain = options.gain ?? 1.1;
    this.#probeEvery = options.probeEvery ?? 8;
    this.#level = clamp(options.start ?? 2, 1, this.#max);
    this.#climbing = this.#level < this.#max;
  }

  /** The streams in use. */
  get streams(): number {
    return this.#level;
  }

  /** Whether it is still climbing (doubling after each window that paid off). */
  get climbing(): boolean {
    return this.#climbing;
  }

  /**
   * Takes one window measured at the current level.
   *
   * @param window The work done, the window's length, whether CPU was the limit.
   * @returns The change of level, or `undefined` when the level stays.
   */
  observe(window: TunerWindow): TunerDecision | undefined {
    if (window.work <= 0 || window.ms <= 0) return undefined;
    const rate = window.work / window.ms;
    const before = this.#before;
    this.#before = undefined;
    if (before !== undefined) {
      const up = this.#level > before.level;
      const better = up ? rate >= before.rate * this.#gain : rate >= before.rate;
      if (!better) {
        this.#climbing = false;
        this.#held = 0;
        return this.#set(
          before.level,
          up
            ? `${this.#level} streams were not ${percent(this.#gain)} faster than ${before.level}`
            : `${this.#level} streams were slower than ${before.level}`,
        );
      }
      if (!this.#climbing) {
        this.#held = 0;
        return undefined;
      }
    }
    if (this.#climbing) {
      // At the top, or with the CPUs already the limit (more streams would
      // only share them), the climb ends here.
      if (this.#level >= this.#max || window.cpuBound) {
        this.#climbing = false;
        return undefined;
      }
      this.#before = { level: this.#level, rate };
      return this.#set(
        Math.min(this.#max, this.#level * 2),
        before === undefined ? "starting to climb" : "the last step up paid off",
      );
    }
    if (++this.#held < this.#probeEvery) return undefined;
    this.#held = 0;
    if (this.#level < this.#max && !window.cpuBound) {
      this.#before = { level: this.#level, rate };
      return this.#set(this.#level + 1, "probing one stream more");
    }
    if (this.#level > 1) {
      this.#before = { level: this.#level, rate };
      return this.#set(
        this.#level - 1,
        window.cpuBound
          ? "the CPUs are saturated: probing one stream less"
          : "probing one stream less",
      );
    }
    return undefined;
  }

  #set(level: number, reason: string): TunerDecision | undefined {
    const from = this.#level;
    if (level === from) return undefined;
    this.#level = level;
    return { streams: level, from, reason };
  }
}

/** What a level of streams allows at once, within the batch's ceilings. */
export interface Lanes {
  /** Ranges copied at once by the worker pool. */
  streams: number;
  /** Large (chunked) files in flight. */
  files: number;
  /** Small files in flight. */
  smallFiles: number;
}

/**
 * The lanes for a number of streams: ranges at once = streams, large files
 * in flight = half the streams (each gets about two ranges at once; as many
 * as the streams where each file's ranges run one at a time, as into a
 * share: see `oneAtATime` of `WorkerPool.runRanges`), small
 * files in flight = eight times the streams (a small file waits on round
 * trips, not on bandwidth: the sweep of bench/RESULTS.md found the ceiling of
 * 16 best on both shares, and 4 in flight took 1.3–1.4× as long); each within
 * its ceiling and at least 1.
 *
 * @param streams The tuner's level.
 * @param ceilings The batch's `maxWorkers`, `fileWorkers`, `smallFileWorkers`.
 * @param rangesPerFile A large file's ranges copied at once: 2, or 1 where they run one at a time.
 * @returns The lanes.
 *
 * @example
 * ```ts
 * import { lanesFor } from "./concurrency_tuner.ts";
 *
 * console.log(lanesFor(1, { streams: 8, files: 4, smallFiles: 16 }));
 * // { streams: 1, files: 1, smallFiles: 8 }
 * console.log(lanesFor(4, { streams: 8, files: 4, smallFiles: 16 }, 1));
 * // { streams: 4, files: 4, smallFiles: 16 }
 * ```
 */
export function lanesFor(streams: number, ceilings: Lanes, rangesPerFile: 1 | 2 = 2): Lanes {
  return {
    streams: clamp(streams, 1, ceilings.streams),
    files: clamp(Math.ceil(streams / rangesPerFile), 1, ceilings.files),
    smallFiles: clamp(streams * 8, 1, ceilings.smallFiles),
  };
}

function clamp(n: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(n)));
}

function percent(gain: number): string {
  return `${Math.round((gain - 1) * 100)} %`;
}
