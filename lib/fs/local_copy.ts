/**
 * A small file's whole copy between local file systems in the fewest system
 * calls, through libc: open the source, create the temporary (`O_EXCL`),
 * copy the bytes in the kernel (`copy_file_range`, read/write where the pair
 * of file systems refuses it), check the source did not change (`statx` on
 * the open source), give the copy the source's owner, mode and times on its
 * descriptor, and publish it with one `renameat2(RENAME_NOREPLACE)`, which
 * fails atomically where something appeared under the final name.
 *
 * That is nine calls per file where Deno's file API makes twenty (its
 * `copyFile` opens and stats each side twice, and a path-based stat, chmod,
 * utime, link and unlink follow): on a tree of empty files the calls are
 * nearly all the time a copy takes. Used for the same files as the
 * synchronous calls of `file_ops.ts`, where FFI is granted.
 *
 * @module
 */

import {
  AT_FDCWD,
  ErrnoError,
  loadLibc,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_WRONLY,
  RENAME_NOREPLACE,
} from "./libc.ts";
import { alignedBytes } from "./aligned_bytes.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  copy_file_range: {
    parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
    result: "isize",
  },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  fsync: { parameters: ["i32"], result: "i32" },
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const O_NOFOLLOW = 0o400000;
const AT_EMPTY_PATH = 0x1000;
const STATX_MTIME = 0x40;
const STATX_SIZE = 0x200;
const EINTR = 4;
const EEXIST = 17;
/** `struct statx` is 256 bytes; `stx_size` at 40, `stx_mtime` (sec, nsec) at 112. */
const STATX_BYTES = 256;
/** Longest path `open` takes (PATH_MAX), plus its NUL. */
const PATH_BYTES = 4096 * 3 + 1;
/** The read/write buffer where copy_file_range is refused. */
const BUFFER_BYTES = 256 * 1024;

/** What the copy of one small file needs to know of its source. */
export interface LocalCopyRequest {
  /** The source file. */
  src: string;
  /** The temporary to create (it must not exist). */
  tmp: string;
  /** The size planned: the copy must have exactly this many bytes. */
  size: number;
  /** The source's mtime planned (ms), or `null` when unknown; also the copy's mtime. */
  mtimeMs: number | null;
  /** The copy's atime (ms), or `null` for its mtime. */
  atimeMs: number | null;
  /** The source's permission bits. */
  mode: number;
  /** Owner to give the copy (root only; refused silently otherwise), or `null`. */
  owner: { uid: number; gid: number } | null;
  /** Flush the copy to storage before it is closed. */
  fsync: boolean;
}

/**
 * How {@linkcode LocalCopy.publish} went: `"exists"` when the final name
 * appeared meanwhile, `"unsupported"` where the file system cannot rename
 * without replacing.
 */
export type LocalPublishOutcome = "published" | "exists" | "unsupported";

/**
 * libc's calls for a small file's copy and publish, on one thread.
 * Requires `--allow-ffi` and Linux.
 *
 * @example Copying and publishing a small file
 * ```ts
 * import { LocalCopy } from "./local_copy.ts";
 *
 * const local = LocalCopy.open();
 * if (local) {
 *   const dir = await Deno.makeTempDir();
 *   await Deno.writeTextFile(`${dir}/a`, "frame");
 *   const { size, mtime, mode } = await Deno.stat(`${dir}/a`);
 *   local.copy({
 *     src: `${dir}/a`, tmp: `${dir}/.a.tmp`, size, mtimeMs: mtime!.getTime(),
 *     atimeMs: null, mode: mode! & 0o7777, owner: null, fsync: false,
 *   });
 *   console.log(local.publish(`${dir}/.a.tmp`, `${dir}/b`, false)); // "published"
 *   local.close();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class LocalCopy {
  #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  #encoder = new TextEncoder();
  #from = new Uint8Array(PATH_BYTES);
  #to = new Uint8Array(PATH_BYTES);
  #statx = new Uint8Array(STATX_BYTES);
  #statxView = new DataView(this.#statx.buffer);
  #times = new BigInt64Array(4);
  #empty = new Uint8Array(1);
  #buffer: Uint8Array | undefined;

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.#lib = lib;
  }

  /**
   * Loads libc.
   *
   * @returns The binding, or `null` where libc (or `renameat2`, glibc 2.28+)
   * cannot be loaded, FFI is not allowed, or reading or writing is granted
   * only for some paths (native calls are not bound by Deno's scopes, so
   * they are used only where Deno's file API could do the same).
   */
  static open(): LocalCopy | null {
    if (!unscoped("read") || !unscoped("write")) return null;
    const lib = loadLibc(SYMBOLS);
    return lib === null ? null : new LocalCopy(lib);
  }

  /**
   * Copies a small file into a new temporary with the source's mode, times
   * (and owner, where asked), and checks that it has the planned size and
   * that the source did not change meanwhile. The temporary is left for the
   * caller to remove when this throws.
   *
   * @param request The source, the temporary and what the plan knows.
   * @throws {ErrnoError} When a call fails; its `path` says which side.
   * @throws {Error} With `failure: "source-changed"` when the source's size
   * or mtime is not the plan's after the copy.
   */
  copy(request: LocalCopyRequest): void {
    const { src, tmp } = request;
    const symbols = this.#lib.symbols;
    const fdIn = symbols.open(this.#path(this.#from, src), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fdIn < 0) throw this.#error("open", src);
    try {
      const flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
      const fdOut = symbols.open(this.#path(this.#to, tmp), flags, 0o600);
      if (fdOut < 0) throw this.#error("open", tmp);
      try {
        const copied = this.#bytes(fdIn, fdOut, request);
        this.#checkSource(fdIn, request, copied);
        this.#finish(fdOut, request);
      } finally {
        symbols.close(fdOut);
      }
    } finally {
      symbols.close(fdIn);
    }
  }

  /**
   * Gives a finished temporary its final name: one `renameat2`, with
   * `RENAME_NOREPLACE` unless overwriting.
   *
   * @param tmp The temporary.
   * @param dst The final name.
   * @param overwrite Whether what is at `dst` is replaced.
   * @returns `"exists"` when `dst` appeared meanwhile (the temporary is still
   * there), `"unsupported"` where the file system cannot rename without
   * replacing (the caller publishes another way).
   * @throws {ErrnoError} When the rename fails otherwise.
   */
  publish(tmp: string, dst: string, overwrite: boolean): LocalPublishOutcome {
    const result = this.#lib.symbols.renameat2(
      AT_FDCWD,
      this.#path(this.#from, tmp),
      AT_FDCWD,
      this.#path(this.#to, dst),
      overwrite ? 0 : RENAME_NOREPLACE,
    );
    if (result === 0) return "published";
    const errno = this.#errno();
    if (errno === EEXIST) return "exists";
    const error = new ErrnoError("rename", errno, dst);
    if (!overwrite && (error.code === "EINVAL" || error.code === "ENOSYS")) return "unsupported";
    throw error;
  }

  /** Unloads libc. */
  close(): void {
    this.#lib.close();
  }

  /** The bytes: copy_file_range, and read/write where it is refused. */
  #bytes(fdIn: number, fdOut: number, { src, tmp, size }: LocalCopyRequest): number {
    let copied = 0;
    while (copied < size) {
      const n = Number(
        this.#lib.symbols.copy_file_range(fdIn, null, fdOut, null, BigInt(size - copied), 0),
      );
      if (n === 0) return copied; // the source is shorter than planned
      if (n > 0) {
        copied += n;
        continue;
      }
      const error = new ErrnoError("copy_file_range", this.#errno(), tmp);
      if (error.code === "EINTR") continue;
      if (error.code === "ENOSPC" || error.code === "EDQUOT") throw error;
      // Refused (other file systems) or failing: read/write goes on and its
      // own calls tell which side and why. errno is read by a second FFI call
      // after the first returned, so any code but a full destination may not
      // be this call's (the copy worker decides the same way).
      return copied + this.#readWrite(fdIn, fdOut, copied, size, src, tmp);
    }
    return copied;
  }

  /** The rest of the bytes from `from` on, through a buffer. */
  #readWrite(
    fdIn: number,
    fdOut: number,
    from: number,
    size: number,
    src: string,
    tmp: string,
  ): number {
    const buffer = this.#buffer ??= alignedBytes(BUFFER_BYTES);
    const symbols = this.#lib.symbols;
    let at = from;
    while (at < size) {
      const read = Number(symbols.pread(fdIn, buffer, BigInt(buffer.length), BigInt(at)));
      if (read < 0 && this.#errno() === EINTR) continue;
      if (read < 0) throw this.#error("read", src);
      if (read === 0) break;
      let written = 0;
      while (written < read) {
        const part = buffer.subarray(written, read);
        const n = Number(symbols.pwrite(fdOut, part, BigInt(part.length), BigInt(at + written)));
        if (n < 0 && this.#errno() === EINTR) continue;
        if (n < 0) throw this.#error("write", tmp);
        written += n;
      }
      at += read;
    }
    return at - from;
  }

  /** The size copied and the source's size and mtime now against the plan's. */
  #checkSource(fdIn: number, request: LocalCopyRequest, copied: number): void {
    const result = this.#lib.symbols.statx(
      fdIn,
      this.#empty,
      AT_EMPTY_PATH,
      STATX_SIZE | STATX_MTIME,
      this.#statx,
    );
    if (result !== 0) throw this.#error("stat", request.src);
    const view = this.#statxView;
    const size = Number(view.getBigUint64(40, true));
    const mtimeMs = Number(view.getBigInt64(112, true)) * 1000 +
      Math.floor(view.getUint32(120, true) / 1e6);
    const planned = request.mtimeMs;
    if (size !== request.size || (planned !== null && mtimeMs !== planned)) {
      throw Object.assign(new Error("the source changed during the copy"), {
        failure: "source-changed",
      });
    }
    if (copied !== request.size) {
      throw new Error(`size check failed: expected ${request.size} bytes, the copy has ${copied}`);
    }
  }

  /** Owner (before the mode: chown clears setuid bits), mode, times, flush. */
  #finish(fdOut: number, request: LocalCopyRequest): void {
    const symbols = this.#lib.symbols;
    if (request.owner !== null) symbols.fchown(fdOut, request.owner.uid, request.owner.gid);
    if (symbols.fchmod(fdOut, request.mode & 0o7777) !== 0) throw this.#error("chmod", request.tmp);
    if (request.mtimeMs !== null) {
      setTimespec(this.#times, 0, request.atimeMs ?? request.mtimeMs);
      setTimespec(this.#times, 2, request.mtimeMs);
      if (symbols.futimens(fdOut, this.#times) !== 0) throw this.#error("utime", request.tmp);
    }
    if (request.fsync && symbols.fsync(fdOut) !== 0) throw this.#error("fsync", request.tmp);
  }

  /** `path` as a NUL-terminated C string in `into`. */
  #path(into: Uint8Array, path: string): Uint8Array {
    const { read, written } = this.#encoder.encodeInto(path, into);
    if (read < path.length || written === into.length) throw new ErrnoError("open", 36, path);
    into[written] = 0;
    return into;
  }

  #error(call: string, path: string): ErrnoError {
    return new ErrnoError(call, this.#errno(), path);
  }

  #errno(): number {
    const pointer = this.#lib.symbols.__errno_location();
    return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getInt32();
  }
}

/** Whether a permission is granted for every path. */
function unscoped(name: "read" | "write"): boolean {
  return Deno.permissions.querySync({ name }).state === "granted";
}

/** Milliseconds as a `struct timespec` at `index` (seconds, nanoseconds). */
function setTimespec(into: BigInt64Array, index: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  into[index] = BigInt(seconds);
  into[index + 1] = BigInt(Math.round((ms - seconds * 1000) * 1e6));
}
