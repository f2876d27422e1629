/**
 * The checks of each mapping on its own, before anything is planned or
 * written: the source exists and is a file, folder or link; the destination
 * is not the source, not inside it, and not a file where a folder goes (or
 * the other way round); two mappings do not write one path.
 *
 * @module
 */

import { basename, dirname, join, relative, sep } from "node:path";
import { absolutePath } from "../fs/absolute_path.ts";
import { describeError, InputError } from "../errors.ts";
import type { Operation } from "../options.ts";
import type { Mapping } from "./plan_item.ts";
import { forEachLimit } from "../concurrency.ts";

/** A mapping that passed its checks, with what they found. */
export interface CheckedMapping {
  /** Its index in the batch. */
  index: number;
  /** The absolute source path. */
  src: string;
  /** The absolute destination path. */
  dst: string;
  /** `src` with every symbolic link resolved. */
  srcReal: string;
  /** `dst` with the symbolic links of its existing part resolved. */
  dstReal: string;
  /** The source (lstat for a move, stat for a copy). */
  info: Deno.FileInfo;
  /** The destination, when something is there. */
  dstInfo: Deno.FileInfo | null;
  /** The device of the destination's nearest existing folder (`null`: none found). */
  dstDev: number | null;
  /** Whether source and destination are on one file system. */
  sameFs: boolean;
}

/**
 * Checks one mapping.
 *
 * @param mapping The mapping as given.
 * @param index Its index in the batch.
 * @param operation Copy or move (a move looks at links, not through them).
 * @returns What the checks found.
 * @throws {InputError} When the mapping is unusable.
 */
export async function checkMapping(
  mapping: Mapping,
  index: number,
  operation: Operation,
): Promise<CheckedMapping> {
  const where = `Mapping ${index}`;
  if (typeof mapping?.src !== "string" || mapping.src === "") {
    throw new InputError(`${where}: 'src' must be a non-empty path`, { index });
  }
  if (typeof mapping.dst !== "string" || mapping.dst === "") {
    throw new InputError(`${where}: 'dst' must be a non-empty path`, { index, path: mapping.src });
  }
  const src = absolutePath(mapping.src);
  const dst = absolutePath(mapping.dst);
  let info: Deno.FileInfo;
  try {
    info = operation === "move" ? await Deno.lstat(src) : await Deno.stat(src);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "does not exist"
      : `cannot be read: ${describeError(error)}`;
    throw new InputError(`${where}: source '${src}' ${why}`, { index, path: src, cause: error });
  }
  if (!info.isFile && !info.isDirectory && !info.isSymlink) {
    throw new InputError(`${where}: source '${src}' is not a file or directory`, {
      index,
      path: src,
    });
  }
  if (info.isDirectory) {
    // Listable before anything is written; a folder deeper down that is not fails on its own.
    try {
      (await Deno.open(src, { read: true })).close();
    } catch (error) {
      throw new InputError(
        `${where}: cannot list the source directory '${src}': ${describeError(error)}`,
        { index, path: src, cause: error },
      );
    }
  }
  if (src === dst) {
    throw new InputError(`${where}: source and destination are the same path '${src}'`, {
      index,
      path: src,
    });
  }
  let dstInfo: Deno.FileInfo | null = null;
  try {
    dstInfo = await Deno.lstat(dst);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new InputError(
        `${where}: destination '${dst}' cannot be checked: ${describeError(error)}`,
        {
          index,
          path: dst,
          cause: error,
        },
      );
    }
  }
  // A link that is moved, or replaced at the destination, is itself the path
  // read or written; any other link is followed. A destination that does not
  // exist is not asked for again (on a share each look is a round trip), and
  // the remaining looks are made together.
  const [srcReal, dstReal, nearest] = await Promise.all([
    operation === "move" && info.isSymlink
      ? realPathOfMissing(dirname(src)).then((dir) => join(dir, basename(src)))
      : Deno.realPath(src).catch(() => src),
    dstInfo === null || dstInfo.isSymlink
      ? realPathOfMissing(dirname(dst)).then((dir) => join(dir, basename(dst)))
      : realPathOfMissing(dst),
    dstInfo?.isDirectory ? Promise.resolve(dstInfo) : nearestExisting(dirname(dst)),
  ]);
  if (srcReal === dstReal) {
    throw new InputError(`${where}: destination '${dst}' is the source '${src}' itself`, {
      index,
      path: dst,
    });
  }
  if (info.isDirectory && (isInside(dst, src) || isInside(dstReal, srcReal))) {
    throw new InputError(`${where}: destination '${dst}' is inside the source directory '${src}'`, {
      index,
      path: dst,
    });
  }
  if (dstInfo !== null && info.isDirectory && !dstInfo.isDirectory) {
    throw new InputError(`${where}: cannot put directory '${src}' onto the file '${dst}'`, {
      index,
      path: dst,
    });
  }
  if (dstInfo !== null && !info.isDirectory && dstInfo.isDirectory) {
    throw new InputError(
      `${where}: destination '${dst}' is a directory; name the file's new path`,
      {
        index,
        path: dst,
      },
    );
  }
  const dstDev = nearest?.dev ?? null;
  return { index, src, dst, srcReal, dstReal, info, dstInfo, dstDev, sameFs: dstDev === info.dev };
}

/** The real path of a path that may not exist yet: its deepest existing ancestor, resolved. */
async function realPathOfMissing(path: string): Promise<string> {
  const rest: string[] = [];
  let at = path;
  for (;;) {
    try {
      return join(await Deno.realPath(at), ...rest.reverse());
    } catch {
      const parent = dirname(at);
      if (parent === at) return path;
      rest.push(basename(at));
      at = parent;
    }
  }
}

async function nearestExisting(path: string): Promise<Deno.FileInfo | null> {
  let at = path;
  for (;;) {
    try {
      return await Deno.stat(at);
    } catch {
      const parent = dirname(at);
      if (parent === at) return null;
      at = parent;
    }
  }
}

export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep);
}

/**
 * Refuses two mappings with one destination (also through a symbolic link).
 *
 * @param mappings The checked mappings.
 * @throws {InputError} Naming the later mapping.
 */
export function checkNesting(mappings: readonly CheckedMapping[]): void {
  const seen = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    const earlier = seen.get(m.dst) ?? seen.get(m.dstReal);
    if (earlier !== undefined) {
      const how = earlier.dst === m.dst ? "" : ` (as '${earlier.dst}', through a symbolic link)`;
      throw new InputError(
        `Mapping ${m.index}: destination '${m.dst}' is also the destination of mapping ${earlier.index}${how}`,
        { index: m.index, path: m.dst },
      );
    }
    seen.set(m.dst, m);
    seen.set(m.dstReal, m);
  }
}

/**
 * Checks a batch's mappings side by side (each check is a few round trips on
 * a share) and reports the first bad one in input order.
 *
 * @param mappings The mappings as given.
 * @param operation Copy or move.
 * @param concurrency How many checks run at once.
 * @returns The checked mappings.
 * @throws {InputError} For the first unusable mapping.
 */
export async function checkMappings(
  mappings: readonly Mapping[],
  operation: Operation,
  concurrency: number,
): Promise<CheckedMapping[]> {
  if (mappings.length === 0) throw new InputError("No mappings given: nothing to transfer");
  const checked: CheckedMapping[] = new Array(mappings.length);
  const errors: unknown[] = new Array(mappings.length);
  await forEachLimit(mappings, concurrency, async (mapping, index) => {
    try {
      checked[index] = await checkMapping(mapping, index, operation);
    } catch (error) {
      errors[index] = error;
    }
  });
  const firstError = errors.find((e) => e !== undefined);
  if (firstError !== undefined) throw firstError;
  checkNesting(checked);
  return checked;
}
