/**
 * What undoing a batch would do, worked out from its journals and from what
 * is at its destinations now, before anything is touched. A file is undone
 * only where its destination is still exactly what the batch wrote: a file
 * with the size and modification time the copy was given, and the digest
 * where the batch hashed it. Everything else is left as it is, with why.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { exists } from "../fs/publish.ts";
import { backupRootFor } from "../transfer/backup.ts";
import { type HashAlgorithm, hashFile } from "../integrity/hash.ts";
import type { ExistingPolicy, Operation } from "../options.ts";
import { batchDir, journalLive, journalsIn } from "./ledger_dir.ts";
import { readJournal, upgradeJournal } from "./schema.ts";

/**
 * One thing undo does:
 * - `remove`: a copy the batch published where nothing was before;
 * - `restore`: a copy that replaced a file: the file it replaced comes back
 *   from the backup folder in its place;
 * - `move-back`: a moved file goes back to its source path (then, if it
 *   replaced a file that was kept, that file comes back too).
 */
export interface UndoStep {
  /** What is done. */
  action: "remove" | "restore" | "move-back";
  /** The source path the batch read. */
  src: string;
  /** The destination path the batch wrote. */
  dst: string;
  /** Its size in bytes. */
  bytes: number;
  /** The modification time the batch gave it, in ms (checked again just before). */
  mtimeMs: number | null;
  /** Where the file it replaced is kept (`restore`; `move-back` of a file that replaced one). */
  backup?: string;
  /** Its digest and algorithm, where the batch hashed it (a copy back is checked against it). */
  digest?: { algorithm: HashAlgorithm; value: string };
}

/** Why undo leaves a file as it is. */
export type UndoLeftCode = "changed" | "gone" | "not-kept" | "not-known" | "source-taken";

/** A file undo leaves as it is, and why. */
export interface UndoLeft {
  /** The destination path the batch wrote. */
  dst: string;
  /** The source path it came from. */
  src: string;
  /** What kind of reason. */
  code: UndoLeftCode;
  /** Why, in plain words. */
  reason: string;
}

/** A folder change of the batch, as its journal keeps it. */
export interface FolderChange {
  /** `created` at a destination, `removed` at a source by a move, `renamed` (a tree, src → path). */
  event: "created" | "removed" | "renamed";
  /** The folder. */
  path: string;
  /** For `renamed`: where the tree was. */
  src: string | null;
  /** For `removed`: its mode. */
  mode: number | null;
  /** For `removed`: its modification time in ms. */
  mtimeMs: number | null;
}

/** Everything undo of one batch would do, and what it leaves. */
export interface UndoPlan {
  /** The batch id. */
  batchId: string;
  /** What the batch did: copy or move. */
  operation: Operation;
  /** What undo does, in order. */
  steps: UndoStep[];
  /** What it leaves as it is. */
  left: UndoLeft[];
  /** Moved files whose move replaced a file that was not kept: moved back, and their destination stays empty. */
  lost: string[];
  /** The batch's folder changes, in the order they happened. */
  folders: FolderChange[];
  /** The batch's folders in backup folders (`<backupDir>/<batch>`): removed when undo leaves them empty. */
  backupRoots: string[];
}

interface FileRow {
  src: string;
  dst: string;
  bytes: number;
  status: string;
  algorithm: HashAlgorithm | null;
  digest: string | null;
  mtime_ms: number | null;
  replaced: number | null;
  backup: string | null;
}

/**
 * Works out what undoing a batch does. Reads every journal of the batch
 * (bringing one an older ferry wrote to this format first) and looks at
 * every file the batch published: its size and time, and its bytes where
 * the batch hashed it. Writes nothing at any destination.
 *
 * Requires `--allow-read` (ledger, destinations, sources) and
 * `--allow-write` on the ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch id.
 * @returns The plan.
 * @throws {InputError} When the ledger has no such batch, or a run of it is
 * still going.
 *
 * @example
 * ```ts
 * import { planUndo } from "../../mod.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * try {
 *   await planUndo(ledger, "delivery-42");
 * } catch (error) {
 *   console.log((error as Error).message); // no batch 'delivery-42' in the ledger …
 * }
 * await Deno.remove(ledger);
 * ```
 */
export async function planUndo(ledger: string, batchId: string): Promise<UndoPlan> {
  const journals = journalsIn(await batchDir(ledger, batchId));
  if (journals.length === 0) {
    throw new InputError(`There is no batch '${batchId}' in the ledger '${ledger}'`, {
      path: ledger,
    });
  }
  if (journals.some(journalLive)) {
    throw new InputError(
      `Batch '${batchId}' is still running: undo it once it has ended (ferry status ${batchId})`,
    );
  }
  const published = new Map<string, FileRow & { policy: ExistingPolicy }>();
  const folders: FolderChange[] = [];
  const backupRoots = new Set<string>();
  let operation: Operation = "copy";
  for (const journal of journals) {
    upgradeJournal(journal);
    readJournal(journal, (db) => {
      const run = db.prepare("SELECT operation, settings FROM run").get() as
        | { operation: Operation; settings: string }
        | undefined;
      if (run === undefined) return;
      operation = run.operation;
      const settings = JSON.parse(run.settings) as {
        existing: ExistingPolicy;
        backupDir?: string | null;
      };
      const policy = settings.existing;
      if (typeof settings.backupDir === "string") {
        backupRoots.add(backupRootFor(settings.backupDir, batchId));
      }
      const files = db.prepare(
        `SELECT src, dst, bytes, status, algorithm, digest, mtime_ms, replaced, backup FROM file
         WHERE status IN ('copied', 'moved') ORDER BY seq`,
      );
      for (const row of files.iterate() as Iterable<FileRow>) {
        published.set(row.dst, { ...row, policy });
      }
      const dirs = db.prepare("SELECT event, path, src, mode, mtime_ms FROM dir ORDER BY seq");
      for (const row of dirs.iterate() as Iterable<Record<string, unknown>>) {
        folders.push({
          event: row.event as FolderChange["event"],
          path: row.path as string,
          src: row.src as string | null,
          mode: row.mode as number | null,
          mtimeMs: row.mtime_ms as number | null,
        });
      }
    });
  }
  const plan: UndoPlan = {
    batchId,
    operation,
    steps: [],
    left: [],
    lost: [],
    folders,
    backupRoots: [...backupRoots],
  };
  for (const row of published.values()) await planFile(plan, row);
  return plan;
}

async function planFile(plan: UndoPlan, row: FileRow & { policy: ExistingPolicy }): Promise<void> {
  const { src, dst } = row;
  const leave = (code: UndoLeftCode, reason: string): void => {
    plan.left.push({ src, dst, code, reason });
  };
  const changed = await changedSince(row);
  if (changed === "gone") return leave("gone", "no longer there");
  if (changed !== null) return leave("changed", changed);
  // A version 1 journal does not say; a policy that never replaces answers for it.
  const replaced = row.replaced === null
    ? (row.policy === "error" || row.policy === "skip" ? false : null)
    : row.replaced === 1;
  const step: UndoStep = {
    action: "remove",
    src,
    dst,
    bytes: row.bytes,
    mtimeMs: row.mtime_ms,
    ...(row.backup === null ? {} : { backup: row.backup }),
    ...(row.algorithm === null || row.digest === null
      ? {}
      : { digest: { algorithm: row.algorithm, value: row.digest } }),
  };
  if (row.status === "moved") {
    if (await exists(src)) {
      return leave("source-taken", "its source path holds a file again; both are left as they are");
    }
    if (replaced === true && row.backup === null) plan.lost.push(dst);
    plan.steps.push({ ...step, action: "move-back" });
    return;
  }
  if (replaced === null) {
    return leave(
      "not-known",
      "the batch's journal (written by an older ferry) does not say whether this copy replaced an earlier file; left as it is",
    );
  }
  if (!replaced) {
    plan.steps.push(step);
    return;
  }
  if (row.backup === null) {
    return leave(
      "not-kept",
      "this copy replaced an earlier file, which the batch did not keep (--backup-dir); left as it is",
    );
  }
  if (!(await exists(row.backup))) {
    return leave(
      "not-kept",
      `this copy replaced an earlier file, kept as '${row.backup}', which is gone; left as it is`,
    );
  }
  plan.steps.push({ ...step, action: "restore" });
}

/**
 * Why a destination is no longer what the batch wrote, or `null` when it
 * still is (`"gone"` when nothing is there).
 */
async function changedSince(row: FileRow): Promise<string | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(row.dst);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "gone";
    throw error;
  }
  if (info.isSymlink) return null; // a link's target was copied as it was; it has no size or time of its own to compare
  if (!info.isFile) return "the destination is no longer a file; left as it is";
  const mtimeMs = info.mtime?.getTime() ?? null;
  if (info.size !== row.bytes || (row.mtime_ms !== null && mtimeMs !== row.mtime_ms)) {
    return `changed since the batch wrote it (${info.size} bytes, modified ${
      mtimeMs === null ? "at an unknown time" : new Date(mtimeMs).toISOString()
    }; the batch wrote ${row.bytes} bytes, modified ${
      row.mtime_ms === null ? "at an unknown time" : new Date(row.mtime_ms).toISOString()
    }); left as it is`;
  }
  if (row.algorithm !== null && row.digest !== null) {
    const now = await hashFile(row.dst, row.algorithm);
    if (now !== row.digest) {
      return `its content changed since the batch wrote it (${row.algorithm} ${now}, the batch wrote ${row.digest}); left as it is`;
    }
  }
  return null;
}
