/**
 * A whole ASC MHL history read back: every generation the chain lists
 * (each checked against its C4 hash), folded into what is recorded about
 * each file — the first hash of each format, which later checks are compared
 * against — with renames applied, the latest ignore patterns, and the nested
 * histories of sub-folders that have an `ascmhl/` folder of their own.
 *
 * @module
 */

import { join } from "node:path";
import { hashFile } from "../hash.ts";
import { describeError } from "../../errors.ts";
import { type ChainEntry, MHL_DIR, readChain } from "./chain.ts";
import { withFolderLock } from "./folder_lock.ts";
import { type MhlHash, readManifest, sequenceOf } from "./manifest.ts";
import { MhlError } from "./mhl_error.ts";

/** What a history records about one file. */
export interface RecordedFile {
  /** The first recorded hash of each format (never a `failed` one). */
  hashes: MhlHash[];
  /** The size first recorded, or `null`. */
  size: number | null;
}

/** One history: a folder with an `ascmhl/` folder. */
export interface MhlHistory {
  /** The folder that holds `ascmhl/`. */
  root: string;
  /** Its path relative to the top history's root (`""` for the top). */
  prefix: string;
  /** The chain, by generation number. */
  chain: ChainEntry[];
  /** Recorded files, by path relative to {@linkcode MhlHistory.root}. */
  files: Map<string, RecordedFile>;
  /** Recorded directories, relative to {@linkcode MhlHistory.root}. */
  directories: Set<string>;
  /** The latest generation's ignore patterns (empty when none are recorded). */
  ignore: string[];
  /** The algorithm of the latest generation's first hash, if any. */
  latestAlgorithm: MhlHash["algorithm"] | undefined;
  /** Histories of sub-folders, by path relative to the top root. */
  children: MhlHistory[];
}

/**
 * The C4 hash of a manifest's bytes, as the chain records it.
 *
 * @param path The manifest.
 * @returns Its C4 ID.
 */
export async function manifestC4(path: string): Promise<string> {
  return await hashFile(path, "c4");
}

/** Manifest names in `ascmhl/` (`._` copies that macOS leaves are not manifests). */
async function manifestNames(folder: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.name.startsWith("._") || sequenceOf(entry.name) === null) continue;
      names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new MhlError("MHL_UNREADABLE", `cannot list '${folder}': ${describeError(error)}`, {
      path: folder,
      cause: error,
    });
  }
  return names;
}

/**
 * Reads one history (not its children): checks every generation of the chain
 * against its C4 hash, refuses a manifest that the chain does not list, and
 * folds the generations in order.
 *
 * Requires `--allow-read` on `root`.
 *
 * @param root The folder holding `ascmhl/`.
 * @param prefix Its path relative to the top root.
 * @returns The history (with no generations when `root` has no `ascmhl/`).
 * @throws {MhlError} When the history cannot be read or trusted; the message names the file.
 */
async function loadOne(root: string, prefix: string): Promise<MhlHistory> {
  const folder = join(root, MHL_DIR);
  const history: MhlHistory = {
    root,
    prefix,
    chain: [],
    files: new Map(),
    directories: new Set(),
    ignore: [],
    latestAlgorithm: undefined,
    children: [],
  };
  await withFolderLock(folder, false, async () => {
    history.chain = await readChain(root);
    const listed = new Set(history.chain.map((c) => c.file));
    for (const name of await manifestNames(folder)) {
      if (listed.has(name)) continue;
      throw new MhlError(
        "MHL_ROLLED_BACK",
        `the manifest '${join(folder, name)}' is not listed in the chain file ` +
          `'${join(folder, "ascmhl_chain.xml")}': the chain was rolled back or edited, ` +
          `or the manifest was added by hand`,
        { path: join(folder, name) },
      );
    }
    for (const generation of history.chain) {
      const path = join(folder, generation.file);
      let c4: string;
      try {
        c4 = await manifestC4(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new MhlError(
            "MHL_MISSING_FILE",
            `the chain file lists generation ${generation.sequence} as '${generation.file}', ` +
              `but '${path}' is missing`,
            { path, cause: error },
          );
        }
        throw new MhlError("MHL_UNREADABLE", `cannot read '${path}': ${describeError(error)}`, {
          path,
          cause: error,
        });
      }
      if (c4 !== generation.c4) {
        throw new MhlError(
          "MHL_CHANGED",
          `the manifest '${path}' was changed after it was written ` +
            `(its C4 hash does not match the chain file)`,
          { path },
        );
      }
      const manifest = await readManifest(path, (entry) => {
        let recorded = history.files.get(entry.path);
        if (entry.previousPath !== undefined && entry.previousPath !== entry.path) {
          // A rename: the file keeps the hashes it had under its old name.
          const before = history.files.get(entry.previousPath);
          history.files.delete(entry.previousPath);
          if (before !== undefined && recorded === undefined) recorded = before;
        }
        if (recorded === undefined) recorded = { hashes: [], size: entry.size };
        for (const hash of entry.hashes) {
          if (hash.action === "failed") continue; // a failed check never becomes the truth
          if (!recorded.hashes.some((h) => h.algorithm === hash.algorithm)) {
            recorded.hashes.push(hash);
          }
        }
        history.files.set(entry.path, recorded);
        history.latestAlgorithm = entry.hashes[0]?.algorithm ?? history.latestAlgorithm;
      });
      for (const dir of manifest.directories) history.directories.add(dir);
      history.ignore = manifest.ignore;
    }
  });
  return history;
}

/**
 * Folders below `root` that hold an `ascmhl/` folder of their own, relative, with `/`.
 *
 * Requires `--allow-read` on `root`.
 *
 * @param root A folder.
 * @returns The nested history roots; folders that cannot be listed are passed over.
 */
export async function findNestedRoots(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    if (rel !== "" && entries.some((e) => e.isDirectory && e.name === MHL_DIR)) out.push(rel);
    for (const entry of entries) {
      if (!entry.isDirectory || entry.name === MHL_DIR) continue;
      await walk(join(dir, entry.name), rel === "" ? entry.name : `${rel}/${entry.name}`);
    }
  }
  await walk(root, "");
  return out.sort();
}

/**
 * The nested history roots that can hold the given paths: the folders on the
 * way to each that have an `ascmhl/` folder of their own. Costs one look-up
 * per distinct folder, not a walk of everything below `root`.
 *
 * Requires `--allow-read` on `root`.
 *
 * @param root The top folder.
 * @param paths Files relative to `root`, with `/`.
 * @returns The nested roots, relative, sorted.
 */
export async function nestedRootsOf(root: string, paths: Iterable<string>): Promise<string[]> {
  const seen = new Map<string, Promise<boolean>>();
  for (const path of paths) {
    for (let at = path.indexOf("/"); at !== -1; at = path.indexOf("/", at + 1)) {
      const dir = path.slice(0, at);
      if (!seen.has(dir)) {
        seen.set(dir, Deno.stat(join(root, dir, MHL_DIR)).then((i) => i.isDirectory, () => false));
      }
    }
  }
  const out: string[] = [];
  for (const [dir, has] of seen) if (await has) out.push(dir);
  return out.sort();
}

/**
 * Reads the history of `root` and of every nested history below it.
 *
 * Requires `--allow-read` on `root`.
 *
 * @param root The top folder.
 * @param nested Nested history roots relative to `root`, when the caller has
 * walked the tree already.
 * @returns The top history, its nested ones in {@linkcode MhlHistory.children}
 * (a flat list, deepest last), each with no generations where it has none.
 * @throws {MhlError} When any history cannot be read or trusted.
 *
 * @example
 * ```ts
 * import { copy, loadHistory } from "../../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/a.exr`, "pixels");
 * await copy(src, `${src}-out`, { mhl: true });
 * const history = await loadHistory(`${src}-out`);
 * console.log([...history.files.keys()]); // ["a.exr"]
 * await Deno.remove(src, { recursive: true });
 * await Deno.remove(`${src}-out`, { recursive: true });
 * ```
 */
export async function loadHistory(root: string, nested?: readonly string[]): Promise<MhlHistory> {
  const top = await loadOne(root, "");
  for (const rel of nested ?? await findNestedRoots(root)) {
    top.children.push(await loadOne(join(root, rel), rel));
  }
  return top;
}

/**
 * The history that governs a path: the deepest nested history whose folder
 * holds it, else the top one.
 *
 * @param top The top history.
 * @param path Relative to the top root.
 * @returns The history and the path relative to its root.
 */
export function ownerOf(top: MhlHistory, path: string): { history: MhlHistory; path: string } {
  let best: MhlHistory = top;
  for (const child of top.children) {
    if (path.startsWith(`${child.prefix}/`) && child.prefix.length > best.prefix.length) {
      best = child;
    }
  }
  return { history: best, path: best === top ? path : path.slice(best.prefix.length + 1) };
}

/**
 * What the histories record about a path: its own history's record, else
 * one that an enclosing history made before the nested one existed.
 *
 * @param top The top history.
 * @param path Relative to the top root.
 * @returns The record, or `undefined` for a file never recorded.
 */
export function recordOf(top: MhlHistory, path: string): RecordedFile | undefined {
  const own = ownerOf(top, path);
  const found = own.history.files.get(own.path);
  if (found !== undefined || own.history === top) return found;
  for (const history of [...top.children].reverse()) {
    if (history === own.history || !path.startsWith(`${history.prefix}/`)) continue;
    const rel = path.slice(history.prefix.length + 1);
    const record = history.files.get(rel);
    if (record !== undefined) return record;
  }
  return top.files.get(path);
}

/**
 * Every recorded path of every history, relative to the top root, with a
 * trailing `/` for directories.
 *
 * @param top The top history.
 * @returns The paths.
 */
export function recordedPaths(top: MhlHistory): Set<string> {
  const out = new Set<string>();
  for (const history of [top, ...top.children]) {
    const at = history.prefix === "" ? "" : `${history.prefix}/`;
    for (const path of history.files.keys()) out.add(at + path);
    for (const dir of history.directories) out.add(`${at + dir}/`);
  }
  return out;
}
