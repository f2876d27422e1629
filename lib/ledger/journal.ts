/**
 * A run's journal: what one run of a batch did, written as it runs into an
 * SQLite file of its own in the ledger (`node:sqlite`, WAL mode), from the
 * main thread only, in one transaction every 100 ms (or every 1 000
 * records), so that a batch costs the copy almost nothing. A run that is
 * killed leaves its journal as of its last transaction and its state
 * `running` with no one holding its lock: `ferry status` calls it
 * interrupted, and the same command run again continues the batch.
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { describeError, InputError } from "../errors.ts";
import { hostName } from "../host.ts";
import { RUN_ID } from "../fs/temp_lease.ts";
import type { Chunk, PlanHeader, PlannedFile } from "../plan/plan_item.ts";
import type { DirectoryChange } from "../transfer/directories.ts";
import type { Progress } from "../transfer/progress.ts";
import type { FileResult, TransferTotals } from "../transfer/result.ts";
import { batchDir, bootId, openMarker, runFiles } from "./ledger_dir.ts";
import { batchFingerprint } from "./unfinished.ts";
import { holdLedger } from "./ledger_lock.ts";
import { BUSY_TIMEOUT_MS, migrate } from "./schema.ts";
import { pruneWhenDue } from "./prune_due.ts";

/** A range written into a temporary, with the hasher's state after it for a hashed copy. */
export interface JournaledChunk extends Chunk {
  /** The hash state after this range (every byte before its end hashed in order). */
  readonly hashState?: Uint8Array;
}

/** How a run ended, as its journal says: `running` until it ends (or forever, if it was killed). */
export type RunState = "running" | "done" | "failed" | "cancelled";

/** Records committed together, at most this far apart. */
const FLUSH_MS = 100;
/** Records committed together, at most this many. */
const FLUSH_RECORDS = 1000;
/** The `file` table's columns a record fills. */
const FILE_COLUMNS =
  "id, src, dst, bytes, status, code, reason, algorithm, digest, verified, renamed, mtime_ms, ended_ms, replaced, backup";
/**
 * Files' records inserted by one statement: each call into SQLite costs
 * more than its values, so 32 rows in one call took about 60 % of the
 * time of 32 calls.
 */
const FILE_ROWS = 32;

/**
 * Writes one run's journal. Every method after {@linkcode Journal.open}
 * only queues; a timer writes the queue in one transaction. A journal that
 * cannot be written any more stops recording and says why in `error`; the
 * copy goes on.
 *
 * @example
 * ```ts
 * import { Journal } from "./journal.ts";
 * import { planBatch } from "../plan/planner.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * const src = await Deno.makeTempFile();
 * const plan = await planBatch([{ src, dst: `${src}.copy` }], { batchId: "demo" });
 * const journal = await Journal.open(ledger, plan.header);
 * journal.close("done");
 * console.log(journal.path.endsWith(".journal")); // true
 * await Deno.remove(ledger, { recursive: true });
 * await Deno.remove(src);
 * ```
 */
export class Journal {
  /** The journal file. */
  readonly path: string;
  /** Why the journal stopped recording, if it did. */
  error: string | undefined;
  #db: DatabaseSync;
  #lock: Deno.FsFile;
  #lockPath: string;
  #marker: string;
  #insertFile: StatementSync;
  #insertFiles: StatementSync;
  /** Files' records not inserted yet: fewer than {@linkcode FILE_ROWS}, inserted with the next commit. */
  #fileRows: SQLInputValue[][] = [];
  #insertChunk: StatementSync;
  #insertPartial: StatementSync;
  #insertDir: StatementSync;
  #updateRun: StatementSync;
  /**
   * Records written into the open transaction since the last commit. Records
   * go into SQLite as they come (files' in statements of
   * {@linkcode FILE_ROWS}): held in JavaScript until a commit, 1000 files'
   * results outlived V8's young generation and cost a copy each.
   */
  #uncommitted = 0;
  #inTransaction = false;
  #progress: Progress | undefined;
  #pairStreams: Readonly<Record<string, number>> | undefined;
  #timer: ReturnType<typeof setInterval>;
  #closed = false;

  private constructor(
    path: string,
    db: DatabaseSync,
    lock: Deno.FsFile,
    lockPath: string,
    marker: string,
  ) {
    this.path = path;
    this.#db = db;
    this.#lock = lock;
    this.#lockPath = lockPath;
    this.#marker = marker;
    const row = `(${FILE_COLUMNS.split(",").map(() => "?").join(", ")})`;
    this.#insertFile = db.prepare(`INSERT INTO file (${FILE_COLUMNS}) VALUES ${row}`);
    this.#insertFiles = db.prepare(
      `INSERT INTO file (${FILE_COLUMNS}) VALUES ${Array(FILE_ROWS).fill(row).join(", ")}`,
    );
    this.#insertDir = db.prepare(
      "INSERT INTO dir (event, path, src, mode, mtime_ms) VALUES (?, ?, ?, ?, ?)",
    );
    this.#insertChunk = db.prepare(
      "INSERT OR REPLACE INTO chunk (tmp, offset, length, hash_state) VALUES (?, ?, ?, ?)",
    );
    this.#insertPartial = db.prepare(
      "INSERT OR REPLACE INTO partial (tmp, dst, size, mtime_ms) VALUES (?, ?, ?, ?)",
    );
    this.#updateRun = db.prepare(
      `UPDATE run SET updated_ms = ?, files_total = ?, bytes_total = ?, files_done = ?,
         bytes_done = ?, planning = ?, streams = ?, pair_streams = ? WHERE run_id = ?`,
    );
    this.#timer = setInterval(() => this.flush(), FLUSH_MS);
    // A journal never keeps a script alive on its own.
    this.#timer.unref();
  }

  /**
   * Opens a new journal for a run of a batch: its folder, file and lock,
   * its `run` row, and the marker that names the batch unfinished until it
   * ends well.
   *
   * Requires `--allow-read` and `--allow-write` on the ledger folder.
   *
   * @param ledger The ledger folder (made if missing).
   * @param header The plan's header: batch id, mappings, settings.
   * @param shard For a shard's run, `K/N`; `finalize` for `ferry finalize`.
   * @returns The journal.
   * @throws {Error} When the ledger cannot be written.
   */
  static async open(ledger: string, header: PlanHeader, shard?: string): Promise<Journal> {
    const { settings, mappings } = header;
    const dir = await batchDir(ledger, settings.batchId);
    Deno.mkdirSync(join(ledger, "open"), { recursive: true, mode: 0o700 });
    // No prune between the batch's folder being made and the journal in it being live.
    using _starting = holdLedger(ledger, "start");
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const startedMs = Date.now();
    const files = runFiles(dir, startedMs, RUN_ID);
    const lock = Deno.openSync(files.lock, { read: true, write: true, create: true, mode: 0o600 });
    let db: DatabaseSync | undefined;
    try {
      lock.lockSync(true);
      db = new DatabaseSync(files.journal);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${settings.fsync ? "FULL" : "NORMAL"}`);
      migrate(db);
      const fingerprint = await batchFingerprint(header);
      db.prepare(
        `INSERT INTO run (run_id, batch_id, host, pid, boot_id, operation, mappings, settings,
           fingerprint, state, started_ms, updated_ms, shard)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)`,
      ).run(
        RUN_ID,
        settings.batchId,
        hostName(),
        Deno.pid,
        bootId(),
        settings.operation,
        JSON.stringify(mappings),
        JSON.stringify(settings),
        fingerprint,
        startedMs,
        startedMs,
        shard ?? null,
      );
      const marker = openMarker(ledger, fingerprint);
      Deno.writeTextFileSync(marker, `${settings.batchId}\n`, { mode: 0o600 });
      return new Journal(files.journal, db, lock, files.lock, marker);
    } catch (error) {
      db?.close();
      lock.close();
      await Deno.remove(files.lock).catch(() => {});
      await Deno.remove(files.journal).catch(() => {});
      throw error;
    }
  }

  /**
   * One file ended.
   *
   * @param planned Its plan item.
   * @param result Its outcome.
   */
  file(planned: PlannedFile, result: FileResult): void {
    if (this.#closed || this.error !== undefined) return;
    this.#fileRows.push([
      result.id ?? null,
      result.src,
      result.dst,
      result.bytes,
      result.status,
      result.error?.code ?? null,
      result.reason ?? null,
      result.hash?.algorithm ?? null,
      result.hash?.digest ?? null,
      result.hash === undefined ? null : Number(result.hash.verified),
      Number(result.renamed === true),
      planned.mtimeMs,
      Date.now(),
      Number(result.replaced === true),
      result.backup ?? null,
    ]);
    if (this.#fileRows.length < FILE_ROWS) return;
    const rows = this.#fileRows.flat();
    this.#fileRows = [];
    this.#push(() => this.#insertFiles.run(...rows), FILE_ROWS);
  }

  /**
   * A folder was created, removed (a move's emptied source) or moved with
   * one rename.
   *
   * @param change What happened to it.
   */
  dir(change: DirectoryChange): void {
    this.#push(() =>
      this.#insertDir.run(
        change.event,
        change.path,
        change.src ?? null,
        change.mode ?? null,
        change.mtimeMs ?? null,
      )
    );
  }

  /**
   * A large file's ranges are being written into a temporary (made, or
   * taken over from a killed run with the ranges it had written).
   *
   * @param planned The file.
   * @param tmp Its temporary.
   * @param done Ranges already in it.
   */
  partial(planned: PlannedFile, tmp: string, done: readonly JournaledChunk[] = []): void {
    this.#push(() => {
      this.#insertPartial.run(tmp, planned.dst, planned.size, planned.mtimeMs);
      for (const chunk of done) {
        this.#insertChunk.run(tmp, chunk.offset, chunk.length, chunk.hashState ?? null);
      }
    });
  }

  /**
   * One range of a temporary was written completely.
   *
   * @param tmp The temporary.
   * @param chunk The range.
   * @param hashState For a hashed copy: the hasher's state after this range.
   */
  chunk(tmp: string, chunk: Chunk, hashState?: Uint8Array): void {
    this.#push(() => this.#insertChunk.run(tmp, chunk.offset, chunk.length, hashState ?? null));
  }

  /**
   * The latest counts, written with the next transaction.
   *
   * @param progress A progress snapshot.
   * @param pairStreams Adaptive concurrency's level per storage pair, where the batch's next run starts them.
   */
  progress(progress: Progress, pairStreams?: Readonly<Record<string, number>>): void {
    this.#progress = progress;
    this.#pairStreams = pairStreams;
  }

  /** Commits what is written, with the latest counts, in one transaction. */
  flush(): void {
    if (this.#closed || this.error !== undefined) return;
    const progress = this.#progress;
    const pairStreams = this.#pairStreams;
    const rows = this.#fileRows;
    if (!this.#inTransaction && progress === undefined && rows.length === 0) return;
    this.#progress = undefined;
    this.#fileRows = [];
    try {
      this.#begin();
      for (const row of rows) this.#insertFile.run(...row);
      if (progress !== undefined) {
        this.#updateRun.run(
          Date.now(),
          progress.filesTotal,
          progress.bytesTotal,
          progress.filesDone,
          progress.bytesDone,
          Number(progress.planning),
          progress.concurrency?.streams ?? null,
          pairStreams === undefined || Object.keys(pairStreams).length === 0
            ? null
            : JSON.stringify(pairStreams),
          RUN_ID,
        );
      }
      this.#db.exec("COMMIT");
      this.#inTransaction = false;
      this.#uncommitted = 0;
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Writes the rest and the run's end, closes the journal and lets go of its
   * lock. A batch that ended well is no longer unfinished.
   *
   * @param state How the run ended.
   * @param totals The batch's counts.
   * @param bytesCopied Bytes copied (not renamed).
   */
  close(state: Exclude<RunState, "running">, totals?: TransferTotals, bytesCopied = 0): void {
    if (this.#closed) return;
    clearInterval(this.#timer);
    this.flush();
    this.#closed = true;
    try {
      if (this.error === undefined) {
        const now = Date.now();
        const t = totals;
        this.#db.prepare(
          `UPDATE run SET state = ?, ended_ms = ?, updated_ms = ?, planning = 0,
             files_total = coalesce(?, files_total), bytes_total = coalesce(?, bytes_total),
             files_done = coalesce(?, files_done), bytes_done = coalesce(?, bytes_done),
             bytes_copied = ?, files_skipped = coalesce(?, files_skipped),
             files_failed = coalesce(?, files_failed), files_cancelled = coalesce(?, files_cancelled)
           WHERE run_id = ?`,
        ).run(
          state,
          now,
          now,
          t?.files ?? null,
          t?.bytesTotal ?? null,
          t?.filesDone ?? null,
          t?.bytesDone ?? null,
          bytesCopied,
          t?.filesSkipped ?? null,
          t?.filesFailed ?? null,
          t?.filesCancelled ?? null,
          RUN_ID,
        );
        if (state === "done") Deno.removeSync(this.#marker);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) this.error = (error as Error).message;
    } finally {
      this.#db.close();
      this.#lock.close();
      try {
        Deno.removeSync(this.#lockPath);
      } catch { /* gone already */ }
    }
  }

  /** Writes a record into the open transaction (opened if none is), committed by {@linkcode flush}. */
  #push(write: () => void, records = 1): void {
    if (this.#closed || this.error !== undefined) return;
    try {
      this.#begin();
      write();
    } catch (error) {
      return this.#fail(error);
    }
    this.#uncommitted += records;
    if (this.#uncommitted >= FLUSH_RECORDS) this.flush();
  }

  #begin(): void {
    if (this.#inTransaction) return;
    this.#db.exec("BEGIN");
    this.#inTransaction = true;
  }

  /** Stops recording: what was not committed is rolled back. */
  #fail(error: unknown): void {
    this.error = (error as Error).message;
    this.#inTransaction = false;
    try {
      this.#db.exec("ROLLBACK");
    } catch { /* the transaction is gone already */ }
  }
}

/**
 * Prunes the ledger of batches past the retention (when due: at most once
 * an hour, `prune_due.ts`) and opens a new run's
 * journal: before anything is written, so that a ledger that cannot be
 * written refuses the batch untouched.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger folder.
 *
 * @param ledger The ledger folder.
 * @param header The plan's header.
 * @param days The retention in days.
 * @param shard For a shard's run, `K/N`; `finalize` for `ferry finalize`.
 * @returns The journal.
 * @throws {InputError} When the ledger cannot be written.
 */
export async function startJournal(
  ledger: string,
  header: PlanHeader,
  days: number,
  shard?: string,
): Promise<Journal> {
  try {
    pruneWhenDue(ledger, days);
    return await Journal.open(ledger, header, shard);
  } catch (error) {
    throw new InputError(`Cannot keep the ledger in '${ledger}': ${describeError(error)}`, {
      path: ledger,
      cause: error,
    });
  }
}
