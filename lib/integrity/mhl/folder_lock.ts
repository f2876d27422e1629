/**
 * An advisory lock on a history's `ascmhl/` folder, so that several ferry
 * runs on one delivery take turns: readers share it, a writer holds it alone
 * while it numbers, writes and chains its generation.
 *
 * @module
 */

/**
 * Runs `fn` holding a lock on `folder` (flock on the folder itself, so no
 * lock file is left behind). Where the file system has no locks, `fn` runs
 * without one; the writer's create-exclusive numbering still keeps parallel
 * runs apart.
 *
 * Requires `--allow-read` on `folder`.
 *
 * @param folder An existing folder.
 * @param exclusive `true` for a writer, `false` for a reader.
 * @param fn The work.
 * @returns What `fn` returns.
 *
 * @example
 * ```ts
 * import { withFolderLock } from "./folder_lock.ts";
 *
 * const dir = await Deno.makeTempDir();
 * console.log(await withFolderLock(dir, true, () => Promise.resolve("done"))); // done
 * await Deno.remove(dir);
 * ```
 */
export async function withFolderLock<T>(
  folder: string,
  exclusive: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(folder, { read: true });
    await handle.lock(exclusive);
  } catch {
    // No such folder yet, or no locks on this file system: go on without one.
    handle?.close();
    handle = undefined;
  }
  try {
    return await fn();
  } finally {
    handle?.close(); // closing releases the lock
  }
}
