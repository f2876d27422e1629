/**
 * Planning: from `{src, dst}` mappings to file tasks, and from large files to
 * byte-range chunks. Planning only reads (stat, readDir, realPath); it never
 * writes, so a plan that fails with {@linkcode InputError} has touched nothing.
 *
 * @module
 */

import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { forEachLimit } from "../concurrency.ts";
import { describeError, type FailureCode, failureCodeOf, InputError } from "../errors.ts";
import { isTempName } from "../fs/publish.ts";
import { leaseRunOf } from "../fs/temp_lease.ts";

/** A temporary file or lease that some ferry run left in a destination folder. */
function isStray(entry: Deno.DirEntry): boolean {
  return (entry.isFile || entry.isSymlink) &&
    (isTempName(entry.name) || leaseRunOf(entry.name) !== null);
}

/** One MiB in bytes. */
export const MIB = 1024 * 1024;

// The defaults below were checked in the settings sweep at the end of
// bench/RESULTS.md (`deno task bench:compare --sweep`: each setting changed
// alone, on net → local, local → net and page-cache copies of a 2 GiB file,
// 12 MiB frames and 64 KiB files). No other value was better beyond the
// round-to-round noise (about ±10 %) in any case, and several were clearly
// worse where noted.

/**
 * Files at or above this size are split into chunks copied in parallel;
 * smaller ones are copied whole, many at a time. The original tool used
 * 10 MiB; on the simulated share, 12 MiB frames copied whole (16 in flight)
 * go about twice as fast as split into chunks (sweep: cutoff 4 MiB halves
 * the frame rate; 16 and 256 MiB are level with 64 MiB).
 */
export const DEFAULT_CUTOFF_BYTES = 64 * MIB;
/** Smallest chunk the automatic chunk size picks. */
export const MIN_CHUNK_BYTES = MIB;
/**
 * Largest chunk the automatic chunk size picks (about two chunks per worker;
 * sweep: fixed 4, 16 and 256 MiB chunks were level with it).
 */
export const MAX_CHUNK_BYTES = 64 * MIB;
/**
 * Default number of chunk workers: the original tool's 8 (sweep: 4, 12 and
 * 16 were level on this 2-core machine; more ranges in flight is what a
 * share with higher latency or more cores needs).
 */
export const DEFAULT_MAX_WORKERS = 8;
/** Default number of files in flight on the workers (sweep: 2 and 8 were level). */
export const DEFAULT_FILE_WORKERS = 4;
/** The most chunk workers a batch may ask for. */
export const MAX_WORKERS_LIMIT = 256;
/** The most files in flight (large or small) a batch may ask for. */
export const FILE_WORKERS_LIMIT = 1024;
/** The largest copy buffer per worker. */
export const MAX_BUFFER_BYTES = 256 * MIB;

/** How many stat/readDir calls planning keeps in flight (they are round trips on a share). */
const STAT_CONCURRENCY = 16;

/** A source and the path its copy gets (for a directory, the copied directory itself). */
export interface Mapping {
  /** The file or directory to copy. */
  src: string;
  /** The path the copy of `src` gets. */
  dst: string;
}

/**
 * What to do when a destination file exists. A destination with the source's
 * size and modification time is ferry's complete copy (ferry gives every copy
 * its source's mtime, and a final name only ever holds a complete file): every
 * policy but `"checksum"` leaves it alone as already there (a move then only
 * removes its source). For one that differs:
 * - `"error"` (the default): leave it alone and fail that file, so a rerun is
 *   safe and says what differs;
 * - `"overwrite"`: replace it;
 * - `"update"`: replace it only when the source is newer, as `cp -u`,
 *   `rsync -u` and `rclone --update` do (a newer destination is never replaced);
 * - `"skip"`: leave it alone quietly;
 * - `"checksum"`: compare the bytes, whatever the size and time say; replace
 *   it when they differ.
 */
export type ExistingPolicy = "error" | "overwrite" | "skip" | "update" | "checksum";

/** Why a file failed when its destination differs and the policy left it alone. */
export const DIFFERS_REASON = "the destination differs from the source and was left alone";

/** A byte range of one file. */
export interface Chunk {
  /** First byte of the range. */
  offset: number;
  /** Length of the range in bytes (at least 1). */
  length: number;
}

/** How one file is handled. */
export type FileAction =
  | "copy"
  | "rename"
  | "symlink"
  | "skip"
  | "fail"
  | "in-dir-rename"
  | "finish-move"
  | "compare";

/** One file (or symbolic link) of the plan. */
export interface FileTask {
  /** Index of the mapping this file comes from. */
  mapping: number;
  /** Absolute source path. */
  src: string;
  /** Absolute destination path. */
  dst: string;
  /** Size in bytes. */
  size: number;
  /** Permission bits to give the copy. */
  mode: number;
  /** Modification time to give the copy (`null` where the platform has none). */
  mtime: Date | null;
  /** Access time to give the copy. */
  atime: Date | null;
  /** Owner of the source (kept with `preserveOwner`, as root). */
  uid: number | null;
  /** Group of the source. */
  gid: number | null;
  /** Device of the source (to remember per file-system pair whether offload works). */
  dev: number;
  /** The chunks, for a file copied in parallel ranges; empty for a whole-file copy. */
  chunks: Chunk[];
  /** What the transfer does with it. */
  action: FileAction;
  /** For `"skip"` and `"fail"`: why, in plain words. */
  reason?: string;
  /** For `"fail"`: what kind of failure. */
  code?: FailureCode;
  /** For `"symlink"`: the link target, copied as it is. */
  linkTarget?: string;
  /** The source has holes (fewer blocks allocated than its size): copied sparse where it can be. */
  sparse?: boolean;
}

/** A directory the transfer creates (or finds) at the destination. */
export interface DirTask {
  /** Index of the mapping this directory comes from. */
  mapping: number;
  /** Absolute source path. */
  src: string;
  /** Absolute destination path. */
  dst: string;
  /** Permission bits of the source directory. */
  mode: number;
  /** Modification time of the source directory, given to the copy after its files. */
  mtime: Date | null;
  /** Owner of the source directory (kept with `preserveOwner`, as root). */
  uid: number | null;
  /** Group of the source directory. */
  gid: number | null;
  /** `true` when the whole directory is moved with one rename. */
  rename: boolean;
}

/** The whole plan of a batch. */
export interface TransferPlan {
  /** `"copy"` or `"move"`. */
  operation: "copy" | "move";
  /** Directories, parents before children. */
  dirs: DirTask[];
  /** Files and links, in walk order. */
  files: FileTask[];
  /** Sum of the sizes of all files. */
  bytesTotal: number;
  /** Number of chunks over all chunked files. */
  chunksTotal: number;
  /** Bytes that will actually be copied (actions `"copy"`). */
  bytesToCopy: number;
  /** ferry temporaries and leases found in the destination folders (maybe left by a killed run). */
  strayTemps: string[];
}

/** Options for {@linkcode planChunks}. */
export interface PlanChunksOptions {
  /**
   * Files of this size or larger are split into chunks.
   * @default {64 MiB}
   */
  cutoffBytes?: number;
  /**
   * Fixed chunk size; 0 picks one from the file size and the worker count
   * within 1–64 MiB.
   * @default {0}
   */
  chunkBytes?: number;
  /**
   * Number of chunk workers the chunks are shared among.
   * @default {8}
   */
  workers?: number;
}

/** Options for {@linkcode planTransfer}. */
export interface PlanOptions extends PlanChunksOptions {
  /**
   * `"move"` renames where source and destination share a file system.
   * @default {"copy"}
   */
  operation?: "copy" | "move";
  /**
   * What to do when a destination file exists.
   * @default {"error"}
   */
  existing?: ExistingPolicy;
}

/**
 * The automatic chunk size: about two chunks per worker, rounded up to whole
 * MiB and clamped to 1–64 MiB.
 *
 * @param sizeBytes The file size.
 * @param workers The number of chunk workers.
 * @returns The chunk size in bytes.
 *
 * @example
 * ```ts
 * import { autoChunkBytes, MIB } from "./plan.ts";
 *
 * console.log(autoChunkBytes(2048 * MIB, 8) / MIB); // 64
 * ```
 */
export function autoChunkBytes(sizeBytes: number, workers: number): number {
  const perWorker = Math.ceil(sizeBytes / (2 * Math.max(1, workers)) / MIB) * MIB;
  return Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, perWorker));
}

/**
 * Splits a file into byte ranges. A file below the cutoff (and every empty
 * file) gives no chunks: it is copied whole.
 *
 * @param sizeBytes The file size in bytes.
 * @param options Cutoff, chunk size and worker count.
 * @returns The chunks in order; they cover the file exactly.
 * @throws {RangeError} When a size or count is negative or not an integer.
 *
 * @example Planning a 100 MiB file for 4 workers
 * ```ts
 * import { MIB, planChunks } from "./plan.ts";
 *
 * const chunks = planChunks(100 * MIB, { workers: 4 });
 * console.log(chunks.length); // 8 (chunks of 13 MiB, the last one 9 MiB)
 * ```
 */
export function planChunks(sizeBytes: number, options: PlanChunksOptions = {}): Chunk[] {
  const {
    cutoffBytes = DEFAULT_CUTOFF_BYTES,
    chunkBytes = 0,
    workers = DEFAULT_MAX_WORKERS,
  } = options;
  checkCount("sizeBytes", sizeBytes, 0);
  checkCount("cutoffBytes", cutoffBytes, 0);
  checkCount("chunkBytes", chunkBytes, 0);
  checkCount("workers", workers, 1);
  if (sizeBytes === 0 || sizeBytes < cutoffBytes) return [];
  const step = chunkBytes > 0 ? chunkBytes : autoChunkBytes(sizeBytes, workers);
  const chunks: Chunk[] = [];
  for (let offset = 0; offset < sizeBytes; offset += step) {
    chunks.push({ offset, length: Math.min(step, sizeBytes - offset) });
  }
  return chunks;
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Invalid ${name} '${value}': expected a whole number of at least ${min}`);
  }
}

/**
 * Plans a batch: checks every mapping, walks directories, decides per file
 * whether it is copied whole, in chunks, renamed, skipped or failed, and
 * splits large files into chunks. Reads only; writes nothing.
 *
 * Requires `--allow-read` on the sources and destinations.
 *
 * @param mappings The `{src, dst}` pairs.
 * @param options Operation, policy for existing files and chunking.
 * @returns The plan.
 * @throws {InputError} When a mapping is unusable: missing source, source and
 * destination the same, destination inside the source, two mappings writing
 * the same path, a file onto a directory or the other way round.
 *
 * @example A dry run
 * ```ts
 * import { planTransfer } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/frame.0001.exr`, "pixels");
 * const plan = await planTransfer([{ src, dst: `${src}-copy` }]);
 * console.log(plan.files.length, plan.bytesTotal); // 1 6
 * await Deno.remove(src, { recursive: true });
 * ```
 */
export async function planTransfer(
  mappings: readonly Mapping[],
  options: PlanOptions = {},
): Promise<TransferPlan> {
  const { operation = "copy", existing = "error" } = options;
  const chunkOptions: PlanChunksOptions = {
    cutoffBytes: options.cutoffBytes ?? DEFAULT_CUTOFF_BYTES,
    chunkBytes: options.chunkBytes ?? 0,
    workers: options.workers ?? DEFAULT_MAX_WORKERS,
  };
  planChunks(0, chunkOptions); // validates the numbers before any I/O
  if (mappings.length === 0) throw new InputError("No mappings given: nothing to transfer");

  // Each check is a few round trips on a network share: run them side by side.
  // Report the first bad mapping in input order, whichever check finished first.
  const checked: CheckedMapping[] = new Array(mappings.length);
  const errors: unknown[] = new Array(mappings.length);
  await forEachLimit(mappings, STAT_CONCURRENCY, async (mapping, index) => {
    try {
      checked[index] = await checkMapping(mapping, index, operation);
    } catch (error) {
      errors[index] = error;
    }
  });
  const firstError = errors.find((e) => e !== undefined);
  if (firstError !== undefined) throw firstError;
  checkNesting(checked);
  checkOverlaps(checked, operation);

  const plan: TransferPlan = {
    operation,
    dirs: [],
    files: [],
    bytesTotal: 0,
    chunksTotal: 0,
    bytesToCopy: 0,
    strayTemps: [],
  };
  for (const mapping of checked) {
    if (mapping.info.isDirectory) {
      const rename = mapping.sameFs && mapping.dstInfo === null && operation === "move";
      await walkDirectory(mapping, plan, rename);
    } else if (mapping.info.isSymlink) {
      const linkTarget = await Deno.readLink(mapping.src);
      const task = fileTask(mapping.index, mapping.src, mapping.dst, mapping.info);
      plan.files.push({ ...task, action: "symlink", linkTarget });
    } else {
      plan.files.push(fileTask(mapping.index, mapping.src, mapping.dst, mapping.info));
    }
  }
  if (destinationsNest(checked)) checkDuplicates(plan, mappings);
  await applyExisting(plan, existing, checked, operation);

  const sameFs = new Set(checked.filter((m) => m.sameFs).map((m) => m.index));
  for (const file of plan.files) {
    plan.bytesTotal += file.size;
    if (file.action !== "copy" && file.action !== "compare") continue;
    if (file.action === "copy" && operation === "move" && sameFs.has(file.mapping)) {
      file.action = "rename";
      continue;
    }
    file.chunks = planChunks(file.size, chunkOptions);
    plan.chunksTotal += file.chunks.length;
    plan.bytesToCopy += file.size;
  }
  return plan;
}

interface CheckedMapping {
  index: number;
  src: string;
  dst: string;
  /** `src` with every symbolic link resolved. */
  srcReal: string;
  /** `dst` with the symbolic links of its existing part resolved. */
  dstReal: string;
  info: Deno.FileInfo;
  dstInfo: Deno.FileInfo | null;
  sameFs: boolean;
}

async function checkMapping(
  mapping: Mapping,
  index: number,
  operation: "copy" | "move",
): Promise<CheckedMapping> {
  const where = `Mapping ${index}`;
  if (typeof mapping?.src !== "string" || mapping.src === "") {
    throw new InputError(`${where}: 'src' must be a non-empty path`, { index });
  }
  if (typeof mapping.dst !== "string" || mapping.dst === "") {
    throw new InputError(`${where}: 'dst' must be a non-empty path`, { index, path: mapping.src });
  }
  const src = resolve(mapping.src);
  const dst = resolve(mapping.dst);
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
  // read or written; any other link is followed.
  const srcReal = operation === "move" && info.isSymlink
    ? join(await realPathOfMissing(dirname(src)), basename(src))
    : await Deno.realPath(src).catch(() => src);
  const dstReal = dstInfo?.isSymlink
    ? join(await realPathOfMissing(dirname(dst)), basename(dst))
    : await realPathOfMissing(dst);
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
  let sameFs = false;
  if (operation === "move") {
    const anchor = await nearestExisting(dirname(dst));
    sameFs = anchor !== null && anchor.dev === info.dev;
  }
  return { index, src, dst, srcReal, dstReal, info, dstInfo, sameFs };
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

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep);
}

function checkNesting(mappings: readonly CheckedMapping[]): void {
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

/** The ancestors of an absolute path and the path itself, innermost first. */
function* selfAndAncestors(path: string): Generator<string> {
  for (let at = path;; at = dirname(at)) {
    yield at;
    if (at === dirname(at)) return;
  }
}

/**
 * Refuses a batch in which one path is both read and written: a destination
 * that is, or is inside, another mapping's source, a source inside a
 * destination (its own, too: the copy would write into the tree it reads),
 * for a move sources inside one another, and two paths that are one file
 * (the same device and inode: hard links, bind mounts). Paths are compared
 * with symbolic links resolved. Costs a look-up per path and ancestor, not
 * per pair of mappings.
 */
function checkOverlaps(mappings: readonly CheckedMapping[], operation: "copy" | "move"): void {
  const sources = new Map<string, CheckedMapping>();
  const destinations = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    if (!sources.has(m.srcReal)) sources.set(m.srcReal, m);
    if (!destinations.has(m.dstReal)) destinations.set(m.dstReal, m);
  }
  const refuse = (m: CheckedMapping, message: string, path: string): never => {
    throw new InputError(`Mapping ${m.index}: ${message}`, { index: m.index, path });
  };
  for (const m of mappings) {
    const twin = sources.get(m.srcReal);
    if (operation === "move" && twin !== undefined && twin !== m) {
      refuse(
        m,
        `source '${m.src}' is also the source of mapping ${twin.index}: a move can take it only once`,
        m.src,
      );
    }
    for (const at of selfAndAncestors(m.dstReal)) {
      const other = sources.get(at);
      if (other === undefined || other === m) continue;
      refuse(
        m,
        `destination '${m.dst}' ${
          at === m.dstReal ? "is" : "is inside"
        } the source of mapping ${other.index} ('${other.src}'): ferry would write what it reads`,
        m.dst,
      );
    }
    for (const at of selfAndAncestors(m.srcReal)) {
      if (at === m.srcReal) continue;
      const other = destinations.get(at);
      if (other !== undefined) {
        const whose = other === m
          ? "its own destination"
          : `the destination of mapping ${other.index}`;
        refuse(
          m,
          `source '${m.src}' is inside ${whose} ('${other.dst}'): ferry would write into the tree it reads`,
          m.src,
        );
      }
      const outer = operation === "move" ? sources.get(at) : undefined;
      if (outer !== undefined && outer !== m) {
        refuse(
          m,
          `source '${m.src}' is inside the source of mapping ${outer.index} ('${outer.src}'), which is moved too`,
          m.src,
        );
      }
    }
  }
  // One file under two names: hard links, or the same folder through a bind mount.
  const identity = (info: Deno.FileInfo): string | null =>
    info.ino === null || info.ino === 0 ? null : `${info.dev}:${info.ino}`;
  const read = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    const id = identity(m.info);
    if (id !== null && !read.has(id)) read.set(id, m);
  }
  const written = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    if (m.dstInfo === null) continue;
    const id = identity(m.dstInfo);
    if (id === null) continue;
    const source = read.get(id);
    if (source !== undefined) {
      const whose = source === m ? "its source" : `the source of mapping ${source.index}`;
      refuse(
        m,
        `destination '${m.dst}' is the same file as ${whose} ('${source.src}', hard links to one file)`,
        m.dst,
      );
    }
    const twin = written.get(id);
    if (twin !== undefined) {
      refuse(
        m,
        `destination '${m.dst}' is the same file as the destination of mapping ${twin.index} ('${twin.dst}')`,
        m.dst,
      );
    }
    written.set(id, m);
  }
}

/** Whether a file has holes: fewer 512-byte blocks allocated than its size needs, by 1 MiB or more. */
function isSparse(info: Deno.FileInfo): boolean {
  return info.isFile && info.blocks !== null && info.blocks * 512 + MIB <= info.size;
}

function fileTask(mapping: number, src: string, dst: string, info: Deno.FileInfo): FileTask {
  return {
    mapping,
    src,
    dst,
    size: info.isFile ? info.size : 0,
    mode: (info.mode ?? 0o644) & 0o7777,
    mtime: info.mtime,
    atime: info.atime,
    uid: info.uid,
    gid: info.gid,
    dev: info.dev,
    chunks: [],
    action: info.isFile ? "copy" : "fail",
    ...(info.isFile
      ? {}
      : { reason: "not a regular file, directory or symbolic link", code: "not-regular" as const }),
    ...(isSparse(info) ? { sparse: true } : {}),
  };
}

async function walkDirectory(
  mapping: CheckedMapping,
  plan: TransferPlan,
  rename: boolean,
): Promise<void> {
  const root: DirTask = {
    mapping: mapping.index,
    src: mapping.src,
    dst: mapping.dst,
    mode: (mapping.info.mode ?? 0o755) & 0o7777,
    mtime: mapping.info.mtime,
    uid: mapping.info.uid,
    gid: mapping.info.gid,
    rename,
  };
  plan.dirs.push(root);
  const pending: DirTask[] = [root];
  while (pending.length > 0) {
    const dir = pending.shift()!;
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const entry of Deno.readDir(dir.src)) entries.push(entry);
    } catch (error) {
      if (dir === root) {
        throw new InputError(
          `Mapping ${mapping.index}: cannot list the source directory '${dir.src}': ${
            describeError(error)
          }`,
          { index: mapping.index, path: dir.src, cause: error },
        );
      }
      // One unreadable folder inside the tree fails itself; the rest is copied.
      // (A tree moved by one rename takes it along, listed or not.)
      if (!rename) {
        plan.dirs.splice(plan.dirs.indexOf(dir), 1);
        const reason = `cannot list the source folder: ${describeError(error)}`;
        plan.files.push(failedTask(mapping.index, dir.src, dir.dst, reason, failureCodeOf(error)));
      }
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Deno sees a name that is not UTF-8 with U+FFFD in place of the bad
    // bytes: two such entries read as one name, and a lone one cannot be opened.
    const twins = new Set(
      entries.filter((e, i) => entries[i + 1]?.name === e.name).map((e) => e.name),
    );
    const tasks: (FileTask | DirTask | undefined)[] = new Array(entries.length);
    await forEachLimit(entries, STAT_CONCURRENCY, async (entry, i) => {
      const src = join(dir.src, entry.name);
      const dst = join(dir.dst, entry.name);
      if (twins.has(entry.name)) {
        tasks[i] = failedTask(mapping.index, src, dst, NOT_UTF8, "bad-name");
        return;
      }
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(src);
      } catch (error) {
        const badName = entry.name.includes("\uFFFD") && error instanceof Deno.errors.NotFound;
        tasks[i] = badName
          ? failedTask(mapping.index, src, dst, NOT_UTF8, "bad-name")
          : failedTask(mapping.index, src, dst, describeError(error), failureCodeOf(error));
        return;
      }
      if (info.isDirectory) {
        tasks[i] = {
          mapping: mapping.index,
          src,
          dst,
          mode: (info.mode ?? 0o755) & 0o7777,
          mtime: info.mtime,
          uid: info.uid,
          gid: info.gid,
          rename: false,
        };
      } else if (info.isSymlink) {
        try {
          const linkTarget = await Deno.readLink(src);
          tasks[i] = { ...fileTask(mapping.index, src, dst, info), action: "symlink", linkTarget };
        } catch (error) {
          tasks[i] = failedTask(
            mapping.index,
            src,
            dst,
            describeError(error),
            failureCodeOf(error),
          );
        }
      } else {
        tasks[i] = fileTask(mapping.index, src, dst, info);
      }
    });
    for (const task of tasks) {
      if (task === undefined) continue;
      if ("action" in task) {
        if (rename) task.action = "in-dir-rename";
        plan.files.push(task);
      } else {
        plan.dirs.push(task);
        pending.push(task);
      }
    }
  }
}

/** Why a file whose name is not valid UTF-8 fails. */
const NOT_UTF8 = "its name is not valid UTF-8 (shown with \uFFFD), which ferry cannot address; " +
  "rename it to copy it";

function failedTask(
  mapping: number,
  src: string,
  dst: string,
  reason: string,
  code: FailureCode,
): FileTask {
  return {
    mapping,
    src,
    dst,
    size: 0,
    mode: 0o644,
    mtime: null,
    atime: null,
    uid: null,
    gid: null,
    dev: 0,
    chunks: [],
    action: "fail",
    reason,
    code,
  };
}

/**
 * Whether a mapping's destination lies inside another's. Only then can two
 * planned files share a destination (equal destinations were rejected), so
 * only then is every file's destination checked against every other's.
 */
function destinationsNest(mappings: readonly CheckedMapping[]): boolean {
  const roots = new Set(mappings.map((m) => m.dst));
  return mappings.some((m) => selfAndAncestors(dirname(m.dst)).some((at) => roots.has(at)));
}

function checkDuplicates(plan: TransferPlan, mappings: readonly Mapping[]): void {
  const owners = new Map<string, { mapping: number; dir: boolean }>();
  for (const dir of plan.dirs) owners.set(dir.dst, { mapping: dir.mapping, dir: true });
  for (const file of plan.files) {
    const other = owners.get(file.dst);
    if (other !== undefined) {
      const what = other.dir ? "a directory of" : "also written by";
      throw new InputError(
        `Mapping ${file.mapping} ('${
          mappings[file.mapping]?.src
        }'): destination '${file.dst}' is ${what} mapping ${other.mapping}`,
        { index: file.mapping, path: file.dst },
      );
    }
    owners.set(file.dst, { mapping: file.mapping, dir: false });
  }
}

/** Looks at what already exists at the destinations, one readDir per destination directory. */
async function applyExisting(
  plan: TransferPlan,
  policy: ExistingPolicy,
  mappings: readonly CheckedMapping[],
  operation: "copy" | "move",
): Promise<void> {
  const missingRoots = new Set(
    mappings.filter((m) => m.info.isDirectory && m.dstInfo === null).map((m) => m.dst),
  );
  // What is at a destination: a directory listing's entry, or a full lstat
  // (which the "update" policy can compare without looking again).
  type Existing = Deno.DirEntry | Deno.FileInfo;
  // A file mapping's destination was looked at when the mapping was checked.
  const known = new Map<string, Existing | undefined>();
  for (const m of mappings) if (!m.info.isDirectory) known.set(m.dst, m.dstInfo ?? undefined);
  const parents = new Map<string, Map<string, Existing> | null>();
  const inMissingRoot = new Set<string>(); // parents that cannot exist yet: nothing to look at
  for (const file of plan.files) {
    if (file.action === "in-dir-rename" || known.has(file.dst)) continue;
    const parent = dirname(file.dst);
    if (parents.has(parent) || inMissingRoot.has(parent)) continue;
    if ([...missingRoots].some((r) => parent === r || isInside(parent, r))) {
      inMissingRoot.add(parent);
    } else {
      parents.set(parent, null);
    }
  }
  await forEachLimit([...parents.keys()], STAT_CONCURRENCY, async (parent) => {
    const names = new Map<string, Existing>();
    try {
      for await (const entry of Deno.readDir(parent)) {
        names.set(entry.name, entry);
        if (isStray(entry)) plan.strayTemps.push(join(parent, entry.name));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return; // unlistable: look file by file below
    }
    parents.set(parent, names);
  });
  // Folders of file mappings were not listed: look at them for stray temporaries only.
  const scanOnly = [...new Set([...known.keys()].map((dst) => dirname(dst)))]
    .filter((dir) => !parents.has(dir));
  await forEachLimit(scanOnly, STAT_CONCURRENCY, async (dir) => {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (isStray(entry)) plan.strayTemps.push(join(dir, entry.name));
      }
    } catch {
      // not there yet, or not listable: nothing to clean up there
    }
  });
  const unlisted = plan.files.filter((f) =>
    !known.has(f.dst) && parents.get(dirname(f.dst)) === null
  );
  await forEachLimit(unlisted, STAT_CONCURRENCY, async (file) => {
    const parent = dirname(file.dst);
    try {
      const info = await Deno.lstat(file.dst);
      let names = parents.get(parent);
      if (!names) parents.set(parent, names = new Map());
      names.set(basename(file.dst), info);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  });
  const toCompare: { file: FileTask; entry: Existing }[] = [];
  for (const file of plan.files) {
    const entry = known.has(file.dst)
      ? known.get(file.dst)
      : parents.get(dirname(file.dst))?.get(basename(file.dst));
    if (entry === undefined || file.action === "fail") continue;
    if (entry.isDirectory) {
      file.action = "fail";
      file.reason = "the destination is a directory";
      file.code = "is-directory";
    } else if (policy === "checksum" && file.action === "copy") {
      // The bytes decide, at run time (a move whose bytes match only removes its source).
      file.action = "compare";
    } else if (file.action === "copy" || file.action === "symlink") {
      toCompare.push({ file, entry });
    }
  }
  // Size and time of each existing destination, looked at once more where
  // only a directory listing saw it.
  await forEachLimit(toCompare, STAT_CONCURRENCY, async ({ file, entry }) => {
    const info = "size" in entry ? entry : await Deno.lstat(file.dst).catch(() => null);
    const dstMs = info?.mtime?.getTime();
    const srcMs = file.mtime?.getTime();
    const same = file.action === "symlink"
      ? info?.isSymlink === true &&
        await Deno.readLink(file.dst).then((t) => t === file.linkTarget, () => false)
      : info?.isFile === true && info.size === file.size && srcMs !== undefined &&
        dstMs === srcMs;
    if (same) {
      if (operation === "move") {
        // ferry's complete copy of the source: an earlier move published it
        // and stopped before removing the source.
        file.action = "finish-move";
        file.reason = "an earlier run had copied it; the source is removed";
      } else {
        file.action = "skip";
        file.reason = "already there (the same size and modification time)";
      }
    } else if (policy === "skip") {
      file.action = "skip";
      file.reason = "the destination exists";
    } else if (policy === "update" && dstMs !== undefined && srcMs !== undefined && dstMs > srcMs) {
      // rsync -u: a newer destination stays; one as old as the source is replaced when it differs.
      file.action = "skip";
      file.reason = "the destination is newer than the source";
    } else if (policy === "error") {
      file.action = "fail";
      file.reason = DIFFERS_REASON;
      file.code = "differs";
    }
  });
}
