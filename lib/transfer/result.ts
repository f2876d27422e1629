/**
 * The result of a batch: one entry per file and the totals.
 *
 * @module
 */

import type { FileTransferError } from "../errors.ts";
import type { HashAlgorithm } from "../integrity/hash.ts";
import type { Operation } from "../options.ts";

/**
 * What happened to one file. `"cancelled"` appears only on the result carried
 * by a {@linkcode CancelledError}. `"staged"`: in a shard's run, this
 * shard's ranges of a file split across shards are written into their
 * shared temporary; `ferry finalize` publishes the file.
 */
export type FileStatus = "copied" | "moved" | "skipped" | "failed" | "cancelled" | "staged";

/**
 * What ran instead of what the plan said, when the storage refused it:
 * `read-write` (the kernel refused `copy_file_range`; ferry's buffers moved
 * the bytes), `copy` (a rename was refused across mount points; the file
 * was copied, then its source removed).
 */
export type Fallback = "read-write" | "copy";

/** The outcome for one file of a batch. */
export interface FileResult {
  /** The id of its plan item (absent for files found after a folder was moved by one rename). */
  id?: number;
  /** Absolute source path. */
  src: string;
  /** Absolute destination path. */
  dst: string;
  /** Size of the file in bytes (the bytes written, for a copied file; for a staged one, its shard's ranges). */
  bytes: number;
  /** What happened. */
  status: FileStatus;
  /** Bytes the kernel copied with `copy_file_range` (reflink, server-side copy), when any. */
  offloadedBytes?: number;
  /** Bytes a killed run of the batch had written, kept (the rest was copied). */
  resumedBytes?: number;
  /** Moved by a rename on one file system: no bytes were copied. */
  renamed?: boolean;
  /** What ran instead of the plan's copier, when the storage refused it. */
  fallback?: Fallback;
  /** The copy replaced a file that was at its destination. */
  replaced?: boolean;
  /** Where that file is kept (with `backupDir`); without it, it is gone. */
  backup?: string;
  /** The source's checksum, computed while it was copied (with `hash` or `verify: "source"`). */
  hash?: {
    /** The algorithm. */
    algorithm: HashAlgorithm;
    /** The digest, as the standard tool prints it. */
    digest: string;
    /** `true` when the written copy was hashed again before publishing and matched. */
    verified: boolean;
    /**
     * Where that read-back came from: `"storage"` (flushed, its cached
     * pages dropped), `"flushed"` (flushed; without `--allow-ffi` its pages
     * stayed, so it may have come from memory), `"cache"` (`verify: "cache"`).
     */
    readBack?: "storage" | "flushed" | "cache";
  };
  /** Why it was not done, in plain words, for `"skipped"`, `"failed"` and `"cancelled"`. */
  reason?: string;
  /** The error, for `"failed"`; its message names both paths and the reason. */
  error?: FileTransferError;
}

/** Counts over a whole batch. */
export interface TransferTotals {
  /** Files in the plan. */
  files: number;
  /** Files copied or moved and published. */
  filesDone: number;
  /** Files left alone because the destination existed (skip policy). */
  filesSkipped: number;
  /** Files that failed. */
  filesFailed: number;
  /** Files not finished because the batch was cancelled. */
  filesCancelled: number;
  /** In a shard's run: files split across shards whose ranges this shard wrote (`ferry finalize` publishes them). */
  filesStaged: number;
  /** Bytes of all files in the plan. */
  bytesTotal: number;
  /** Bytes of the files that were published. */
  bytesDone: number;
  /** Files moved by a rename (no bytes copied). */
  filesRenamed: number;
  /** Bytes of the files moved by a rename. */
  bytesRenamed: number;
  /** Bytes that killed runs of the batch had written and this run kept (not copied again). */
  bytesResumed: number;
}

/** What `mhl: true` recorded in one destination root. */
export interface ManifestOutcome {
  /** The destination root (a copied folder, or the folder a copied file lands in). */
  root: string;
  /** The manifests written (nested histories first, the root's last); empty when none. */
  manifests: string[];
  /** Why no generation was written although nothing failed to write (an incomplete delivery). */
  notWritten?: string;
  /** Why the generation could not be written (the copied files stay); makes `ok` false. */
  error?: string;
}

/** ferry temporaries found in the destination folders, and this run's own that stayed. */
export interface TemporaryReport {
  /** Temporaries of runs that ended without cleaning up (killed), removed now. */
  reclaimed: { path: string; bytes: number }[];
  /** Temporaries whose run may still be going (on another machine, or it cannot be told): kept. */
  leftAlone: string[];
  /** Temporaries that could not be removed, with why. */
  notRemoved: { path: string; reason: string }[];
}

/** The outcome of a batch. */
export interface TransferResult {
  /** The batch id given in the options, or a generated one. */
  batchId: string;
  /** `"copy"` or `"move"`. */
  operation: Operation;
  /**
   * The files that failed, in the order they ended. Every file's outcome is
   * given to `onFile` as it ends; the result keeps only the failures, so that
   * a batch of millions of files is not held in memory.
   */
  failures: FileResult[];
  /** Whether the plan was still being produced when the batch ended (a cancel during the walk). */
  incomplete?: boolean;
  /** Counts. */
  totals: TransferTotals;
  /** Wall time from the start of planning to the end of clean-up, in milliseconds. */
  elapsedMs: number;
  /** Bytes copied (not those moved by a rename) divided by the elapsed time, per second. */
  bytesPerSecond: number;
  /** `true` when no file failed, no manifest failed to write, and the batch was not cancelled. */
  ok: boolean;
  /** With `mhl: true`: what was recorded per destination root. */
  manifests?: ManifestOutcome[];
  /** Stray temporaries found and removed, kept, or left behind. */
  temporaries?: TemporaryReport;
  /** With `ledger`: this run's journal, and why it stopped recording if it did. */
  journal?: { path: string; error?: string };
}

/**
 * Computes the totals of a list of file results.
 *
 * @param files The per-file results.
 * @returns The counts.
 *
 * @example
 * ```ts
 * import { summarize } from "./result.ts";
 *
 * const totals = summarize([{ src: "/a", dst: "/b", bytes: 3, status: "copied" }]);
 * console.log(totals.bytesDone); // 3
 * ```
 */
export function summarize(files: Iterable<FileResult>): TransferTotals {
  const totals = emptyTotals();
  for (const file of files) count(totals, file);
  return totals;
}

/**
 * Totals of nothing yet.
 *
 * @returns Zero counts.
 */
export function emptyTotals(): TransferTotals {
  return {
    files: 0,
    filesDone: 0,
    filesSkipped: 0,
    filesFailed: 0,
    filesCancelled: 0,
    filesStaged: 0,
    bytesTotal: 0,
    bytesDone: 0,
    filesRenamed: 0,
    bytesRenamed: 0,
    bytesResumed: 0,
  };
}

/**
 * Adds one file's outcome to totals.
 *
 * @param totals The totals, changed in place.
 * @param file The file's result.
 */
export function count(totals: TransferTotals, file: FileResult): void {
  totals.files++;
  totals.bytesTotal += file.bytes;
  switch (file.status) {
    case "copied":
    case "moved":
      totals.filesDone++;
      totals.bytesDone += file.bytes;
      totals.bytesResumed += file.resumedBytes ?? 0;
      if (file.renamed === true) {
        totals.filesRenamed++;
        totals.bytesRenamed += file.bytes;
      }
      break;
    case "skipped":
      totals.filesSkipped++;
      break;
    case "failed":
      totals.filesFailed++;
      break;
    case "cancelled":
      totals.filesCancelled++;
      break;
    case "staged":
      totals.filesStaged++;
      totals.bytesDone += file.bytes;
      totals.bytesResumed += file.resumedBytes ?? 0;
      break;
  }
}

/**
 * Orders file outcomes as their plan did: by plan item id, and the files
 * found inside a folder moved by one rename (which have none) last, by
 * destination. For `Array.prototype.sort`.
 *
 * @param a An outcome.
 * @param b Another.
 * @returns Negative when `a` comes first.
 *
 * @example
 * ```ts
 * import { byPlanOrder } from "./result.ts";
 *
 * const files = [
 *   { id: 2, src: "/a/2", dst: "/b/2", bytes: 1, status: "copied" as const },
 *   { id: 1, src: "/a/1", dst: "/b/1", bytes: 1, status: "copied" as const },
 * ];
 * console.log(files.sort(byPlanOrder).map((f) => f.id)); // [1, 2]
 * ```
 */
export function byPlanOrder(a: FileResult, b: FileResult): number {
  return (a.id ?? Number.MAX_SAFE_INTEGER) - (b.id ?? Number.MAX_SAFE_INTEGER) ||
    (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0);
}
