/**
 * The files of a batch counted from its journals, inside SQLite: a batch of
 * a million files is counted without a million rows in memory. One journal
 * is counted where it is; several are merged first, file by file (each
 * file's latest outcome; a file a run copied and a later run found already
 * there stays copied), in a temporary database on disk.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { FailureCode } from "../errors.ts";
import { ALREADY_THERE_REASON } from "../plan/existing.ts";
import { readJournal } from "./schema.ts";

/** A file of a batch whose latest outcome is a failure, with why. */
export interface FailedFile {
  /** Its plan item id. */
  id: number | null;
  /** Source path. */
  src: string;
  /** Destination path. */
  dst: string;
  /** The failure code. */
  code: FailureCode | null;
  /** Why, in plain words. */
  reason: string | null;
}

/** The counts {@linkcode batchOutcomes} gives. */
export interface Outcomes {
  /** Files copied or moved by a run, or found complete at the destination. */
  filesDone: number;
  /** Their bytes. */
  bytesDone: number;
  /** Of those, files a run found complete at the destination. */
  alreadyThere: number;
  /** Files left alone otherwise. */
  filesSkipped: number;
  /** Files whose latest outcome is a failure. */
  failures: FailedFile[];
}

/** A file counts as done when a run published it, or found it complete. */
const DONE = "(status IN ('copied', 'moved') OR coalesce(reason, '') = :already)";

/** The counts over a table of files `file(id, src, dst, bytes, status, code, reason)`. */
function count(db: DatabaseSync, order: string): Outcomes {
  const totals = db.prepare(
    `SELECT count(*) FILTER (WHERE ${DONE}) AS done,
            coalesce(sum(bytes) FILTER (WHERE ${DONE}), 0) AS bytes,
            count(*) FILTER (WHERE ${DONE} AND status = 'skipped') AS already,
            count(*) FILTER (WHERE NOT ${DONE} AND status = 'skipped') AS skipped
     FROM file`,
  ).get({ already: ALREADY_THERE_REASON }) as {
    done: number;
    bytes: number;
    already: number;
    skipped: number;
  };
  const failures = db.prepare(
    `SELECT id, src, dst, code, reason FROM file WHERE status = 'failed' AND NOT ${DONE}
     ORDER BY ${order}`,
  ).all({ already: ALREADY_THERE_REASON }) as unknown as FailedFile[];
  return {
    filesDone: totals.done,
    bytesDone: totals.bytes,
    alreadyThere: totals.already,
    filesSkipped: totals.skipped,
    failures: failures.map(({ id, src, dst, code, reason }) => ({ id, src, dst, code, reason })),
  };
}

/**
 * The files of a batch, counted from the journals of its runs (oldest
 * first). Files are told apart by destination path: plan ids shift when a
 * rerun finds temporaries to reclaim.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger and, for more
 * than one journal, the system's temporary folder.
 *
 * @param journals The journals, oldest first.
 * @returns The counts and the failures.
 *
 * @example
 * ```ts
 * import { batchOutcomes } from "./outcomes.ts";
 *
 * console.log(batchOutcomes([]).filesDone); // 0
 * ```
 */
export function batchOutcomes(journals: readonly string[]): Outcomes {
  if (journals.length === 1) {
    // One run: each file has one row there already.
    const counted = readJournal(journals[0]!, (db) => count(db, "seq"));
    if (counted !== null) return counted;
  }
  const path = Deno.makeTempFileSync({ prefix: "ferry-status-", suffix: ".db" });
  const merged = new DatabaseSync(path);
  try {
    merged.exec(`PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
      CREATE TABLE file (dst TEXT PRIMARY KEY, id INTEGER, src TEXT, bytes INTEGER, status TEXT,
        code TEXT, reason TEXT)`);
    // The latest outcome wins, except a skip of a file an earlier run copied.
    const put = merged.prepare(
      `INSERT INTO file VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dst) DO UPDATE SET
         id = excluded.id, src = excluded.src, bytes = excluded.bytes, status = excluded.status,
         code = excluded.code, reason = excluded.reason
       WHERE NOT (excluded.status = 'skipped' AND file.status IN ('copied', 'moved'))`,
    );
    for (const journal of journals) {
      readJournal(journal, (db) => {
        const rows = db.prepare(
          "SELECT dst, id, src, bytes, status, code, reason FROM file ORDER BY seq",
        );
        merged.exec("BEGIN");
        for (const r of rows.iterate() as Iterable<Record<string, string | number | null>>) {
          put.run(r.dst!, r.id!, r.src!, r.bytes!, r.status!, r.code!, r.reason!);
        }
        merged.exec("COMMIT");
      });
    }
    return count(merged, "rowid");
  } finally {
    merged.close();
    Deno.removeSync(path);
  }
}
