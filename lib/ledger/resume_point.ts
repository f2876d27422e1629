/**
 * Where earlier runs of a batch left its large files: the temporaries that
 * killed runs were writing, and the ranges their journals say were written
 * completely. A new run of the batch continues such a temporary instead of
 * copying the file again from its first byte.
 *
 * @module
 */

import type { JournaledChunk } from "./journal.ts";
import { batchDir, bootId, journalLive, journalsIn } from "./ledger_dir.ts";
import { isSharedTemp } from "../farm/shard.ts";
import { readJournal, schemaVersion } from "./schema.ts";

/** A temporary a killed run left, and what it holds. */
export interface Resumable {
  /** The temporary's path. */
  tmp: string;
  /** The source's size when it was written. */
  size: number;
  /** The source's modification time then. */
  mtimeMs: number | null;
  /** Ranges written into it completely (with the hash state after each, for a hashed copy). */
  done: JournaledChunk[];
}

/**
 * The temporaries that earlier runs of a batch left unfinished, by
 * destination: from every journal of the batch but `except` and those whose
 * run is still going, oldest first; a file that a later run finished (or
 * failed, which removes its temporary) has none. Only runs of this boot of
 * this machine count: after a reboot, what a journal says was written may
 * not have reached the storage, and those temporaries are reclaimed.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch id.
 * @param except This run's own journal.
 * @returns The temporaries by destination path.
 */
export async function resumables(
  ledger: string,
  batchId: string,
  except: string,
): Promise<Map<string, Resumable>> {
  const found = new Map<string, Resumable>();
  const boot = bootId();
  if (boot === null) return found;
  for (const journal of journalsIn(await batchDir(ledger, batchId))) {
    if (journal === except || journalLive(journal)) continue;
    readJournal(journal, (db) => {
      const run = db.prepare("SELECT boot_id, settings FROM run").get() as
        | { boot_id: string | null; settings: string }
        | undefined;
      if (run === undefined) return;
      // With --fsync a range is flushed before it is journaled, and the journal is
      // written with synchronous=FULL: what it says survived a power cut too.
      const flushed = (JSON.parse(run.settings) as { fsync?: boolean }).fsync === true;
      if (run.boot_id !== boot && !flushed) return;
      const partials = db.prepare("SELECT tmp, dst, size, mtime_ms FROM partial").all() as {
        tmp: string;
        dst: string;
        size: number;
        mtime_ms: number | null;
      }[];
      const chunks = db.prepare(
        "SELECT offset, length, hash_state FROM chunk WHERE tmp = ? ORDER BY offset",
      );
      for (const p of partials) {
        if (isSharedTemp(p.tmp)) continue; // a split file's: finalize's to publish, no run's to take
        const rows = chunks.all(p.tmp) as {
          offset: number;
          length: number;
          hash_state: Uint8Array | null;
        }[];
        const done = rows.map(({ offset, length, hash_state }) =>
          hash_state === null ? { offset, length } : { offset, length, hashState: hash_state }
        );
        found.set(p.dst, { tmp: p.tmp, size: p.size, mtimeMs: p.mtime_ms, done });
      }
      // Of the files with a temporary so far, those this run ended (one scan, not every file).
      if (found.size === 0) return;
      const ended = db.prepare(
        "SELECT DISTINCT dst FROM file WHERE dst IN (SELECT value FROM json_each(?))",
      ).all(JSON.stringify([...found.keys()])) as { dst: string }[];
      for (const { dst } of ended) found.delete(dst);
    });
  }
  return found;
}

/** The levels an earlier run of a batch had reached with adaptive concurrency. */
export interface LastLevels {
  /** The streams at its end. */
  streams: number;
  /** Each storage pair's streams (`srcDev>dstDev`, see `lib/transfer/storage_pairs.ts`), where recorded. */
  pairs?: Record<string, number>;
}

/**
 * The levels the newest earlier run of a batch had reached with adaptive
 * concurrency, where this run starts (`lib/transfer/batch_concurrency.ts`).
 *
 * @param ledger The ledger folder.
 * @param batchId The batch id.
 * @param except This run's own journal.
 * @returns The levels, or `undefined` when no earlier run recorded them.
 */
export async function lastLevels(
  ledger: string,
  batchId: string,
  except: string,
): Promise<LastLevels | undefined> {
  for (const journal of journalsIn(await batchDir(ledger, batchId)).reverse()) {
    if (journal === except) continue;
    // An older format has no streams: `null`, as a run that recorded none.
    // Format 4 has the streams, not yet per pair.
    const row = readJournal(journal, (db) => {
      const pairs = schemaVersion(db) >= 5 ? "pair_streams" : "NULL";
      return db.prepare(`SELECT streams, ${pairs} AS pairs FROM run`).get() as
        | { streams: number | null; pairs: string | null }
        | undefined;
    });
    const streams = row?.streams;
    if (typeof streams !== "number" || streams <= 0) continue;
    const pairs = parsePairs(row?.pairs ?? null);
    return pairs === undefined ? { streams } : { streams, pairs };
  }
  return undefined;
}

/** A journal's `pair_streams`: only positive whole levels are kept. */
function parsePairs(text: string | null): Record<string, number> | undefined {
  if (text === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const pairs: Record<string, number> = {};
    for (const [pair, streams] of Object.entries(parsed)) {
      if (Number.isInteger(streams) && streams > 0) pairs[pair] = streams;
    }
    return pairs;
  } catch {
    return undefined;
  }
}
