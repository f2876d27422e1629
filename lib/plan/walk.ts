/**
 * The walk of a source tree: an async generator that lists one folder at a
 * time (parents before children, names in byte order, so that the same tree
 * always gives the same order) and looks at each entry, several at a time
 * (each look is a round trip on a share). Only one folder's listing is held
 * at once.
 *
 * @module
 */

import { join } from "node:path";
import { forEachLimit } from "../concurrency.ts";
import { describeError, type FailureCode, failureCodeOf } from "../errors.ts";
import { ASYNC_FILE_OPS, isLocalFileSystem, SYNC_FILE_OPS, turn } from "../fs/file_ops.ts";

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
}

/** Looks on a local file system: synchronous, with turns of the event loop between. */
const SYNC_LOOKS = {
  lstat: async (path: string): Promise<Deno.FileInfo> => {
    await turn();
    return await SYNC_FILE_OPS.lstat(path);
  },
};

/**
 * Walks a source tree breadth first.
 *
 * @param src The root folder (checked to be listable).
 * @param dst Where its copy goes.
 * @param info What stat said of the root.
 * @returns Each folder as it is listed, and each folder that could not be.
 */
export async function* walkTree(
  src: string,
  dst: string,
  info: Deno.FileInfo,
): AsyncGenerator<WalkedDir | WalkedFailure> {
  const pending: { src: string; dst: string; info: Deno.FileInfo }[] = [{ src, dst, info }];
  // Per device: on a local file system each look is made synchronously (see file_ops.ts).
  const local = new Map<number, Promise<boolean>>();
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const names: Deno.DirEntry[] = [];
    try {
      for await (const entry of Deno.readDir(next.src)) names.push(entry);
    } catch (error) {
      const reason = `cannot list the source folder: ${describeError(error)}`;
      yield { type: "failed", src: next.src, dst: next.dst, reason, code: failureCodeOf(error) };
      continue;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Deno sees a name that is not UTF-8 with U+FFFD in place of the bad
    // bytes: two such entries read as one name, and a lone one cannot be opened.
    const twins = new Set(
      names.filter((e, i) => names[i + 1]?.name === e.name).map((e) => e.name),
    );
    const looked: (WalkedEntry | { dir: Deno.FileInfo; src: string; dst: string })[] = new Array(
      names.length,
    );
    const dir = next;
    let isLocal = local.get(dir.info.dev);
    if (isLocal === undefined) local.set(dir.info.dev, isLocal = isLocalFileSystem(dir.src));
    const { lstat } = (await isLocal) ? SYNC_LOOKS : ASYNC_FILE_OPS;
    await forEachLimit(names, STAT_CONCURRENCY, async (entry, i) => {
      const [from, to] = [join(dir.src, entry.name), join(dir.dst, entry.name)];
      looked[i] = await look(entry, from, to, twins, lstat);
    });
    const entries: WalkedEntry[] = [];
    for (const item of looked) {
      if ("dir" in item) pending.push({ src: item.src, dst: item.dst, info: item.dir });
      else entries.push(item);
    }
    yield { type: "dir", src: dir.src, dst: dir.dst, info: dir.info, entries };
  }
}

async function look(
  entry: Deno.DirEntry,
  src: string,
  dst: string,
  twins: ReadonlySet<string>,
  lstat: (path: string) => Promise<Deno.FileInfo>,
): Promise<WalkedEntry | { dir: Deno.FileInfo; src: string; dst: string }> {
  const { name } = entry;
  if (twins.has(name)) return { name, src, dst, failure: { reason: NOT_UTF8, code: "bad-name" } };
  let info: Deno.FileInfo;
  try {
    info = await lstat(src);
  } catch (error) {
    const badName = name.includes("\uFFFD") && error instanceof Deno.errors.NotFound;
    const failure = badName
      ? { reason: NOT_UTF8, code: "bad-name" as const }
      : { reason: describeError(error), code: failureCodeOf(error) };
    return { name, src, dst, failure };
  }
  if (info.isDirectory) return { dir: info, src, dst };
  if (!info.isSymlink) return { name, src, dst, info };
  try {
    return { name, src, dst, info, linkTarget: await Deno.readLink(src) };
  } catch (error) {
    return {
      name,
      src,
      dst,
      failure: { reason: describeError(error), code: failureCodeOf(error) },
    };
  }
}
