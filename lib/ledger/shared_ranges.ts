/**
 * The ranges of files split across shards that the batch's runs have
 * written into their shared temporaries (`lib/farm/`), as their journals
 * say. A range counts when it is known to be in the file: its run ended
 * (every file it wrote is closed: on NFS, close sends the data to the
 * server), or it flushed each range (`--fsync`), or it ran in this boot of
 * this machine (the page cache still holds what it wrote).
 *
 * @module
 */

import { batchDir, bootId, journalsIn } from "./ledger_dir.ts";
import type { JournaledChunk } from "./journal.ts";
import { readJournal } from "./schema.ts";
import { isSharedTemp } from "../farm/shard.ts";
import { RUN_ID } from "../fs/temp_lease.ts";

/**
 * The written ranges of every shared temporary of a batch.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch.
 * @returns The ranges by temporary, each sorted by offset (overlaps possible
 * where a range was written twice).
 */
export async function sharedRanges(
  ledger: string,
  batchId: string,
): Promise<Map<string, JournaledChunk[]>> {
  const found = new Map<string, JournaledChunk[]>();
  const boot = bootId();
  for (const journal of journalsIn(await batchDir(ledger, batchId))) {
    readJournal(journal, (db) => {
      const run = db.prepare("SELECT state, boot_id, settings FROM run").get() as
        | { state: string; boot_id: string | null; settings: string }
        | undefined;
      if (run === undefined) return;
      const flushed = (JSON.parse(run.settings) as { fsync?: boolean }).fsync === true;
      if (run.state === "running" && !flushed && (boot === null || run.boot_id !== boot)) return;
      const rows = db.prepare(
        "SELECT tmp, offset, length FROM chunk WHERE tmp LIKE '%.shared.ferry-partial'",
      ).all() as { tmp: string; offset: number; length: number }[];
      for (const { tmp, offset, length } of rows) {
        if (!isSharedTemp(tmp)) continue;
        let list = found.get(tmp);
        if (list === undefined) found.set(tmp, list = []);
        list.push({ offset, length });
      }
    });
  }
  for (const list of found.values()) list.sort((a, b) => a.offset - b.offset);
  return found;
}

/**
 * The runs of a batch whose journals say they ended (done, failed,
 * cancelled): their temporaries left in destination folders are strays,
 * whether or not file locks work on the storage.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch.
 * @param all Every run of the batch but this one, ended or not (`ferry
 * finalize`: every shard's latest run has ended, so no earlier run goes on).
 * @returns Their run ids.
 */
export async function endedRuns(
  ledger: string,
  batchId: string,
  all = false,
): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const journal of journalsIn(await batchDir(ledger, batchId))) {
    readJournal(journal, (db) => {
      const run = db.prepare("SELECT run_id, state FROM run").get() as
        | { run_id: string; state: string }
        | undefined;
      if (run !== undefined && run.run_id !== RUN_ID && (all || run.state !== "running")) {
        ids.add(run.run_id);
      }
    });
  }
  return ids;
}

/**
 * Whether ranges written cover a range (together: pieces written by
 * several shards may make up one of the plan's ranges).
 *
 * @param written Ranges written, sorted by offset.
 * @param range The range.
 * @returns `true` when every byte of it was written.
 *
 * @example
 * ```ts
 * import { isCovered } from "./shared_ranges.ts";
 *
 * const written = [{ offset: 0, length: 4 }, { offset: 4, length: 4 }];
 * console.log(isCovered(written, { offset: 2, length: 6 })); // true
 * ```
 */
export function isCovered(
  written: readonly JournaledChunk[] | undefined,
  range: JournaledChunk,
): boolean {
  let reached = range.offset;
  const end = range.offset + range.length;
  for (const w of written ?? []) {
    if (w.offset > reached) break;
    reached = Math.max(reached, w.offset + w.length);
    if (reached >= end) return true;
  }
  return reached >= end;
}
