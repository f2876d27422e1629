/**
 * The walk of a source tree: an async generator that lists one folder at a
 * time (parents before children, names in byte order, so that the same tree
 * always gives the same order) and looks at each entry, several at a time
 * (each look is a round trip on a share). Only one folder's listing is held
 * at once.
 *
 * @module
 */

import { forEachLimit } from "../concurrency.ts";
import type { Filter } from "./filters.ts";
import { describeError, type FailureCode, failureCodeOf } from "../errors.ts";
import { isLocalFileSystem, turn } from "../fs/file_ops.ts";
import { OnceCache } from "../once_cache.ts";

/** How many stat/readDir calls the walk keeps in flight (they are round trips on a share). */
export const STAT_CONCURRENCY = 16;

/** Why a file whose name is not valid UTF-8 fails. */
const NOT_UTF8 = "its name is not valid UTF-8 (shown with \uFFFD), which ferry cannot address; " +
  "rename it to copy it";

/** One entry of a listed folder that is not a folder itself. */
export interface WalkedEntry {
  /** Its name in the folder. */
  name: string;
  /** Its source path. */
  src: string;
  /** Its destination path. */
  dst: string;
  /** What lstat said; missing for a failure. */
  info?: Deno.FileInfo;
  /** For a symbolic link: its target. */
  linkTarget?: string;
  /** Why it cannot be copied, when it cannot. */
  failure?: { reason: string; code: FailureCode };
  /** Its plan item id, where a stored plan gives it (else the planner counts). */
  id?: number;
}

/** A folder that was listed, with its entries that are not folders. */
export interface WalkedDir {
  /** Always `"dir"`. */
  type: "dir";
  /** Its source path. */
  src: string;
  /** Its destination path. */
  dst: string;
  /** What stat said of the source folder. */
  info: Deno.FileInfo;
  /** Its files, links and failed entries, in name order. */
  entries: WalkedEntry[];
  /** Its plan item id, where a stored plan gives it. */
  id?: number;
}

/** A folder inside the tree that could not be listed: it fails on its own, the rest is copied. */
export interface WalkedFailure {
  /** Always `"failed"`. */
  type: "failed";
  /** Its source path. */
  src: string;
  /** Its destination path. */
  dst: string;
  /** Why, in plain words. */
  reason: string;
  /** The failure's kind. */
  code: FailureCode;
  /** Its plan item id, where a stored plan gives it. */
  id?: number;
}

/** Local looks between two chances for the event loop to take a turn (see `turn`). */
const LOOKS_PER_TURN = 64;

/**
 * Walks a source tree breadth first.
 *
 * @param src The root folder (checked to be listable).
 * @param dst Where its copy goes.
 * @param info What stat said of the root.
 * @param filter Include and exclude rules (see `filters.ts`): what they leave out is not looked at.
 * @returns Each folder as it is listed, and each folder that could not be.
 */
export async function* walkTree(
  src: string,
  dst: string,
  info: Deno.FileInfo,
  filter: Filter | null = null,
): AsyncGenerator<WalkedDir | WalkedFailure> {
  const pending: { src: string; dst: string; info: Deno.FileInfo; rel: string }[] = [
    { src, dst, info, rel: "" },
  ];
  // Per device: on a local file system each look is made synchronously (see file_ops.ts).
  const local = new OnceCache<number, boolean>();
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const dir = next;
    const here = await local.get(dir.info.dev, () => isLocalFileSystem(dir.src));
    let names: Deno.DirEntry[];
    try {
      names = here ? [...Deno.readDirSync(dir.src)] : await Array.fromAsync(Deno.readDir(dir.src));
    } catch (error) {
      const reason = `cannot list the source folder: ${describeError(error)}`;
      yield { type: "failed", src: next.src, dst: next.dst, reason, code: failureCodeOf(error) };
      continue;
    }
    if (filter !== null) {
      const relOf = (name: string): string => dir.rel === "" ? name : `${dir.rel}/${name}`;
      names = names.filter((e) =>
        e.isDirectory ? filter.keepFolder(relOf(e.name)) : filter.keepFile(relOf(e.name))
      );
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Deno sees a name that is not UTF-8 with U+FFFD in place of the bad
    // bytes: two such entries read as one name, and a lone one cannot be opened.
    const twins = new Set(
      names.filter((e, i) => names[i + 1]?.name === e.name).map((e) => e.name),
    );
    const looked: Looked[] = new Array(names.length);
    const pathsOf = (
      name: string,
    ): [string, string] => [child(dir.src, name), child(dir.dst, name)];
    if (here) {
      for (let i = 0; i < names.length; i++) {
        if (i % LOOKS_PER_TURN === 0) await turn();
        looked[i] = lookNow(names[i]!, ...pathsOf(names[i]!.name), twins);
      }
    } else {
      await forEachLimit(names, STAT_CONCURRENCY, async (entry, i) => {
        looked[i] = await look(entry, ...pathsOf(entry.name), twins);
      });
    }
    const entries: WalkedEntry[] = [];
    for (const item of looked) {
      if ("dir" in item) {
        const name = item.src.slice(item.src.lastIndexOf("/") + 1);
        pending.push({
          src: item.src,
          dst: item.dst,
          info: item.dir,
          rel: dir.rel === "" ? name : `${dir.rel}/${name}`,
        });
      } else entries.push(item);
    }
    yield { type: "dir", src: dir.src, dst: dir.dst, info: dir.info, entries };
  }
}

/**
 * A listed name's path in its folder: the walk's paths are absolute and
 * normal and listed names have no slash, so this is `join` without its cost.
 *
 * @param folder The folder's path.
 * @param name A name listed in it.
 * @returns The path.
 *
 * @example
 * ```ts
 * import { child } from "./walk.ts";
 *
 * console.log(child("/shots/sh010", "plate.1001.exr")); // "/shots/sh010/plate.1001.exr"
 * ```
 */
export function child(folder: string, name: string): string {
  return folder.endsWith("/") ? folder + name : `${folder}/${name}`;
}

/** What a folder's entry is: a file, link or failure, or a folder to list next. */
type Looked = WalkedEntry | { dir: Deno.FileInfo; src: string; dst: string };

/** Looks at an entry with Deno's asynchronous calls (a round trip each on a share). */
async function look(
  entry: Deno.DirEntry,
  src: string,
  dst: string,
  twins: ReadonlySet<string>,
): Promise<Looked> {
  const { name } = entry;
  if (twins.has(name)) return { name, src, dst, failure: { reason: NOT_UTF8, code: "bad-name" } };
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(src);
  } catch (error) {
    return { name, src, dst, failure: lookFailure(name, error) };
  }
  if (info.isDirectory) return { dir: info, src, dst };
  if (!info.isSymlink) return { name, src, dst, info };
  try {
    return { name, src, dst, info, linkTarget: await Deno.readLink(src) };
  } catch (error) {
    return { name, src, dst, failure: lookFailure(name, error) };
  }
}

/** The same look with synchronous calls, on a local file system. */
function lookNow(
  entry: Deno.DirEntry,
  src: string,
  dst: string,
  twins: ReadonlySet<string>,
): Looked {
  const { name } = entry;
  if (twins.has(name)) return { name, src, dst, failure: { reason: NOT_UTF8, code: "bad-name" } };
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(src);
  } catch (error) {
    return { name, src, dst, failure: lookFailure(name, error) };
  }
  if (info.isDirectory) return { dir: info, src, dst };
  if (!info.isSymlink) return { name, src, dst, info };
  try {
    return { name, src, dst, info, linkTarget: Deno.readLinkSync(src) };
  } catch (error) {
    return { name, src, dst, failure: lookFailure(name, error) };
  }
}

/** Why a look failed: a name that is not UTF-8 reads as missing. */
function lookFailure(name: string, error: unknown): { reason: string; code: FailureCode } {
  return name.includes("\uFFFD") && error instanceof Deno.errors.NotFound
    ? { reason: NOT_UTF8, code: "bad-name" }
    : { reason: describeError(error), code: failureCodeOf(error) };
}
