/**
 * The concurrency of a running batch: fixed, or adaptive — measured every
 * {@linkcode WINDOW_MS} from the batch's own counters and the machine's CPU
 * time, decided by a {@linkcode ConcurrencyTuner}, applied to the worker
 * pool and the two lanes.
 *
 * @module
 */

import type { ResolvedSettings } from "../options.ts";
import type { WorkerPool } from "../workers/pool.ts";
import type { Accounting } from "./accounting.ts";
import { ConcurrencyTuner, FILE_WORK_BYTES, type Lanes, lanesFor } from "./concurrency_tuner.ts";
import type { Lane } from "./lane.ts";
import type { ConcurrencyChange, ConcurrencyInUse } from "./progress.ts";

/** How long one measured window lasts. */
export const WINDOW_MS = 300;

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
  #tuner: ConcurrencyTuner | undefined;
  #lanes: Lanes;
  #timer: ReturnType<typeof setInterval> | undefined;
  #last: { atMs: number; work: number; cpu: CpuTimes | null } | undefined;
  #onChange: ((change: ConcurrencyChange) => void) | undefined;

  /**
   * Applies the start level (every count for fixed concurrency).
   *
   * @param settings The batch's settings: the mode and the ceilings.
   * @param targets The pool, the lanes and the counters.
   * @param options `start`: the streams to start with (a resumed batch's last
   *   level); `onChange`: called with each change of an adaptive level.
   */
  constructor(
    settings: ResolvedSettings,
    targets: ConcurrencyTargets,
    options: {
      start?: number | undefined;
      onChange?: ((change: ConcurrencyChange) => void) | undefined;
    } = {},
  ) {
    this.#settings = settings;
    this.#targets = targets;
    this.#onChange = options.onChange;
    const ceilings = this.#ceilings;
    if (settings.concurrency === "fixed") {
      this.#lanes = ceilings;
    } else {
      this.#tuner = new ConcurrencyTuner({
        max: settings.maxWorkers,
        ...(options.start === undefined ? {} : { start: options.start }),
      });
      this.#lanes = lanesFor(this.#tuner.streams, ceilings);
    }
    this.#apply();
  }

  /** Starts measuring (adaptive only); {@linkcode BatchConcurrency.stop} ends it. */
  start(): void {
    if (this.#tuner === undefined || this.#timer !== undefined) return;
    this.#last = this.#sample();
    this.#timer = setInterval(() => this.#tick(), WINDOW_MS);
  }

  /** Stops measuring. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
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

  #sample(): { atMs: number; work: number; cpu: CpuTimes | null } {
    const { accounting } = this.#targets;
    const { totals } = accounting;
    // What was copied: a rename or a range a killed run wrote costs no transfer.
    const work = accounting.bytesDone - totals.bytesRenamed - totals.bytesResumed +
      totals.files * FILE_WORK_BYTES;
    return { atMs: performance.now(), work, cpu: cpuTimes() };
  }

  #tick(): void {
    const now = this.#sample();
    const last = this.#last!;
    this.#last = now;
    const decision = this.#tuner!.observe({
      work: now.work - last.work,
      ms: now.atMs - last.atMs,
      cpuBound: cpuBusy(last.cpu, now.cpu) >= 0.95,
    });
    if (decision === undefined) return;
    this.#lanes = lanesFor(decision.streams, this.#ceilings);
    this.#apply();
    this.#onChange?.({ ...this.inUse, from: decision.from, reason: decision.reason });
  }
}

/** The machine's CPU time, busy and all, in clock ticks (`/proc/stat`). */
interface CpuTimes {
  busy: number;
  total: number;
}

/** `null` where `/proc/stat` cannot be read (not Linux, or no read permission for it). */
function cpuTimes(): CpuTimes | null {
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/proc/stat" }).state !== "granted") {
      return null;
    }
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** The busy share of the CPU time between two readings (0 when unknown). */
function cpuBusy(before: CpuTimes | null, after: CpuTimes | null): number {
  if (before === null || after === null || after.total <= before.total) return 0;
  return (after.busy - before.busy) / (after.total - before.total);
}
