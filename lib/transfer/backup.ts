/**
 * Keeping what a copy replaces (`backupDir`): just before a copy takes the
 * name of an existing file, that file gets a second name under the backup
 * folder, so that `undo` can bring it back. A hard link where the folder is
 * on the destination's file system (no byte copied, the publish stays one
 * atomic rename), a copy with the same mode and times elsewhere.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { exists, removeIfPresent, tempPathFor } from "../fs/publish.ts";
import { isNoHardLinks } from "../fs/folder_links.ts";

/**
 * Where a destination's replaced file is kept:
 * `<backupDir>/<batch id>/<the destination's absolute path>`.
 *
 * @param backupDir The backup folder (absolute).
 * @param batchId The batch id (characters a file name cannot hold become `_`).
 * @param dst The destination's absolute path.
 * @returns The backup path.
 *
 * @example
 * ```ts
 * import { backupPathFor } from "./backup.ts";
 *
 * console.log(backupPathFor("/backup", "delivery-42", "/show/sh010/plate.1001.exr"));
 * // "/backup/delivery-42/show/sh010/plate.1001.exr"
 * ```
 */
export function backupPathFor(backupDir: string, batchId: string, dst: string): string {
  return join(
    backupRootFor(backupDir, batchId),
    dst.replace(/^[/\\]+/, "").replace(/^([A-Za-z]):/, "$1"),
  );
}

/**
 * The batch's own folder in a backup folder: `<backupDir>/<batch id>`
 * (characters a file name cannot hold become `_`).
 *
 * @param backupDir The backup folder (absolute).
 * @param batchId The batch id.
 * @returns The folder.
 *
 * @example
 * ```ts
 * import { backupRootFor } from "./backup.ts";
 *
 * console.log(backupRootFor("/backup", "delivery 42")); // "/backup/delivery_42"
 * ```
 */
export function backupRootFor(backupDir: string, batchId: string): string {
  return join(
    backupDir,
    batchId.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 120),
  );
}

/**
 * Gives the file at `dst` a second name under the backup folder, if there
 * is a file there. A name already taken (the batch replaced this path
 * before) gets `.1`, `.2`, … appended.
 *
 * @param dst The destination about to be replaced.
 * @param backup Where to keep it ({@linkcode backupPathFor}).
 * @returns The path it is kept at, or `null` when nothing was at `dst`.
 * @throws {Error} When it cannot be kept (the copy must not replace it then).
 */
export async function keepReplaced(dst: string, backup: string): Promise<string | null> {
  await Deno.mkdir(dirname(backup), { recursive: true });
  for (let n = 0;; n++) {
    const name = n === 0 ? backup : `${backup}.${n}`;
    try {
      await Deno.link(dst, name);
      return name;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      if (error instanceof Deno.errors.AlreadyExists) continue;
      // Another file system, or none of hard links: a copy instead.
      if ((error as { code?: string }).code !== "EXDEV" && !isNoHardLinks(error)) throw error;
      if (await exists(name)) continue;
      return await copyAside(dst, name);
    }
  }
}

/** A copy of `dst` at `name` with its mode and times, written under a temporary name first. */
async function copyAside(dst: string, name: string): Promise<string | null> {
  const tmp = tempPathFor(name);
  try {
    await copyKeepingTimes(dst, tmp);
    await Deno.rename(tmp, name);
    return name;
  } catch (error) {
    await removeIfPresent(tmp);
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Copies a file with its mode (`copyFile` keeps it) and its times, or a
 * link as a link to the same target.
 *
 * @param from The file or link.
 * @param to Its copy (must not exist).
 *
 * @example
 * ```ts
 * import { copyKeepingTimes } from "./backup.ts";
 *
 * const from = await Deno.makeTempFile();
 * await copyKeepingTimes(from, `${from}.kept`);
 * const [a, b] = [await Deno.stat(from), await Deno.stat(`${from}.kept`)];
 * console.log(a.mtime?.getTime() === b.mtime?.getTime()); // true
 * await Deno.remove(from);
 * await Deno.remove(`${from}.kept`);
 * ```
 */
export async function copyKeepingTimes(from: string, to: string): Promise<void> {
  const info = await Deno.lstat(from);
  if (info.isSymlink) return await Deno.symlink(await Deno.readLink(from), to);
  await Deno.copyFile(from, to);
  if (info.mtime !== null) await Deno.utime(to, info.atime ?? info.mtime, info.mtime);
}
