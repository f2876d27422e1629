/**
 * What a run knows of its destination folders' hard links. A file is
 * published by linking it to its final name (atomic, never replaces); many
 * shares refuse links, and there every file would pay a refused `link`, a
 * round trip. The first link tried in a folder is the folder's question:
 * files published while it is out wait for its answer, a folder that
 * refused is not asked again, and one that linked is not waited on again.
 *
 * @module
 */

/**
 * Whether an error of `link()` says the file system has no hard links (or
 * none more for this file).
 *
 * @param error The error.
 * @returns `true` for EPERM, ENOTSUP, EOPNOTSUPP, ENOSYS, EMLINK.
 *
 * @example
 * ```ts
 * import { isNoHardLinks } from "./folder_links.ts";
 *
 * console.log(isNoHardLinks(Object.assign(new Error("link"), { code: "ENOTSUP" }))); // true
 * ```
 */
export function isNoHardLinks(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS" ||
    code === "EMLINK";
}

/**
 * A run's memory of which folders take hard links.
 *
 * @example
 * ```ts
 * import { FolderLinks } from "./folder_links.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/.a.tmp`, "frame");
 * const links = new FolderLinks();
 * console.log(await links.link(dir, () => Deno.link(`${dir}/.a.tmp`, `${dir}/a.exr`))); // "linked"
 * console.log(links.refuses(dir)); // false
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FolderLinks {
  readonly #refusing = new Set<string>();
  readonly #linking = new Set<string>();
  /** Folders whose first link is out: the answer the others wait for. */
  readonly #asking = new Map<string, Promise<void>>();

  /**
   * Whether a folder is known to refuse hard links.
   *
   * @param folder The folder.
   * @returns `true` once a link there was refused for want of hard links.
   */
  refuses(folder: string): boolean {
    return this.#refusing.has(folder);
  }

  /**
   * Makes a link in a folder, unless the folder is known to refuse links.
   * While the folder's first link is out, waits for its answer.
   *
   * @param folder The folder the link is made in.
   * @param attempt The `link` call.
   * @returns `"linked"`, or `"refused"` where the folder (or, `EMLINK`, the
   *   file) takes no more links: the caller publishes another way. Any other
   *   error of `attempt` is thrown.
   */
  async link(folder: string, attempt: () => Promise<void>): Promise<"linked" | "refused"> {
    for (let out = this.#asking.get(folder); out !== undefined; out = this.#asking.get(folder)) {
      await out;
    }
    if (this.refuses(folder)) return "refused";
    const first = !this.#linking.has(folder);
    let answered = (): void => {};
    if (first) this.#asking.set(folder, new Promise((done) => answered = done));
    try {
      await attempt();
      if (first) this.#linking.add(folder);
      return "linked";
    } catch (error) {
      if (!isNoHardLinks(error)) throw error;
      // EMLINK is this file's count of links, not the folder's file system.
      if ((error as { code?: unknown }).code !== "EMLINK") this.#refusing.add(folder);
      return "refused";
    } finally {
      if (first) {
        this.#asking.delete(folder);
        answered();
      }
    }
  }
}
