/**
 * What is already at the destinations, and what the policy makes of it: one
 * listing per destination folder (which also finds the temporaries killed
 * runs left there), one look per existing file that the listing could not
 * size.
 *
 * @module
 */

import { join } from "node:path";
import type { FailureCode } from "../errors.ts";
import { isTempName } from "../fs/publish.ts";
import { leaseRunOf } from "../fs/temp_lease.ts";
import type { ExistingPolicy, Operation } from "../options.ts";
import type { FileAction } from "./plan_item.ts";

/** Why a file is skipped when its destination is already its complete copy. */
export const ALREADY_THERE_REASON = "already there (the same size and modification time)";

/** Why a file failed when its destination differs and the policy left it alone. */
export const DIFFERS_REASON = "the destination differs from the source and was left alone";

/** What is at a destination: a folder listing's entry, or a full lstat. */
export type Existing = Deno.DirEntry | Deno.FileInfo;

/** One destination folder as listed once. */
export interface DestinationListing {
  /** What is there by name; `null` when the folder could not be listed (look file by file). */
  names: Map<string, Existing> | null;
  /** ferry temporaries and leases in it. */
  strays: string[];
}

/** A temporary file or lease that some ferry run left in a destination folder. */
function isStray(entry: Deno.DirEntry): boolean {
  return (entry.isFile || entry.isSymlink) &&
    (isTempName(entry.name) || leaseRunOf(entry.name) !== null);
}

/** Temporaries before leases: a run's lease is removed only after its temporaries. */
function ordered(strays: string[]): string[] {
  return strays.sort((a, b) => Number(!isTempName(a)) - Number(!isTempName(b)));
}

/**
 * Lists a destination folder once.
 *
 * @param dir The folder.
 * @returns Its names (empty when it does not exist) and the strays in it.
 */
export async function listDestination(dir: string): Promise<DestinationListing> {
  const names = new Map<string, Existing>();
  const strays: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      names.set(entry.name, entry);
      if (isStray(entry)) strays.push(join(dir, entry.name));
    }
  } catch (error) {
    // Not there yet: nothing exists. Not listable: look file by file.
    if (!(error instanceof Deno.errors.NotFound)) return { names: null, strays: ordered(strays) };
  }
  return { names, strays: ordered(strays) };
}

/**
 * What is at one destination path, from its folder's listing, or by looking
 * (`undefined`: nothing).
 *
 * @param listing The folder's listing.
 * @param name The file's name in it.
 * @param path Its full path.
 * @returns The entry.
 */
export async function existingAt(
  listing: DestinationListing,
  name: string,
  path: string,
): Promise<Existing | undefined> {
  if (listing.names !== null) return listing.names.get(name);
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The decision for a file whose destination exists. */
export interface ExistingDecision {
  /** The new action. */
  action: FileAction;
  /** Why. */
  reason?: string;
  /** For a failure: its code. */
  code?: FailureCode;
}

/** What {@linkcode decideExisting} knows of the source. */
export interface ExistingSubject {
  /** The planned action so far: `copy`, `rename` or `symlink`. */
  action: FileAction;
  /** The destination path. */
  dst: string;
  /** The source's size. */
  size: number;
  /** The source's modification time in ms. */
  mtimeMs: number | null;
  /** For a link: its target. */
  linkTarget?: string;
}

/**
 * Whether what is at a destination is ferry's complete copy of the source:
 * a file of the source's size and modification time, or a link to the same
 * target.
 *
 * @param file The source's facts (a link has `linkTarget`, or the action `symlink`).
 * @param info What lstat said of the destination (`null`: nothing there).
 * @returns `true` for a complete copy.
 *
 * @example
 * ```ts
 * import { isCompleteCopy } from "./existing.ts";
 *
 * const dst = await Deno.makeTempFile();
 * const info = await Deno.lstat(dst);
 * const file = { action: "copy" as const, dst, size: 0, mtimeMs: info.mtime!.getTime() };
 * console.log(await isCompleteCopy(file, info)); // true
 * await Deno.remove(dst);
 * ```
 */
export async function isCompleteCopy(
  file: ExistingSubject,
  info: Deno.FileInfo | null,
): Promise<boolean> {
  if (info === null) return false;
  if (file.action === "symlink" || file.linkTarget !== undefined) {
    return info.isSymlink &&
      await Deno.readLink(file.dst).then((t) => t === file.linkTarget, () => false);
  }
  return info.isFile && info.size === file.size && file.mtimeMs !== null &&
    info.mtime?.getTime() === file.mtimeMs;
}

/**
 * Decides for a file whose destination exists. A destination with the
 * source's size and modification time is ferry's complete copy: skipped (a
 * move finishes by removing the source); one that differs is left alone and
 * fails (`error`), is skipped (`skip`, `update` when newer), or is replaced
 * (`overwrite`, `update`). `checksum` leaves it to the bytes at run time.
 *
 * @param file The planned file.
 * @param entry What is at its destination.
 * @param policy The existing-file policy.
 * @param operation Copy or move.
 * @returns The decision, or `null` to go on as planned (replace it).
 */
export async function decideExisting(
  file: ExistingSubject,
  entry: Existing,
  policy: ExistingPolicy,
  operation: Operation,
): Promise<ExistingDecision | null> {
  if (entry.isDirectory) {
    return { action: "fail", reason: "the destination is a directory", code: "is-directory" };
  }
  if (policy === "checksum" && file.action !== "symlink") return { action: "compare" };
  // Size and time of the existing destination, looked at once more where
  // only a folder listing saw it.
  const info = "size" in entry ? entry : await Deno.lstat(file.dst).catch(() => null);
  const dstMs = info?.mtime?.getTime();
  const srcMs = file.mtimeMs ?? undefined;
  if (await isCompleteCopy(file, info ?? null)) {
    // ferry's complete copy of the source: for a move, an earlier run
    // published it and stopped before removing the source.
    return operation === "move"
      ? { action: "finish-move", reason: "an earlier run had copied it; the source is removed" }
      : { action: "skip", reason: ALREADY_THERE_REASON };
  }
  if (policy === "skip") return { action: "skip", reason: "the destination exists" };
  if (policy === "update" && dstMs !== undefined && srcMs !== undefined && dstMs > srcMs) {
    // rsync -u: a newer destination stays; one as old as the source is replaced when it differs.
    return { action: "skip", reason: "the destination is newer than the source" };
  }
  if (policy === "error") return { action: "fail", reason: DIFFERS_REASON, code: "differs" };
  return null;
}
