/**
 * One file of a running batch: the run-time facts about it (bytes counted,
 * offloaded, its digest, what fell back) beside its frozen plan item, and
 * the one place where its outcome is made and reported.
 *
 * @module
 */

import { describeError, type FailureCode, FileTransferError } from "../errors.ts";
import { ASYNC_FILE_OPS, type FileOps } from "../fs/file_ops.ts";
import { bytesOfRun, type PlannedFile } from "../plan/plan_item.ts";
import type { Fallback, FileResult, FileStatus } from "./result.ts";
import type { ReadBack } from "../fs/page_cache.ts";
import type { Run } from "./run.ts";

/** A copy loop noticed the cancel flag. */
export class Stopped extends Error {}

/** One file being transferred. */
export class FileJob {
  /** The run it belongs to. */
  readonly run: Run;
  /** Its plan item (never written). */
  readonly file: PlannedFile;
  /** Bytes of it counted as done in the progress outside the workers' counters. */
  counted = 0;
  /** Bytes the kernel copied. */
  offloadedBytes = 0;
  /** Bytes a killed run had written into the temporary this run took over. */
  resumedBytes = 0;
  /** The source's digest, computed in flight. */
  sourceDigest: string | undefined;
  /** Whether the written copy was hashed again and matched. */
  verified = false;
  /** Where its read-back came from (`verify: "source"`; see `page_cache.ts`). */
  readBack: ReadBack | undefined;
  /** Moved by a rename: its bytes never moved. */
  renamed = false;
  /**
   * Whether the copy replaced a file at its destination, as seen when it was
   * kept aside (`backupDir`); otherwise the plan's `replaces` holds.
   */
  replaced: boolean | undefined;
  /** Where the file it replaced is kept (`backupDir`). */
  backup: string | undefined;
  /** What ran instead of the planned copier. */
  fallback: Fallback | undefined;
  /** The calls its copy, check and publish make (see `file_ops.ts`). */
  ops: FileOps = ASYNC_FILE_OPS;
  #ended = false;

  /**
   * Starts a file.
   *
   * @param run The run.
   * @param file The plan item.
   */
  constructor(run: Run, file: PlannedFile) {
    this.run = run;
    this.file = file;
  }

  /** Whether its outcome has been reported. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes done outside the workers (a whole file, a rename). */
  countBytes(bytes: number): void {
    this.counted += bytes;
    this.run.accounting.addBytes(bytes);
  }

  /**
   * Fails the file: its bytes leave the totals, the error names both paths.
   *
   * @param reason The cause in plain words.
   * @param cause The error behind it.
   * @param code Its kind (else from the cause).
   */
  fail(reason: string, cause?: unknown, code?: FailureCode): void {
    this.run.accounting.dropFile(this.file, this.counted);
    this.counted = 0;
    const error = new FileTransferError(this.file.src, this.file.dst, reason, cause, code);
    this.finish("failed", reason, error);
  }

  /**
   * Fails the file with what went wrong, saying which side it was.
   *
   * @param what What was being done, e.g. `"cannot finish the move"`.
   * @param error The error.
   */
  failWith(what: string, error: unknown): void {
    this.fail(`${what}: ${describeError(error)}`, error);
  }

  /**
   * Reports the outcome (once).
   *
   * @param status What happened.
   * @param reason Why, for skipped and failed files.
   * @param error The error, for a failed file.
   */
  finish(status: FileStatus, reason?: string, error?: FileTransferError): void {
    if (this.#ended) return;
    this.#ended = true;
    const { file } = this;
    const result: FileResult = { src: file.src, dst: file.dst, bytes: bytesOfRun(file), status };
    if (file.id >= 0) result.id = file.id;
    if (this.offloadedBytes > 0) result.offloadedBytes = this.offloadedBytes;
    if (this.resumedBytes > 0) result.resumedBytes = this.resumedBytes;
    if (this.renamed) result.renamed = true;
    if ((status === "copied" || status === "moved") && (this.replaced ?? file.replaces === true)) {
      result.replaced = true;
      if (this.backup !== undefined) result.backup = this.backup;
    }
    if (this.fallback !== undefined) result.fallback = this.fallback;
    if (this.sourceDigest !== undefined && status !== "failed" && this.run.settings.hash !== null) {
      result.hash = {
        algorithm: this.run.settings.hash,
        digest: this.sourceDigest,
        verified: this.verified,
        ...(this.verified ? { readBack: this.readBack ?? "cache" } : {}),
      };
    }
    if (reason !== undefined) result.reason = reason;
    if (error !== undefined) result.error = error;
    this.run.accounting.record(result);
    this.run.observe?.(file, result);
    this.run.events.onFile?.(result);
  }
}
