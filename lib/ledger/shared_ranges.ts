/**
 * The ranges of files split across shards that the batch's runs have
 * written into their shared temporaries (`lib/farm/`), as their journals
 * say. A range counts when it is known to be in the file: its run ended
 * (every file it wrote is closed: on NFS, close sends the data to the
 * server), or it flushed each range (`--fsync`), or it ran in this boot of
 * this machine (the page cache still holds what it wrote). The same pass
 * says which runs of the batch ended.
 *
 * @module
 */

import { batchDir, bootId, journalsIn } from "./ledger_dir.ts";
import type { JournaledChunk } from "./journal.ts";
import { readJournal } from "./schema.ts";
import { isSharedTemp } from "../farm/shard.ts";
import { RUN_ID } from "../fs/temp_lease.ts";

/** What a shard's run and `ferry finalize` read of a batch's journals, in one pass. */
export interface ShardJournals {
  /** The written ranges of every shared temporary, each sorted by offset (overlaps possible where a range was written twice). */
  ranges: Map<string, JournaledChunk[]>;
  /**
   * The runs whose journals say they ended (done, failed, cancelled): their
   * temporaries left in destination folders are strays, whether or not file
   * locks work on the storage.
   */
  ended: Set<string>;
  /** Every run of the batch but this one, ended or not. */
  runs: Set<string>;
}

/**
 * Reads the batch's journals once for what shards need: the shared
 * temporaries' written ranges, and which runs ended.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch.
 * @returns The ranges and the runs.
 */
export async function shardJournals(ledger: string, batchId: string): Promise<ShardJournals> {
  const found: ShardJournals = { ranges: new Map(), ended: new Set(), runs: new Set() };
  const boot = bootId();
  for (const journal of journalsIn(await batchDir(ledger, batchId))) {
    readJournal(journal, (db) => {
      const run = db.prepare("SELECT run_id, state, boot_id, settings FROM run").get() as
        | { run_id: string; state: string; boot_id: string | null; settings: string }
        | undefined;
      if (run === undefined) return;
      if (run.run_id !== RUN_ID) {
        found.runs.add(run.run_id);
        if (run.state !== "running") found.ended.add(run.run_id);
      }
      const flushed = (JSON.parse(run.settings) as { fsync?: boolean }).fsync === true;
      if (run.state === "running" && !flushed && (boot === null || run.boot_id !== boot)) return;
      const rows = db.prepare(
        "SELECT tmp, offset, length FROM chunk WHERE tmp LIKE '%.shared.ferry-partial'",
      ).all() as { tmp: string; offset: number; length: number }[];
      for (const { tmp, offset, length } of rows) {
        if (!isSharedTemp(tmp)) continue;
        let list = found.ranges.get(tmp);
        if (list === undefined) found.ranges.set(tmp, list = []);
        list.push({ offset, length });
      }
    });
  }
  for (const list of found.ranges.values()) list.sort((a, b) => a.offset - b.offset);
  return found;
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
