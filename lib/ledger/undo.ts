/**
 * Undoing a batch: carries out an {@linkcode UndoPlan}. Each file's
 * destination is looked at once more just before it is touched (size and
 * time: the plan hashed it already). A copy is removed, or replaced by the
 * file it replaced where the batch kept that one; a moved file goes back to
 * its source path (one rename on one file system, else a copy checked
 * against the batch's digest, published without replacing anything, then
 * the destination removed). Then the folders: a tree the batch moved with
 * one rename gets its folders back where they were, source folders a move
 * removed are made again with their mode and time, and the destination
 * folders the batch created go if they are empty.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { describeError } from "../errors.ts";
import { exists, publish, removeIfPresent, tempPathFor } from "../fs/publish.ts";
import { hashFile } from "../integrity/hash.ts";
import { copyKeepingTimes } from "../transfer/backup.ts";
import { recordUndo } from "./undo_record.ts";
import {
  type FolderChange,
  planUndo,
  type UndoLeft,
  type UndoPlan,
  type UndoStep,
} from "./undo_plan.ts";

/** What undo did. */
export interface UndoResult {
  /** The batch id. */
  batchId: string;
  /** Steps carried out. */
  done: UndoStep[];
  /** Steps that could not be carried out, and why (the file is as it was before the step). */
  failed: { step: UndoStep; reason: string }[];
  /** Files left as they are (changed since, replaced without a backup, …). */
  left: UndoLeft[];
  /** Destinations whose earlier file is gone for good (a move replaced it, no backup). */
  lost: string[];
  /** Folders removed (empty destination folders the batch had created or moved). */
  foldersRemoved: string[];
  /** Source folders made again where a move had removed them. */
  foldersRestored: string[];
}

/** Undo's options. */
export interface UndoOptions {
  /** Called after each step, with why it failed if it did. */
  onStep?: (step: UndoStep, failure?: string) => void;
}

/**
 * Plans and carries out the undo of a batch, and keeps a record of it in
 * the batch's ledger folder (`ferry status` shows it).
 *
 * Requires `--allow-read` and `--allow-write` on the ledger, the batch's
 * destinations and sources (and the backup folder, when it kept files).
 *
 * @param ledger The ledger folder.
 * @param batchId The batch.
 * @param options Progress callback.
 * @returns What was done and what was left.
 * @throws {InputError} When the ledger has no such batch, or it is still running.
 *
 * @example
 * ```ts
 * import { copy, undoBatch } from "../../mod.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * const src = await Deno.makeTempFile();
 * await copy(src, `${src}.copy`, { batchId: "oops", ledger });
 * const undone = await undoBatch(ledger, "oops");
 * console.log(undone.done.length, undone.left.length); // 1 0
 * await Deno.remove(ledger, { recursive: true });
 * await Deno.remove(src);
 * ```
 */
export async function undoBatch(
  ledger: string,
  batchId: string,
  options: UndoOptions = {},
): Promise<UndoResult> {
  const plan = await planUndo(ledger, batchId);
  const result = await runUndo(plan, options);
  await recordUndo(ledger, result);
  return result;
}

/**
 * Carries out an undo plan (see {@linkcode planUndo}).
 *
 * @param plan The plan.
 * @param options Progress callback.
 * @returns What was done and what was left.
 */
export async function runUndo(plan: UndoPlan, options: UndoOptions = {}): Promise<UndoResult> {
  const result: UndoResult = {
    batchId: plan.batchId,
    done: [],
    failed: [],
    left: [...plan.left],
    lost: [...plan.lost],
    foldersRemoved: [],
    foldersRestored: [],
  };
  const trees = await movedFolders(plan.folders);
  for (const step of plan.steps) {
    let failure: string | undefined;
    try {
      failure = await carryOut(step);
    } catch (error) {
      failure = describeError(error);
    }
    if (failure === undefined) result.done.push(step);
    else result.failed.push({ step, reason: failure });
    options.onStep?.(step, failure);
  }
  await undoFolders(plan.folders, trees, result);
  await removeEmptyBackups(plan.backupRoots);
  return result;
}

/** One step; returns why it could not be done. */
async function carryOut(step: UndoStep): Promise<string | undefined> {
  const info = await Deno.lstat(step.dst).catch(() => null);
  if (info === null) return "the destination is gone";
  if (
    !info.isSymlink &&
    (info.size !== step.bytes || (step.mtimeMs !== null && info.mtime?.getTime() !== step.mtimeMs))
  ) {
    return "the destination changed while undo ran; left as it is";
  }
  switch (step.action) {
    case "remove":
      await Deno.remove(step.dst);
      return undefined;
    case "restore":
      await putBack(step.backup!, step.dst);
      return undefined;
    case "move-back": {
      const failure = await moveBack(step, info);
      if (failure === undefined && step.backup !== undefined && await exists(step.backup)) {
        await putBack(step.backup, step.dst);
      }
      return failure;
    }
  }
}

/** A kept file back at its old name, over what is there: one rename, or a copy beside it renamed. */
async function putBack(backup: string, dst: string): Promise<void> {
  try {
    await Deno.rename(backup, dst);
  } catch (error) {
    if ((error as { code?: string }).code !== "EXDEV") throw error;
    const tmp = tempPathFor(dst);
    try {
      await copyKeepingTimes(backup, tmp);
      await Deno.rename(tmp, dst);
    } finally {
      await removeIfPresent(tmp);
    }
    await Deno.remove(backup);
  }
}

/** A moved file back to its source path, never replacing anything there. */
async function moveBack(step: UndoStep, info: Deno.FileInfo): Promise<string | undefined> {
  await Deno.mkdir(dirname(step.src), { recursive: true });
  try {
    const outcome = await publish(step.dst, step.src, "error");
    return outcome === "exists" ? "its source path holds a file again; left as it is" : undefined;
  } catch (error) {
    if ((error as { code?: string }).code !== "EXDEV") throw error;
  }
  // Across file systems: a copy, checked, published, then the destination removed.
  const tmp = tempPathFor(step.src);
  try {
    await copyKeepingTimes(step.dst, tmp);
    if (!info.isSymlink) {
      const written = await Deno.lstat(tmp);
      if (written.size !== step.bytes) {
        return `the copy back has ${written.size} bytes, not ${step.bytes}; left as it is`;
      }
      if (step.digest !== undefined) {
        const digest = await hashFile(tmp, step.digest.algorithm);
        if (digest !== step.digest.value) {
          return `the copy back is corrupted (${step.digest.algorithm} ${digest}, not ${step.digest.value}); left as it is`;
        }
      }
    }
    if (await publish(tmp, step.src, "error") === "exists") {
      return "its source path holds a file again; left as it is";
    }
  } finally {
    await removeIfPresent(tmp);
  }
  await Deno.remove(step.dst);
  return undefined;
}

/** A folder of a tree the batch moved with one rename, as it is before undo moves its files out. */
interface MovedFolder {
  /** Where it is now. */
  at: string;
  /** Where it goes back to. */
  back: string;
  /** Its mode and times, which moving its files out would change. */
  info: Deno.FileInfo;
}

/** The folders of the trees the batch moved with one rename, parents first. */
async function movedFolders(folders: readonly FolderChange[]): Promise<MovedFolder[]> {
  const moved: MovedFolder[] = [];
  for (const change of folders) {
    if (change.event !== "renamed" || change.src === null) continue;
    for (const at of await foldersIn(change.path)) {
      const info = await Deno.stat(at).catch(() => null);
      if (info !== null) {
        moved.push({ at, back: join(change.src, relative(change.path, at)), info });
      }
    }
  }
  return moved;
}

/** The folders, after the files: see the module's description. */
async function undoFolders(
  folders: readonly FolderChange[],
  trees: readonly MovedFolder[],
  result: UndoResult,
): Promise<void> {
  // Deepest first: a folder is empty only once its own folders are gone, and
  // a folder's time is set once nothing more is made in it.
  for (const { at, back, info } of [...trees].reverse()) {
    await Deno.mkdir(back, { recursive: true });
    await Deno.chmod(back, info.mode! & 0o7777).catch(() => {});
    if (info.mtime !== null) await Deno.utime(back, info.atime ?? info.mtime, info.mtime);
    if (await removeEmpty(at)) result.foldersRemoved.push(at);
  }
  const removed = folders.filter((f) => f.event === "removed");
  for (const change of removed) {
    if (!(await exists(change.path))) result.foldersRestored.push(change.path);
    await Deno.mkdir(change.path, { recursive: true });
  }
  // Recorded deepest first: a folder's time is set after its own folders are back.
  for (const change of removed) {
    if (change.mode !== null) await Deno.chmod(change.path, change.mode).catch(() => {});
    if (change.mtimeMs !== null) {
      const time = new Date(change.mtimeMs);
      await Deno.utime(change.path, time, time).catch(() => {});
    }
  }
  const created = folders.filter((f) => f.event === "created").reverse();
  for (const change of created) {
    if (await removeEmpty(change.path)) result.foldersRemoved.push(change.path);
  }
}

/** The batch's backup folders that the files put back left empty. */
async function removeEmptyBackups(roots: readonly string[]): Promise<void> {
  for (const root of roots) {
    for (const dir of (await foldersIn(root)).reverse()) await removeEmpty(dir);
  }
}

/** A folder and every folder below it, parents first. */
async function foldersIn(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    found.push(dir);
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory) await visit(join(dir, entry.name));
      }
    } catch { /* gone or unreadable: left as it is */ }
  };
  await visit(root);
  return found;
}

/** Removes a folder if it is empty; whether it did. */
async function removeEmpty(dir: string): Promise<boolean> {
  try {
    await Deno.remove(dir);
    return true;
  } catch {
    return false;
  }
}
