/**
 * Include and exclude rules (`--include GLOB`, `--exclude GLOB`, rsync's
 * `+ GLOB` / `- GLOB` in a batch or the library), evaluated as rsync does:
 * in the order given, the first rule that matches decides, and a name no
 * rule matches is copied. Rules are matched on the path relative to the
 * mapping's source root, with `/` between folders:
 *
 * - a rule without `/` matches a name in any folder (`*.tmp`, `.DS_Store`);
 *   a rule with `/` matches the whole relative path (`plates/*.exr`; a
 *   leading `/` is the root and changes nothing);
 * - `*` is any run of characters but `/`, `**` any run including `/`, `?`
 *   one character but `/`, `[abc]`/`[a-z]`/`[!abc]` one of (not of) them;
 * - **a rule ending in `/` matches folders, and only folders**: an excluded
 *   folder is not copied, nor anything in it (`--exclude cache/`). Other
 *   rules match files (and links) only, never folders — unlike rsync, where
 *   `--include '*.exr' --exclude '*'` also excludes every folder unless a
 *   rule including all folders comes first: here it copies every `.exr` of
 *   the tree.
 *
 * A file given as a mapping's source itself is copied whatever the rules.
 *
 * @module
 */

import { NotationError } from "../errors.ts";

/** One rule, read. */
interface Rule {
  readonly include: boolean;
  readonly folders: boolean;
  readonly pattern: RegExp;
  readonly wholePath: boolean;
}

/** Rules that decide which files and folders of a tree are copied. */
export interface Filter {
  /**
   * Whether a file (or link) is copied.
   *
   * @param path Its path relative to the mapping's source root, `/`-separated.
   */
  keepFile(path: string): boolean;
  /**
   * Whether a folder (and what is in it) is copied.
   *
   * @param path Its path relative to the mapping's source root.
   */
  keepFolder(path: string): boolean;
}

/** A rule that cannot be read. */
export class FilterRuleError extends NotationError {
  /**
   * @param rule The filter rule as given.
   * @param why What is wrong with it.
   */
  constructor(rule: string, why: string) {
    super("filter rule", rule, why);
    this.name = "FilterRuleError";
  }

  /** The filter rule as given. */
  get rule(): string {
    return this.text;
  }
}

/**
 * Reads rules written `+ GLOB` (include) or `- GLOB` (exclude).
 *
 * @param rules The rules, in order.
 * @returns The filter; `null` for no rules.
 * @throws {FilterRuleError} For a rule that is not `+ GLOB` or `- GLOB`, or an empty glob.
 *
 * @example
 * ```ts
 * import { parseFilters } from "./filters.ts";
 *
 * const filter = parseFilters(["- cache/", "+ *.exr", "- *"])!;
 * console.log(filter.keepFile("sh010/plate.1001.exr"), filter.keepFile("notes.txt")); // true false
 * console.log(filter.keepFolder("sh010"), filter.keepFolder("sh010/cache")); // true false
 * ```
 */
export function parseFilters(rules: readonly string[]): Filter | null {
  if (rules.length === 0) return null;
  const read = rules.map((text): Rule => {
    const match = /^([+-]) (.+)$/.exec(text);
    if (match === null) {
      throw new FilterRuleError(text, "write it as '+ GLOB' (include) or '- GLOB' (exclude)");
    }
    let glob = match[2]!;
    const folders = glob.endsWith("/");
    if (folders) glob = glob.slice(0, -1);
    if (glob.startsWith("/")) glob = glob.slice(1);
    if (glob === "") throw new FilterRuleError(text, "the glob is empty");
    return {
      include: match[1] === "+",
      folders,
      pattern: globToRegExp(glob, text),
      wholePath: glob.includes("/"),
    };
  });
  const decide = (path: string, folder: boolean): boolean => {
    const name = path.slice(path.lastIndexOf("/") + 1);
    for (const rule of read) {
      if (rule.folders !== folder) continue;
      if (rule.pattern.test(rule.wholePath ? path : name)) return rule.include;
    }
    return true;
  };
  return {
    keepFile: (path) => decide(path, false),
    keepFolder: (path) => decide(path, true),
  };
}

/** A glob as a regular expression over a whole name or path. */
function globToRegExp(glob: string, rule: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // `**/` also matches no folder at all: `a/**/b` matches `a/b`.
        if (glob[i + 2] === "/") {
          out += "(?:.*/)?";
          i += 2;
        } else {
          out += ".*";
          i++;
        }
      } else out += "[^/]*";
    } else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) throw new FilterRuleError(rule, "a '[' without its ']'");
      let set = glob.slice(i + 1, end);
      const negate = set.startsWith("!") || set.startsWith("^");
      if (negate) set = set.slice(1);
      out += `[${negate ? "^/" : ""}${set.replace(/[\\\]]/g, "\\$&")}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}
