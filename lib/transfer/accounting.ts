/**
 * The counters of a running batch: what has been planned (growing while the
 * walk goes on), what has ended, the bytes done and the rate, and the
 * failures. Files are counted, not kept.
 *
 * @module
 */

import { bytesOfRun, type PlannedFile } from "../plan/plan_item.ts";
import type { ControlBlock } from "../workers/control.ts";
import { type Progress, RateMeter } from "./progress.ts";
import { count, emptyTotals, type FileResult, type TransferTotals } from "./result.ts";

/** Counts a batch's files and bytes as they are planned and as they end. */
export class Accounting {
  /** Totals of the files that ended. */
  readonly totals: TransferTotals = emptyTotals();
  /** The files that failed. */
  readonly failures: FileResult[] = [];
  /** Whether the plan is still being read. */
  planning = true;
  #control: ControlBlock;
  #meter = new RateMeter();
  #startMs: number;
  #filesPlanned = 0;
  #bytesPlanned = 0;
  /** Bytes the batch will write: planned files that are not skipped or failed up front. */
  #bytesTotal = 0;
  /** Bytes finished outside the workers' counters (whole files, renames), minus failed partials. */
  #extraBytes = 0;
  #bytesChecked = 0;
  // The files themselves, not their paths: a set of objects needs no hash of a new string per file.
  #inFlight = new Set<{ readonly src: string }>();

  /**
   * Starts counting.
   *
   * @param control The workers' control block, whose counters hold the bytes they copied.
   * @param startMs When the batch started (`performance.now()`).
   */
  constructor(control: ControlBlock, startMs: number) {
    this.#control = control;
    this.#startMs = startMs;
  }

  /** A file of the plan has been read. */
  planned(file: PlannedFile): void {
    const bytes = bytesOfRun(file);
    this.#filesPlanned++;
    this.#bytesPlanned += bytes;
    if (file.action !== "skip" && file.action !== "fail") this.#bytesTotal += bytes;
  }

  /** Files planned so far. */
  get filesPlanned(): number {
    return this.#filesPlanned;
  }

  /** Bytes copied or moved outside the workers. */
  addBytes(bytes: number): void {
    this.#extraBytes += bytes;
  }

  /**
   * Bytes read to check a copy (a read-back, a source hashed apart from its
   * copy): work the concurrency tuner counts, not progress.
   */
  get bytesChecked(): number {
    return this.#bytesChecked;
  }

  /** Adds to {@linkcode Accounting.bytesChecked}. */
  addChecked(bytes: number): void {
    this.#bytesChecked += bytes;
  }

  /** A file that will not be published: its bytes leave the totals. */
  dropFile(file: PlannedFile, countedBytes: number): void {
    if (file.action !== "skip" && file.action !== "fail") this.#bytesTotal -= bytesOfRun(file);
    this.#extraBytes -= countedBytes;
  }

  /**
   * A file is being copied.
   *
   * @param file Its plan item (the progress shows its `src`).
   */
  begin(file: { readonly src: string }): void {
    this.#inFlight.add(file);
  }

  /**
   * A file is no longer being copied.
   *
   * @param file The plan item given to {@linkcode Accounting.begin}.
   */
  end(file: { readonly src: string }): void {
    this.#inFlight.delete(file);
  }

  /** A file ended. */
  record(result: FileResult): void {
    count(this.totals, result);
    if (result.status === "failed") this.failures.push(result);
  }

  /** The files planned that never ended (a cancel): counted as cancelled. */
  cancelRest(): void {
    const rest = this.#filesPlanned - this.totals.files;
    this.totals.files += rest;
    this.totals.filesCancelled += rest;
    this.totals.bytesTotal = this.#bytesPlanned;
  }

  /** Bytes written so far (renamed files count in full). */
  get bytesDone(): number {
    return this.#control.totalBytes() + this.#extraBytes;
  }

  /** A progress snapshot. */
  progress(): Progress {
    const now = performance.now();
    const bytesDone = this.bytesDone;
    this.#meter.sample(now, bytesDone);
    return {
      bytesDone,
      bytesTotal: this.#bytesTotal,
      filesDone: this.totals.files,
      filesTotal: this.#filesPlanned,
      bytesPerSecond: this.#meter.bytesPerSecond,
      etaMs: this.planning ? null : this.#meter.etaMs(this.#bytesTotal),
      elapsedMs: now - this.#startMs,
      inFlight: [...this.#inFlight].map((file) => file.src),
      planning: this.planning,
    };
  }
}
