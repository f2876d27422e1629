/**
 * The files of a folder that ferry hashes and verifies: every regular file
 * below it, leaving out what is not the delivery's own (its ASC MHL history,
 * Finder's `.DS_Store`, ferry's temporaries and leases).
 *
 * @module
 */

import { join } from "node:path";
import { isTempName } from "../fs/publish.ts";
import { leaseRunOf } from "../fs/temp_lease.ts";
import { MHL_DIR } from "./mhl/chain.ts";

/**
 * Lists the regular files under `root` (relative, with `/`), leaving out
 * `ascmhl/`, `.DS_Store` and ferry's temporary files. Devices, FIFOs and
 * sockets are not listed.
 *
 * Requires `--allow-read`.
 *
 * @param root A directory.
 * @param onUnreadable Called for a folder below `root` that cannot be listed
 * (the rest is still listed); without it, such a folder throws.
 * @returns The paths, sorted.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { listFiles } from "./list_files.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(join(dir, "A001"));
 * await Deno.writeTextFile(join(dir, "A001", "clip.mov"), "");
 * await Deno.writeTextFile(join(dir, ".DS_Store"), "");
 * console.log(await listFiles(dir)); // ["A001/clip.mov"]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listFiles(
  root: string,
  onUnreadable?: (dir: string, error: unknown) => void,
): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      if (onUnreadable === undefined || prefix === "") throw error;
      onUnreadable(dir, error);
      return;
    }
    for (const entry of entries) {
      if (entry.name === ".DS_Store" || isTempName(entry.name) || leaseRunOf(entry.name)) continue;
      if (prefix === "" && entry.name === MHL_DIR) continue;
      const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) await walk(join(dir, entry.name), rel);
      else if (entry.isFile) out.push(rel);
    }
  }
  await walk(root, "");
  return out.sort();
}
