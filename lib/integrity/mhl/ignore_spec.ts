/**
 * The ignore patterns of an ASC MHL history (gitignore syntax, as the ASC
 * reference implementation reads them with `pathspec`'s "gitwildmatch"),
 * matched with the `ignore` package, the gitignore matcher eslint uses.
 *
 * @module
 */

import ignore from "npm:ignore@7.0.5"; // the same pin as "imports" in deno.json

/** The patterns of a history that records none: what the reference implementation writes. */
export const DEFAULT_IGNORE: readonly string[] = [".DS_Store", "ascmhl", "ascmhl/"];

/**
 * A set of ignore patterns.
 *
 * @example
 * ```ts
 * import { IgnoreSpec } from "./ignore_spec.ts";
 *
 * const spec = new IgnoreSpec(["*.tmp", ".thumbs"]);
 * console.log(spec.ignores("clips/a.tmp", false)); // true
 * console.log(spec.ignores("clips/a.mov", false)); // false
 * console.log(spec.patterns); // [".DS_Store", "ascmhl", "ascmhl/", "*.tmp", ".thumbs"]
 * ```
 */
export class IgnoreSpec {
  /** Every pattern, the defaults first when none are given, without repeats. */
  readonly patterns: readonly string[];
  #matcher: ReturnType<typeof ignore>;

  /**
   * Combines recorded and added patterns, as the reference does: the
   * recorded ones (or the defaults when none are recorded), then the added ones.
   *
   * @param added Patterns added now.
   * @param recorded Patterns the history's latest generation records.
   */
  constructor(added: readonly string[] = [], recorded: readonly string[] = []) {
    const all = [...(recorded.length > 0 ? recorded : DEFAULT_IGNORE), ...added];
    this.patterns = [...new Set(all.filter((p) => p !== ""))];
    this.#matcher = ignore().add([...this.patterns]);
  }

  /**
   * Whether a path is ignored (a path inside an ignored folder is too).
   *
   * @param path Relative, with `/`.
   * @param isDirectory Whether it is a folder (patterns ending in `/` match only folders).
   * @returns `true` when ignored.
   */
  ignores(path: string, isDirectory: boolean): boolean {
    return this.#matcher.ignores(isDirectory ? `${path}/` : path);
  }
}
