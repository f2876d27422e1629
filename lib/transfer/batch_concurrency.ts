/**
 * The concurrency of a running batch: fixed, or adaptive — measured in
 * windows from the batch's own counters and the machine's CPU time
 * ({@linkcode TuningLoop}), decided by a {@linkcode ConcurrencyTuner},
 * applied to the worker pool and the two lanes.
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
  #lanes: Lanes;
  #rangesPerFile: 1 | 2 = 2;
  #onChange: ((change: ConcurrencyChange) => void) | undefined;

  /**
   * Applies the start level (every count for fixed concurrency).
   *
   * @param settings The batch's settings: the mode and the ceilings.
   * @param targets The pool, the lanes and the counters.
   * @param options `start`: the streams to start with (a resumed batch's last
   *   level); `onChange`: called with each change of an adaptive level;
   *   `machineCpu`: the machine's CPU time (see {@linkcode TuningLoop}).
   */
  constructor(
    settings: ResolvedSettings,
    targets: ConcurrencyTargets,
    options: {
      start?: number | undefined;
      onChange?: ((change: ConcurrencyChange) => void) | undefined;
      machineCpu?: () => CpuTimes | null;
    } = {},
  ) {
    this.#settings = settings;
    this.#targets = targets;
    this.#onChange = options.onChange;
    const ceilings = this.#ceilings;
    if (settings.concurrency === "fixed") {
      this.#lanes = ceilings;
    } else {
      const tuner = new ConcurrencyTuner({
        max: settings.maxWorkers,
        ...(options.start === undefined ? {} : { start: options.start }),
      });
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
