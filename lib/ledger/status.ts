/**
 * Reading the ledger: one batch's state merged from the journals of all its
 * runs, the list of batches, and pruning the ones past the retention. Every
 * journal is opened read-only, so this works while a batch runs, from
 * another process.
 *
 * @module
 */

import { join } from "node:path";
import type { Mapping } from "../plan/plan_item.ts";
import type { ResolvedSettings } from "../options.ts";
import type { RunState } from "./journal.ts";
import { batchDir, journalLive, journalsIn, openMarker, prunedMark } from "./ledger_dir.ts";
import { batchOutcomes, type FailedFile } from "./outcomes.ts";

export type { FailedFile } from "./outcomes.ts";
import { readJournal } from "./schema.ts";
import { holdLedger } from "./ledger_lock.ts";
import { latestUndo, type UndoRecord } from "./undo_record.ts";
import { type FinalizeRecord, lastFinalize } from "../farm/finalize_lock.ts";

/** A run's state as read: `interrupted` is a run that never ended and whose process is gone. */
export type ReadRunState = RunState | "interrupted";

/** One run of a batch, as its journal says. */
export interface RunStatus {
  /** The run id (also in the names of its temporaries). */
  runId: string;
  /** The machine it ran on. */
  host: string;
  /** Its process id there. */
  pid: number;
  /** How it ended, or that it is still going. */
  state: ReadRunState;
  /** When it started, in ms since the epoch. */
  startedMs: number;
  /** When its journal was last written. */
  updatedMs: number;
  /** When it ended (`null`: running or interrupted). */
  endedMs: number | null;
  /** Files planned (growing while `planning`). */
  filesTotal: number;
  /** Their bytes. */
  bytesTotal: number;
  /** Files finished. */
  filesDone: number;
  /** Bytes written or moved. */
  bytesDone: number;
  /** Files that failed (known once the run ended). */
  filesFailed: number;
  /** Whether the sources were still being listed at the last write. */
  planning: boolean;
  /** Bytes done per second of the run's time so far. */
  bytesPerSecond: number;
  /** Its journal file. */
  journal: string;
  /** For a shard's run of a plan file, `K/N`; `finalize` for `ferry finalize`; `null` otherwise. */
  shard: string | null;
}

/** One shard's latest run (`--shard K/N` of a plan file). */
export interface ShardState {
  /** Which shard, from 0. */
  index: number;
  /** Of how many. */
  count: number;
  /** Its latest run (`undefined`: it never ran). */
  run?: RunStatus;
}

/**
 * Each shard's latest run, for the shard count of the latest shard run.
 *
 * @param runs A batch's runs, oldest first.
 * @returns One entry per shard; empty when no shard ran.
 *
 * @example
 * ```ts
 * import { shardStates } from "./status.ts";
 *
 * console.log(shardStates([])); // []
 * ```
 */
export function shardStates(runs: readonly RunStatus[]): ShardState[] {
  const sharded = runs.filter((r) => r.shard !== null && /^\d+\/\d+$/.test(r.shard));
  const last = sharded.at(-1);
  if (last === undefined) return [];
  const count = Number(last.shard!.split("/")[1]);
  const states: ShardState[] = [];
  for (let index = 0; index < count; index++) {
    const run = sharded.findLast((r) => r.shard === `${index}/${count}`);
    states.push(run === undefined ? { index, count } : { index, count, run });
  }
  return states;
}

/** How many more times than once the shards' runs count the files split across them. */
function splitRepeats(shards: readonly ShardState[]): number {
  let runs = 0;
  const files = new Set<string>();
  for (const { run } of shards) {
    if (run === undefined) continue;
    readJournal(run.journal, (db) => {
      const rows = db.prepare(
        "SELECT DISTINCT tmp FROM partial WHERE tmp LIKE '%.shared.ferry-partial'",
      ).all() as { tmp: string }[];
      runs += rows.length;
      for (const { tmp } of rows) files.add(tmp);
    });
  }
  return runs - files.size;
}

/** A batch, merged from all its runs. */
export interface BatchStatus {
  /** The batch id. */
  batchId: string;
  /** Copy or move. */
  operation: string;
  /** The mappings, with absolute paths. */
  mappings: Mapping[];
  /** The settings of its latest run (what `ferry resume` runs again). */
  settings: ResolvedSettings;
  /** The latest run's state. */
  state: ReadRunState;
  /** Its runs, oldest first. */
  runs: RunStatus[];
  /** Files copied or moved by a run and not failed since, or found complete at the destination. */
  filesDone: number;
  /** Their bytes. */
  bytesDone: number;
  /** Of the files done, those a run found already complete at the destination. */
  filesAlreadyThere: number;
  /** Files left alone (the destination existed and differs, or the policy skips it). */
  filesSkipped: number;
  /** Files planned, as the latest run knew them. */
  filesTotal: number;
  /** Their bytes. */
  bytesTotal: number;
  /** Files whose latest outcome is a failure. */
  failures: FailedFile[];
  /** When the batch was last undone (`ferry undo`), and how far; absent when it never was. */
  undone?: UndoRecord;
  /** For a plan run in shards: each shard's latest run. */
  shards?: ShardState[];
  /** For a plan run in shards: its last `ferry finalize`, when one ended. */
  finalized?: FinalizeRecord;
}

interface RunRow {
  run_id: string;
  batch_id: string;
  host: string;
  pid: number;
  operation: string;
  mappings: string;
  settings: string;
  fingerprint: string;
  state: RunState;
  started_ms: number;
  updated_ms: number;
  ended_ms: number | null;
  files_total: number;
  bytes_total: number;
  files_done: number;
  bytes_done: number;
  files_failed: number;
  planning: number;
  shard?: string | null;
}

function runStatus(row: RunRow, journal: string): RunStatus {
  const state: ReadRunState = row.state === "running" && !journalLive(journal)
    ? "interrupted"
    : row.state;
  const lastMs = row.ended_ms ?? row.updated_ms;
  const seconds = Math.max(lastMs - row.started_ms, 1) / 1000;
  return {
    runId: row.run_id,
    host: row.host,
    pid: row.pid,
    state,
    startedMs: row.started_ms,
    updatedMs: row.updated_ms,
    endedMs: row.ended_ms,
    filesTotal: row.files_total,
    bytesTotal: row.bytes_total,
    filesDone: row.files_done,
    bytesDone: row.bytes_done,
    filesFailed: row.files_failed,
    planning: row.planning === 1 && state === "running",
    bytesPerSecond: row.bytes_done / seconds,
    journal,
    shard: row.shard ?? null,
  };
}

/**
 * A batch's state, merged from the journals of all its runs: each file's
 * latest outcome counts (a file an earlier run copied and a later one found
 * already there stays copied). Files are told apart by destination path.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger (SQLite reads a
 * journal's write-ahead log through a shared-memory file beside it).
 *
 * @param ledger The ledger folder.
 * @param batchId The batch id.
 * @returns The batch, or `null` when the ledger has no run of it.
 *
 * @example
 * ```ts
 * import { batchStatus } from "../../mod.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * console.log(await batchStatus(ledger, "delivery-42")); // null
 * await Deno.remove(ledger);
 * ```
 */
export async function batchStatus(ledger: string, batchId: string): Promise<BatchStatus | null> {
  const folder = await batchDir(ledger, batchId);
  const { runs, rows } = readRuns(folder);
  const last = rows.at(-1);
  if (last === undefined) return null;
  const read = runs.map((run) => run.journal);
  const { filesDone, bytesDone, filesSkipped, alreadyThere, failures } = batchOutcomes(read);
  const lastRun = runs.at(-1)!;
  const undone = latestUndo(folder);
  const shards = shardStates(runs);
  const finalized = lastFinalize(folder);
  // A plan run in shards: its totals are the shards' together, a file split
  // across shards counted once (each of its shards plans it).
  const totalOf = (key: "filesTotal" | "bytesTotal"): number =>
    shards.length === 0
      ? lastRun[key]
      : shards.reduce((sum, shard) => sum + (shard.run?.[key] ?? 0), 0) -
        (key === "filesTotal" ? splitRepeats(shards) : 0);
  return {
    batchId: last.batch_id,
    operation: last.operation,
    mappings: JSON.parse(last.mappings),
    settings: JSON.parse(last.settings),
    state: lastRun.state,
    runs,
    filesDone,
    bytesDone,
    filesSkipped,
    filesAlreadyThere: alreadyThere,
    filesTotal: totalOf("filesTotal"),
    bytesTotal: totalOf("bytesTotal"),
    failures,
    ...(undone === null ? {} : { undone }),
    ...(shards.length === 0 ? {} : { shards }),
    ...(finalized === null ? {} : { finalized }),
  };
}

/** The runs of a batch folder, oldest first, with their rows as stored. */
function readRuns(folder: string): { runs: RunStatus[]; rows: RunRow[] } {
  const runs: RunStatus[] = [];
  const rows: RunRow[] = [];
  for (const journal of journalsIn(folder)) {
    const read = readRun(journal);
    if (read === null) continue;
    rows.push(read.row);
    runs.push(read.status);
  }
  return { runs, rows };
}

/**
 * A batch's runs alone, oldest first, without counting its files: what
 * shards and finalize look at to know which runs ended (a batch's files
 * are counted by {@linkcode batchStatus}, which reads every file's row).
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch id.
 * @returns The runs (empty when the ledger has none of the batch).
 */
export async function batchRuns(ledger: string, batchId: string): Promise<RunStatus[]> {
  return readRuns(await batchDir(ledger, batchId)).runs;
}

/** A batch in the ledger's list. */
export interface BatchSummary {
  /** The batch id. */
  batchId: string;
  /** Copy or move. */
  operation: string;
  /** The latest run's state. */
  state: ReadRunState;
  /** How many runs it had. */
  runs: number;
  /** When its first run started. */
  startedMs: number;
  /** When its latest run ended, or was last written. */
  lastMs: number;
  /** The latest run's counts. */
  filesDone: number;
  /** Files planned, as the latest run knew them. */
  filesTotal: number;
  /** Bytes done in the latest run. */
  bytesDone: number;
  /** The host of the latest run. */
  host: string;
}

/**
 * Every batch in a ledger, the latest first.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @returns One summary per batch (empty for a missing ledger).
 *
 * @example
 * ```ts
 * import { listBatches } from "../../mod.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * console.log(listBatches(ledger)); // []
 * await Deno.remove(ledger);
 * ```
 */
export function listBatches(ledger: string): BatchSummary[] {
  const summaries: BatchSummary[] = [];
  for (const folder of batchFolders(ledger)) {
    const journals = journalsIn(folder);
    const first = readRun(journals[0]);
    const last = readRun(journals.at(-1));
    if (first === null || last === null) continue;
    summaries.push({
      batchId: last.row.batch_id,
      operation: last.row.operation,
      state: last.status.state,
      runs: journals.length,
      startedMs: first.row.started_ms,
      lastMs: last.row.ended_ms ?? last.row.updated_ms,
      filesDone: last.row.files_done,
      filesTotal: last.row.files_total,
      bytesDone: last.row.bytes_done,
      host: last.row.host,
    });
  }
  return summaries.sort((a, b) => b.lastMs - a.lastMs);
}

function readRun(journal: string | undefined): { row: RunRow; status: RunStatus } | null {
  if (journal === undefined) return null;
  const row = readJournal(
    journal,
    (db) => db.prepare("SELECT * FROM run").get() as RunRow | undefined,
  );
  return row === null || row === undefined ? null : { row, status: runStatus(row, journal) };
}

function batchFolders(ledger: string): string[] {
  const root = join(ledger, "batches");
  const folders: string[] = [];
  try {
    for (const entry of Deno.readDirSync(root)) {
      if (entry.isDirectory) folders.push(join(root, entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return folders;
}

/**
 * Removes the batches whose latest journal was last written more than
 * `days` ago and none of whose runs is going; nothing while a run is
 * starting (its batch's folder may hold no journal yet). Dates the ledger's
 * `pruned` mark ({@linkcode prunedMark}; `prune_due.ts` reads it for starting runs).
 *
 * @param ledger The ledger folder.
 * @param days The retention in days.
 * @returns The batch folders removed.
 */
export function pruneLedger(ledger: string, days: number): string[] {
  const before = Date.now() - days * 86_400_000;
  const removed: string[] = [];
  // Not while a run is starting: its batch's folder may have no journal yet.
  using pruning = holdLedger(ledger, "prune");
  if (pruning === null) return removed;
  // Dated first: a run starting meanwhile finds the ledger being pruned and does not prune it again.
  try {
    Deno.writeTextFileSync(prunedMark(ledger), `${new Date().toISOString()}\n`);
  } catch { /* the next run prunes again */ }
  for (const folder of batchFolders(ledger)) {
    const journals = journalsIn(folder);
    const newest = journals.map((j) => {
      try {
        return Deno.statSync(j).mtime?.getTime() ?? 0;
      } catch {
        return 0;
      }
    }).reduce((a, b) => Math.max(a, b), 0);
    if (newest >= before || journals.some((j) => journalLive(j))) continue;
    const ids = journals.map((j) => readRun(j)?.row).filter((r) => r !== undefined);
    Deno.removeSync(folder, { recursive: true });
    removed.push(folder);
    // An unfinished batch's marker goes with it.
    for (const row of ids) {
      const marker = openMarker(ledger, row.fingerprint);
      try {
        if (Deno.readTextFileSync(marker).trim() === row.batch_id) Deno.removeSync(marker);
      } catch { /* none */ }
    }
  }
  return removed;
}
