/**
 * The journal's tables, and the migrations that bring a journal written by an
 * older ferry up to this one. SQLite's `user_version` holds the version.
 *
 * - `run`: one row — the batch id, this run's id, host, process, the
 *   mappings and settings as JSON (what a resume plans again), the state
 *   (`running`, `done`, `failed`, `cancelled`) and the latest counts.
 * - `file`: one row per file that ended — its plan item id, paths, bytes,
 *   outcome, failure code and reason, digest, and the modification time its
 *   copy was given (what undo compares before removing anything).
 * - `partial`: the temporary a large file's ranges are written into, with
 *   the source's size and time then; `chunk`: the ranges of a temporary
 *   written completely, and for a hashed copy the hasher's state after it
 *   (the bytes before it hashed in order). A later run of the batch continues such a temporary
 *   where a killed run left it.
 * - Since version 2, for `undo`: `file.replaced` (1: the copy replaced a
 *   file at its destination, 0: nothing was there, `NULL`: a version 1
 *   journal does not say), `file.backup` (where the replaced file is kept),
 *   and `dir`: the folders a run created, the source folders a move removed
 *   (with their mode and time), the trees it moved with one rename.
 * - Since version 3: `run.shard`, `K/N` for a shard's run of a plan file
 *   (`--shard`), `finalize` for `ferry finalize`, `NULL` otherwise.
 * - Since version 4: `run.streams`, the level adaptive concurrency had
 *   reached; since version 5: `run.pair_streams`, that level per pair of
 *   storage (JSON, `"srcDev>dstDev"` → streams). A run of the batch starts
 *   there.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** The journal format this ferry writes. */
export const SCHEMA_VERSION = 5;

/**
 * How long a connection waits for another's lock before it gives up: a
 * reader (`ferry status` in another terminal) may hold the file while a run
 * turns WAL mode on or commits.
 */
export const BUSY_TIMEOUT_MS = 5000;

/** Each version's statements, applied in order from a journal's own version. */
const MIGRATIONS: readonly string[] = [
  // 0 → 1
  `CREATE TABLE run (
     run_id TEXT PRIMARY KEY,
     batch_id TEXT NOT NULL,
     host TEXT NOT NULL,
     pid INTEGER NOT NULL,
     boot_id TEXT,
     operation TEXT NOT NULL,
     mappings TEXT NOT NULL,
     settings TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     state TEXT NOT NULL,
     started_ms INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL,
     ended_ms INTEGER,
     files_total INTEGER NOT NULL DEFAULT 0,
     bytes_total INTEGER NOT NULL DEFAULT 0,
     files_done INTEGER NOT NULL DEFAULT 0,
     bytes_done INTEGER NOT NULL DEFAULT 0,
     bytes_copied INTEGER NOT NULL DEFAULT 0,
     files_skipped INTEGER NOT NULL DEFAULT 0,
     files_failed INTEGER NOT NULL DEFAULT 0,
     files_cancelled INTEGER NOT NULL DEFAULT 0,
     planning INTEGER NOT NULL DEFAULT 1
   );
   CREATE TABLE file (
     seq INTEGER PRIMARY KEY,
     id INTEGER,
     src TEXT NOT NULL,
     dst TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     status TEXT NOT NULL,
     code TEXT,
     reason TEXT,
     algorithm TEXT,
     digest TEXT,
     verified INTEGER,
     renamed INTEGER NOT NULL DEFAULT 0,
     mtime_ms INTEGER,
     ended_ms INTEGER NOT NULL
   );
   CREATE TABLE partial (
     tmp TEXT PRIMARY KEY,
     dst TEXT NOT NULL,
     size INTEGER NOT NULL,
     mtime_ms INTEGER
   );
   CREATE TABLE chunk (
     tmp TEXT NOT NULL,
     offset INTEGER NOT NULL,
     length INTEGER NOT NULL,
     hash_state BLOB,
     PRIMARY KEY (tmp, offset)
   ) WITHOUT ROWID;`,
  // 1 → 2
  `ALTER TABLE file ADD COLUMN replaced INTEGER;
   ALTER TABLE file ADD COLUMN backup TEXT;
   CREATE TABLE dir (
     seq INTEGER PRIMARY KEY,
     event TEXT NOT NULL,
     path TEXT NOT NULL,
     src TEXT,
     mode INTEGER,
     mtime_ms INTEGER
   );`,
  // 2 → 3
  `ALTER TABLE run ADD COLUMN shard TEXT;`,
  // 3 → 4: the streams adaptive concurrency had reached, where the next run starts.
  `ALTER TABLE run ADD COLUMN streams INTEGER;`,
  // 4 → 5: those streams per pair of storage (JSON: "srcDev>dstDev" → streams).
  `ALTER TABLE run ADD COLUMN pair_streams TEXT;`,
];

/**
 * Brings a journal to {@linkcode SCHEMA_VERSION} (or to `target`), each
 * step in one transaction.
 *
 * @param db An open, writable journal.
 * @param target The version to bring it to (an older one only to make old journals in tests).
 * @throws {Error} When the journal was written by a newer ferry.
 */
export function migrate(db: DatabaseSync, target: number = SCHEMA_VERSION): void {
  const version = schemaVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `the journal has format ${version}, newer than this ferry's ${SCHEMA_VERSION}: update ferry`,
    );
  }
  for (let v = version; v < target; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

/**
 * Reads a journal through a read-only connection: opened, checked to be of
 * a format this ferry reads, given to `read`, closed.
 *
 * @param path The journal.
 * @param read What to read from it.
 * @returns What `read` returned, or `null` when the journal cannot be read
 * (its run died before the first write, it is torn, or a newer ferry wrote it).
 */
export function readJournal<T>(path: string, read: (db: DatabaseSync) => T): T | null {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch {
    return null;
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return schemaVersion(db) > SCHEMA_VERSION ? null : read(db);
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/**
 * Brings a journal an older ferry wrote to this ferry's format, in place, so
 * that what only the newer format holds can be asked of it (the columns it
 * adds are `NULL` in old rows: not known). Only for a journal no run holds.
 *
 * @param path The journal.
 * @throws {Error} When it cannot be opened for writing or migrated.
 */
export function upgradeJournal(path: string): void {
  const version = readJournal(path, schemaVersion);
  if (version === null || version >= SCHEMA_VERSION) return;
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(db);
  } finally {
    db.close();
  }
}

/**
 * The format version of a journal.
 *
 * @param db An open journal.
 * @returns Its `user_version` (0 for a new, empty file).
 */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number } | undefined;
  return row?.user_version ?? 0;
}
