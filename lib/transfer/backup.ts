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
import { exists, TEMP_SUFFIX } from "../fs/publish.ts";

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
  const folder = batchId.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 120);
  return join(backupDir, folder, dst.replace(/^[/\\]+/, "").replace(/^([A-Za-z]):/, "$1"));
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
      const code = (error as { code?: string }).code;
      if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") {
        throw error;
      }
      if (await exists(name)) continue;
      return await copyAside(dst, name);
    }
  }
}

/** A copy of `dst` at `name` with its mode and times, written under a temporary name first. */
async function copyAside(dst: string, name: string): Promise<string | null> {
  const tmp = `${name}.${crypto.randomUUID().slice(0, 8)}${TEMP_SUFFIX}`;
  try {
    const info = await Deno.lstat(dst);
    if (info.isSymlink) {
      await Deno.symlink(await Deno.readLink(dst), tmp);
    } else {
      await Deno.copyFile(dst, tmp);
      if (info.mtime !== null) await Deno.utime(tmp, info.atime ?? info.mtime, info.mtime);
    }
    await Deno.rename(tmp, name);
    return name;
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
