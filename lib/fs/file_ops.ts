/**
 * The file operations of one small file's transfer, in two forms: Deno's
 * asynchronous calls (each a round trip through Deno's blocking thread
 * pool, so that many files are in flight on a share where every call waits
 * for the network), and the same calls made synchronously, for small files
 * between local file systems, where a call takes microseconds and the round
 * trip through the pool costs more than the call itself.
 *
 * @module
 */

import { type FileSystemStats, statFileSystem } from "./statfs.ts";
import { OnceCache } from "../once_cache.ts";

/** The operations a small file's copy, check and publish make. */
export interface FileOps {
  /** `Deno.copyFile`. */
  copyFile(from: string, to: string): Promise<void>;
  /** `Deno.stat`. */
  stat(path: string): Promise<Deno.FileInfo>;
  /** `Deno.lstat`. */
  lstat(path: string): Promise<Deno.FileInfo>;
  /** `Deno.chmod`. */
  chmod(path: string, mode: number): Promise<void>;
  /** `Deno.utime`. */
  utime(path: string, atime: Date, mtime: Date): Promise<void>;
  /** `Deno.link`. */
  link(from: string, to: string): Promise<void>;
  /** `Deno.rename`. */
  rename(from: string, to: string): Promise<void>;
  /** `Deno.remove`. */
  remove(path: string): Promise<void>;
}

/**
 * Deno's asynchronous calls: for shares, large files, and wherever the
 * file system is not known to be local.
 */
export const ASYNC_FILE_OPS: FileOps = {
  copyFile: (from, to) => Deno.copyFile(from, to),
  stat: (path) => Deno.stat(path),
  lstat: (path) => Deno.lstat(path),
  chmod: (path, mode) => Deno.chmod(path, mode),
  utime: (path, atime, mtime) => Deno.utime(path, atime, mtime),
  link: (from, to) => Deno.link(from, to),
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path),
};

/**
 * The same calls, synchronous (errors still arrive as rejected promises):
 * for small files between local file systems.
 */
export const SYNC_FILE_OPS: FileOps = {
  copyFile: (from, to) => settle(() => Deno.copyFileSync(from, to)),
  stat: (path) => settle(() => Deno.statSync(path)),
  lstat: (path) => settle(() => Deno.lstatSync(path)),
  chmod: (path, mode) => settle(() => Deno.chmodSync(path, mode)),
  utime: (path, atime, mtime) => settle(() => Deno.utimeSync(path, atime, mtime)),
  link: (from, to) => settle(() => Deno.linkSync(from, to)),
  rename: (from, to) => settle(() => Deno.renameSync(from, to)),
  remove: (path) => settle(() => Deno.removeSync(path)),
};

/**
 * The most synchronous work between two turns of the event loop: timers
 * (progress), signals (Ctrl-C) and other files' asynchronous calls run at
 * least this often, however many local files are copied in a row.
 */
export const TURN_EVERY_MS = 100;

let lastTurn = performance.now();
// The turn under way. Every caller waits for the same one: a caller that
// went on while another waited would keep the microtask queue busy, and the
// timer (and with it Ctrl-C) would not fire until the whole run had ended.
let pendingTurn: Promise<void> | undefined;

/**
 * Gives the event loop a turn when {@linkcode TURN_EVERY_MS} has passed since
 * the last one; resolves at once otherwise. Call it before synchronous calls.
 *
 * @returns A promise that resolves after the turn (or at once).
 *
 * @example
 * ```ts
 * import { SYNC_FILE_OPS, turn } from "./file_ops.ts";
 *
 * await turn();
 * console.log((await SYNC_FILE_OPS.stat(Deno.cwd())).isDirectory); // true
 * ```
 */
export function turn(): Promise<void> {
  if (pendingTurn !== undefined) return pendingTurn;
  const now = performance.now();
  if (now - lastTurn < TURN_EVERY_MS) return Promise.resolve();
  pendingTurn = new Promise((resolve) =>
    setTimeout(() => {
      pendingTurn = undefined;
      lastTurn = performance.now();
      resolve();
    }, 0)
  );
  return pendingTurn;
}

/**
 * Whether {@linkcode turn} would wait: a turn is under way or due. A caller
 * that goes on without a wait only when this is `false` never keeps the
 * event loop (timers, Ctrl-C) from its turn longer than `turn` would.
 *
 * @returns `true` when the caller should `await turn()`.
 */
export function turnDue(): boolean {
  return pendingTurn !== undefined || performance.now() - lastTurn >= TURN_EVERY_MS;
}

/** A synchronous call's value or error as a settled promise. */
function settle<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * File systems on a local device or in memory (`statfs` f_type): tmpfs,
 * ramfs, ext2/3/4, XFS, Btrfs, F2FS, bcachefs, ZFS, overlayfs. Anything else
 * (NFS, SMB, FUSE, unknown) is treated as a share.
 */
const LOCAL_TYPES = new Set([
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0xf2f52010, // f2fs
  0xca451a4e, // bcachefs
  0x2fc12fc1, // zfs
  0x794c7630, // overlayfs
]);

/**
 * Whether a folder is on a local file system (see above). `false` where it
 * cannot be told (no `--allow-sys=statfs`, not Linux, or `statfs` fails).
 *
 * @param path An existing folder.
 * @returns Whether calls there are local.
 *
 * @example
 * ```ts
 * import { isLocalFileSystem } from "./file_ops.ts";
 *
 * console.log(typeof await isLocalFileSystem(Deno.cwd())); // boolean
 * ```
 */
export async function isLocalFileSystem(path: string): Promise<boolean> {
  return (await fileSystemKind(path)) === "local";
}

/**
 * What a folder's file system is: `"local"` (see above), `"share"` (any
 * other type `statfs` names: NFS, SMB, FUSE…) or `"unknown"` (no
 * `--allow-sys=statfs`, not Linux, or `statfs` fails).
 *
 * @param path An existing folder.
 * @returns The kind.
 *
 * @example
 * ```ts
 * import { fileSystemKind } from "./file_ops.ts";
 *
 * console.log(["local", "share", "unknown"].includes(await fileSystemKind(Deno.cwd()))); // true
 * ```
 */
export async function fileSystemKind(path: string): Promise<FileSystemKind> {
  if (Deno.build.os !== "linux") return "unknown";
  return kindOfStats(await statFileSystem(path));
}

/** What kind of file system a folder is on: see {@linkcode fileSystemKind}. */
export type FileSystemKind = "local" | "share" | "unknown";

/**
 * The kind of file system `statfs` described, for a caller that asked it
 * anyway (the free-space check), so that the folder is not asked twice.
 *
 * @param stats What `statfs` said, or `null` where it could not be asked.
 * @returns The kind, as {@linkcode fileSystemKind} gives it.
 *
 * @example
 * ```ts
 * import { kindOfStats } from "./file_ops.ts";
 *
 * console.log(kindOfStats({ type: 0x01021994, blockBytes: 4096, availableBlocks: 1 })); // local
 * console.log(kindOfStats({ type: 0x65735546, blockBytes: 4096, availableBlocks: 1 })); // share
 * ```
 */
export function kindOfStats(stats: FileSystemStats | null): FileSystemKind {
  if (stats === null || Deno.build.os !== "linux") return "unknown";
  return LOCAL_TYPES.has(stats.type) ? "local" : "share";
}

/**
 * {@linkcode isLocalFileSystem} asked once per folder: the answers of one
 * batch or one hashing run, each folder's `statfs` made once however many
 * files are in it.
 *
 * @example
 * ```ts
 * import { LocalFolders } from "./file_ops.ts";
 *
 * const folders = new LocalFolders();
 * console.log(await folders.isLocal(Deno.cwd()) === await folders.isLocal(Deno.cwd())); // true
 * ```
 */
export class LocalFolders {
  #known = new OnceCache<string, FileSystemKind>();

  /**
   * Whether a folder is on a local file system (see {@linkcode isLocalFileSystem}).
   *
   * @param dir An existing folder.
   * @returns The answer, asked of the file system the first time only.
   */
  async isLocal(dir: string): Promise<boolean> {
    return (await this.#kind(dir)) === "local";
  }

  /**
   * Whether a folder is known to be on a share (see {@linkcode fileSystemKind}).
   *
   * @param dir An existing folder.
   * @returns The answer, asked of the file system the first time only.
   */
  async isShare(dir: string): Promise<boolean> {
    return (await this.#kind(dir)) === "share";
  }

  /**
   * {@linkcode LocalFolders.isLocal} without a wait, where the answer is there already.
   *
   * @param dir A folder.
   * @returns The answer, or `undefined` while the folder has not been asked about.
   */
  isLocalNow(dir: string): boolean | undefined {
    const kind = this.#known.now(dir);
    return kind === undefined ? undefined : kind === "local";
  }

  /**
   * Takes the kind of a folder's file system from a caller that asked
   * `statfs` there already; a folder asked about before keeps its answer.
   *
   * @param dir An existing folder.
   * @param kind Its file system's kind.
   */
  know(dir: string, kind: FileSystemKind): void {
    this.#known.get(dir, () => Promise.resolve(kind));
  }

  #kind(dir: string): Promise<FileSystemKind> {
    return this.#known.get(dir, () => fileSystemKind(dir));
  }
}
