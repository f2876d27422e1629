/**
 * The concurrency of a running batch: fixed, or adaptive — measured in
 * windows from the batch's own counters and the machine's CPU time
 * ({@linkcode TuningLoop}), decided by a {@linkcode ConcurrencyTuner},
 * applied to the worker pool and the two lanes. An adaptive batch keeps one
 * tuner per pair of storage its files move between (`storage_pairs.ts`):
 * once no file of the pair in use is running, the pair whose files run
 * brings its own level (a pair met for the first time climbs from the start
 * level), and the levels are journaled, so that the batch's next run starts
 * each pair where it was.
 *
 * @module
 */

import type { ResolvedSettings } from "../options.ts";
import type { WorkerPool } from "../workers/pool.ts";
import type { Accounting } from "./accounting.ts";
import { ConcurrencyTuner, FILE_WORK_BYTES, type Lanes, lanesFor } from "./concurrency_tuner.ts";
import type { Lane } from "./lane.ts";
import type { ConcurrencyChange, ConcurrencyInUse } from "./progress.ts";
import { type CpuTimes, TuningLoop } from "./tuning_loop.ts";

/** What the concurrency applies to. */
export interface ConcurrencyTargets {
  /** The chunk workers. */
  pool: WorkerPool;
  /** Large files in flight. */
  large: Lane;
  /** Small files in flight. */
  small: Lane;
  /** The batch's counters. */
  accounting: Accounting;
}

/**
 * Applies a batch's concurrency and, when it is adaptive, retunes it while the batch runs.
 *
 * @example An adaptive batch starts with 2 streams
 * ```ts
 * import { BatchConcurrency } from "./batch_concurrency.ts";
 * import { Accounting } from "./accounting.ts";
 * import { Lane } from "./lane.ts";
 * import { ControlBlock } from "../workers/control.ts";
 * import { WorkerPool } from "../workers/pool.ts";
 * import { resolveOptions } from "../options.ts";
 *
 * const control = new ControlBlock(8);
 * const pool = new WorkerPool(control, { bufferBytes: 1 << 20 });
 * const accounting = new Accounting(control, performance.now());
 * const targets = { pool, large: new Lane(4, 16), small: new Lane(16, 64), accounting };
 * const concurrency = new BatchConcurrency(resolveOptions({}), targets);
 * console.log(concurrency.inUse); // { mode: "adaptive", streams: 2, files: 1, smallFiles: 16 }
 * ```
 */
export class BatchConcurrency {
  #settings: ResolvedSettings;
  #targets: ConcurrencyTargets;
  #loop: TuningLoop | undefined;
  #tuner: ConcurrencyTuner | undefined;
  /** The tuner of each storage pair met so far, and the pair whose files are fed now. */
  #tuners = new Map<string, ConcurrencyTuner>();
  #pair: string | undefined;
  /** Files running per pair, and each pair in words. */
  #running = new Map<string, number>();
  #labelOf: (pair: string) => string = (pair) => pair;
  #fresh: number | undefined;
  #remembered: Readonly<Record<string, number>>;
  #lanes: Lanes;
  #rangesPerFile: 1 | 2 = 2;
  #onChange: ((change: ConcurrencyChange) => void) | undefined;

  /**
   * Applies the start level (every count for fixed concurrency).
   *
   * @param settings The batch's settings: the mode and the ceilings.
   * @param targets The pool, the lanes and the counters.
   * @param options `start`: the streams to start with (a resumed batch's last
   *   level); `fresh`: the streams a storage pair met for the first time
   *   starts with (default: the tuner's, 2); `remembered`: each storage
   *   pair's level in the batch's last run; `onChange`: called with each
   *   change of an adaptive level; `machineCpu`: the machine's CPU time (see
   *   {@linkcode TuningLoop}).
   */
  constructor(
    settings: ResolvedSettings,
    targets: ConcurrencyTargets,
    options: {
      start?: number | undefined;
      fresh?: number | undefined;
      remembered?: Readonly<Record<string, number>> | undefined;
      onChange?: ((change: ConcurrencyChange) => void) | undefined;
      machineCpu?: () => CpuTimes | null;
    } = {},
  ) {
    this.#settings = settings;
    this.#targets = targets;
    this.#onChange = options.onChange;
    this.#fresh = options.fresh;
    this.#remembered = options.remembered ?? {};
    const ceilings = this.#ceilings;
    if (settings.concurrency === "fixed") {
      this.#lanes = ceilings;
    } else {
      const tuner = this.#newTuner(options.start ?? options.fresh);
      this.#tuner = tuner;
      this.#lanes = lanesFor(tuner.streams, ceilings);
      this.#loop = new TuningLoop(
        tuner,
        () => this.#work(),
        (decision) => {
          this.#lanes = lanesFor(decision.streams, this.#ceilings, this.#rangesPerFile);
          this.#apply();
          this.#onChange?.({ ...this.inUse, from: decision.from, reason: decision.reason });
        },
        () => targets.pool.settled,
        options.machineCpu,
      );
    }
    this.#apply();
  }

  /** Starts measuring (adaptive only); {@linkcode BatchConcurrency.stop} ends it. */
  start(): void {
    this.#loop?.start();
  }

  /** Stops measuring. */
  stop(): void {
    this.#loop?.stop();
  }

  /**
   * A file that moves between this pair of storage starts (adaptive only;
   * {@linkcode BatchConcurrency.end} when it has ended). Once no file of the
   * pair in use is running, the pair with the most files running (or the
   * next file's) brings its level: its own tuner, or the one it had when its
   * files came before, and the change is reported. Files of two pairs that
   * keep running side by side share one level. The batch's first pair keeps the
   * level the batch started with, unless its last run recorded one for it.
   *
   * @param pair The pair's key (`srcDev>dstDev`, see `storage_pairs.ts`).
   */
  begin(pair: string): void {
    if (this.#loop === undefined) return;
    this.#running.set(pair, (this.#running.get(pair) ?? 0) + 1);
    if (pair === this.#pair) return;
    if (this.#pair !== undefined && (this.#running.get(this.#pair) ?? 0) > 0) return;
    this.#switchTo(pair);
  }

  /**
   * How the reports name a storage pair (default: its key).
   *
   * @param labelOf The pair in words, e.g. the mapping that showed it.
   */
  labelPairs(labelOf: (pair: string) => string): void {
    this.#labelOf = labelOf;
  }

  /**
   * A file that {@linkcode BatchConcurrency.begin} started has ended.
   *
   * @param pair Its pair's key.
   */
  end(pair: string): void {
    const running = (this.#running.get(pair) ?? 1) - 1;
    this.#running.set(pair, running);
    if (pair !== this.#pair || running > 0) return;
    // The pair in use has no file running: the pair with the most files running takes over.
    let next: string | undefined;
    for (const [other, count] of this.#running) {
      if (count > 0 && (next === undefined || count > this.#running.get(next)!)) next = other;
    }
    if (next !== undefined) this.#switchTo(next);
  }

  #switchTo(pair: string): void {
    const first = this.#pair === undefined;
    this.#pair = pair;
    let tuner = this.#tuners.get(pair);
    const met = tuner !== undefined;
    if (tuner === undefined) {
      const remembered = this.#remembered[pair];
      tuner = first && (remembered === undefined || remembered === this.#tuner!.streams)
        ? this.#tuner!
        : this.#newTuner(remembered ?? this.#fresh);
      this.#tuners.set(pair, tuner);
    }
    if (tuner === this.#tuner) return;
    this.#tuner = tuner;
    this.#loop!.retarget(tuner);
    const from = this.#lanes.streams;
    this.#lanes = lanesFor(tuner.streams, this.#ceilings, this.#rangesPerFile);
    this.#apply();
    const label = this.#labelOf(pair);
    const reason = first
      ? `${label}: the level its last run reached`
      : met
      ? `files from ${label} again: its own level`
      : `files from ${label}: a level of its own`;
    this.#onChange?.({ ...this.inUse, from, reason });
  }

  /** Each storage pair's adaptive level so far (journaled with the progress). */
  get levels(): Record<string, number> {
    const levels: Record<string, number> = {};
    for (const [pair, tuner] of this.#tuners) levels[pair] = tuner.streams;
    return levels;
  }

  /**
   * A large file's ranges run one at a time (into a share): from now on an
   * adaptive level lets as many large files run at once as it has streams,
   * where it let half as many. Fixed concurrency keeps its counts.
   */
  oneRangePerFile(): void {
    if (this.#rangesPerFile === 1 || this.#loop === undefined) return;
    this.#rangesPerFile = 1;
    this.#lanes = lanesFor(this.#lanes.streams, this.#ceilings, 1);
    this.#apply();
  }

  /** The concurrency in use, for progress events. */
  get inUse(): ConcurrencyInUse {
    return { mode: this.#settings.concurrency, ...this.#lanes };
  }

  #newTuner(start: number | undefined): ConcurrencyTuner {
    return new ConcurrencyTuner({
      max: this.#settings.maxWorkers,
      ...(start === undefined ? {} : { start }),
    });
  }

  get #ceilings(): Lanes {
    const { maxWorkers, fileWorkers, smallFileWorkers } = this.#settings;
    return { streams: maxWorkers, files: fileWorkers, smallFiles: smallFileWorkers };
  }

  #apply(): void {
    const { pool, large, small } = this.#targets;
    pool.streams = this.#lanes.streams;
    large.resize(this.#lanes.files);
    small.resize(this.#lanes.smallFiles);
  }

  /**
   * What was copied and read back: a rename or a range a killed run wrote
   * costs no transfer. A verified batch's read-backs count: without them a
   * window in which copies and read-backs share the streams looked slower
   * than one of copies alone, and a verified copy of frames stayed at 2
   * streams where 4 took 0.72× the time.
   */
  #work(): number {
    const { accounting } = this.#targets;
    const { totals } = accounting;
    return accounting.bytesDone + accounting.bytesChecked - totals.bytesRenamed -
      totals.bytesResumed + totals.files * FILE_WORK_BYTES;
  }
}
