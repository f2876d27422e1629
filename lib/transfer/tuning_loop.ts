/**
 * The measuring side of adaptive concurrency: every {@linkcode WINDOW_MS}
 * ({@linkcode CLIMB_WINDOW_MS} while the tuner climbs) it reads how much work
 * was done and how busy the machine's CPUs and this process were, gives the
 * window to a {@linkcode ConcurrencyTuner} and passes on its decisions.
 * A copy batch (`batch_concurrency.ts`) and the hashing of `ferry hash` and
 * `ferry verify` (`file_hasher.ts`) tune their streams with it.
 *
 * @module
 */

import { processCpuMs } from "./process_cpu.ts";
import type { ConcurrencyTuner, TunerDecision } from "./concurrency_tuner.ts";

/** How long one measured window lasts once the climb is over. */
export const WINDOW_MS = 300;
/**
 * How long one measured window lasts while the tuner climbs: a copy of one
 * large file from a share takes about a second, and with 300 ms windows half
 * of it went by before the climb from 2 streams reached 8.
 */
export const CLIMB_WINDOW_MS = 150;

/** How often a loop waiting for a new level to settle looks again, and how long it waits at most. */
const SETTLE_POLL_MS = 10;
const SETTLE_MAX_MS = 500;

/**
 * Feeds a tuner measured windows while started.
 *
 * @example Tuning a pool's streams from a byte counter
 * ```ts
 * import { ConcurrencyTuner } from "./concurrency_tuner.ts";
 * import { TuningLoop } from "./tuning_loop.ts";
 *
 * let bytes = 0;
 * const tuner = new ConcurrencyTuner({ max: 8 });
 * const loop = new TuningLoop(tuner, () => bytes, (decision) => console.log(decision.streams));
 * loop.start();
 * bytes += 1 << 20; // … work done
 * loop.stop();
 * ```
 */
export class TuningLoop {
  #tuner: ConcurrencyTuner;
  #work: () => number;
  #onDecision: (decision: TunerDecision) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last: Sample | undefined;
  #warm = false;
  #settled: () => boolean;
  #machineCpu: () => CpuTimes | null;
  /** Since when a raised level has been waiting to settle (`undefined`: it is not). */
  #settlingSince: number | undefined;

  /**
   * Creates a stopped loop.
   *
   * @param tuner The tuner that decides.
   * @param work The work done so far (bytes, plus what files stand for; it only grows).
   * @param onDecision Applies each change of level.
   * @param settled Whether a level just raised is in effect (the workers it
   *   needs have started): the window that measures it starts then. A
   *   window that included the start of two workers (~30 ms each of this
   *   thread, on 2 cores) measured 4 streams as no faster than 2 where they
   *   were 1.25× as fast (a hashed copy of a big file from the share).
   * @param machineCpu The machine's CPU time so far (default: `/proc/stat`,
   *   see {@linkcode machineCpuTimes}); a test gives a machine of its own.
   */
  constructor(
    tuner: ConcurrencyTuner,
    work: () => number,
    onDecision: (decision: TunerDecision) => void,
    settled: () => boolean = () => true,
    machineCpu: () => CpuTimes | null = machineCpuTimes,
  ) {
    this.#tuner = tuner;
    this.#work = work;
    this.#onDecision = onDecision;
    this.#settled = settled;
    this.#machineCpu = machineCpu;
  }

  /** Starts measuring; {@linkcode TuningLoop.stop} ends it. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#last = this.#sample();
    this.#next();
  }

  /**
   * Gives the windows to another tuner from now on: the batch's files come
   * from another pair of storage (`batch_concurrency.ts`). The window under
   * way mixes both pairs' work and is dropped; the first window with work
   * after it only sets the baseline again, as at the start.
   *
   * @param tuner The tuner that decides from now on.
   */
  retarget(tuner: ConcurrencyTuner): void {
    this.#tuner = tuner;
    this.#warm = false;
    this.#settlingSince = undefined;
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#last = this.#sample();
    this.#next();
  }

  /** Stops measuring (the timer no longer keeps the process alive). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Ends the next window after its length: shorter while the tuner climbs. */
  #next(): void {
    const ms = this.#settlingSince !== undefined
      ? SETTLE_POLL_MS
      : this.#tuner.climbing
      ? CLIMB_WINDOW_MS
      : WINDOW_MS;
    this.#timer = setTimeout(() => {
      this.#tick();
      if (this.#timer !== undefined) this.#next();
    }, ms);
  }

  #sample(): Sample {
    return {
      atMs: performance.now(),
      work: this.#work(),
      cpu: this.#machineCpu(),
      ownMs: processCpuMs(),
    };
  }

  #tick(): void {
    const now = this.#sample();
    const last = this.#last!;
    this.#last = now;
    // A raised level is measured from when it is in effect.
    if (this.#settlingSince !== undefined) {
      if (this.#settled() || now.atMs - this.#settlingSince >= SETTLE_MAX_MS) {
        this.#settlingSince = undefined;
      }
      return;
    }
    // The first window with work in it is a warm-up: workers were still
    // starting (~30 ms each, on the CPUs that copy), so its rate is low
    // and the next level would look better than it is. On two cores a
    // hashed copy in memory climbed to 8 streams that way and took 1.3×
    // as long as with 2.
    if (!this.#warm) {
      this.#warm = now.work > last.work;
      return;
    }
    const ms = now.atMs - last.atMs;
    // This process's CPU time against the cores it may run on (a `taskset`
    // or a cgroup's cpuset leaves fewer than the machine has).
    const own = now.ownMs === undefined || last.ownMs === undefined
      ? 0
      : (now.ownMs - last.ownMs) / (ms * Math.max(1, navigator.hardwareConcurrency));
    const decision = this.#tuner.observe({
      work: now.work - last.work,
      ms,
      cpuBound: cpuBusy(last.cpu, now.cpu) >= 0.95 || own >= 0.95,
    });
    if (decision === undefined) return;
    this.#onDecision(decision);
    if (decision.streams > decision.from) this.#settlingSince = now.atMs;
  }
}

/**
 * One reading: the time, the work done so far, the machine's and this
 * process's CPU time (`undefined` for the first readings without FFI).
 */
interface Sample {
  atMs: number;
  work: number;
  cpu: CpuTimes | null;
  ownMs: number | undefined;
}

/** The machine's CPU time, busy and all, in clock ticks. */
export interface CpuTimes {
  /** Ticks spent on anything but idle and I/O wait. */
  busy: number;
  /** All ticks. */
  total: number;
}

/**
 * The machine's CPU time from `/proc/stat`.
 *
 * @example
 * ```ts
 * import { machineCpuTimes } from "./tuning_loop.ts";
 * const times = machineCpuTimes();
 * console.log(times === null || times.busy <= times.total); // true
 * ```
 *
 * @returns The times, or `null` where `/proc/stat` cannot be read (not
 *   Linux, or no read permission for it).
 */
export function machineCpuTimes(): CpuTimes | null {
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
