/**
 * libc through Deno's FFI: loading it where FFI is granted, and its errors
 * (errno as a name, like Deno's own errors, and the path the call was on).
 * Copy offload (`offload.ts`) and the small-file calls (`local_copy.ts`)
 * bind it.
 *
 * FFI widens the sandbox: native code is not bound by `--allow-read` or
 * `--allow-write` scopes.
 *
 * @module
 */

/** errno names by number (Linux). */
export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  31: "EMLINK",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  95: "EOPNOTSUPP",
  110: "ETIMEDOUT",
  116: "ESTALE",
  122: "EDQUOT",
};

/** An error from a libc call, with the errno name as `code` (like Deno's own errors). */
export class ErrnoError extends Error {
  /** The errno name, e.g. `"EXDEV"`. */
  readonly code: string;
  /** The path the call was working on, where one is known. */
  readonly path: string | undefined;
  /** The libc function that failed. */
  readonly call: string;
  /** The errno value. */
  readonly errno: number;

  /**
   * Creates an errno error.
   *
   * @param call The libc function that failed.
   * @param errno The errno value.
   * @param path The path the call was working on.
   */
  constructor(call: string, errno: number, path?: string) {
    const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${call} failed: ${code}`);
    this.name = "ErrnoError";
    this.code = code;
    this.path = path;
    this.call = call;
    this.errno = errno;
  }
}

/**
 * Whether libc can be called in this process: Linux, with `--allow-ffi`
 * granted. Copy offload and the small-file calls need it.
 *
 * @returns `true` when {@linkcode loadLibc} may succeed.
 *
 * @example
 * ```ts
 * import { libcAvailable } from "./libc.ts";
 *
 * console.log(libcAvailable() ? "copy_file_range" : "read/write");
 * ```
 */
export function libcAvailable(): boolean {
  return Deno.build.os === "linux" &&
    Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}

/**
 * libc with these symbols, or `null` where it cannot be loaded or FFI is not allowed.
 *
 * @param symbols The functions to bind.
 * @returns The library, or `null`.
 *
 * @example
 * ```ts
 * import { loadLibc } from "./libc.ts";
 *
 * const libc = loadLibc({ getpid: { parameters: [], result: "i32" } });
 * console.log(libc === null || libc.symbols.getpid() === Deno.pid); // true
 * libc?.close();
 * ```
 */
export function loadLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S> | null {
  if (!libcAvailable()) return null;
  try {
    return Deno.dlopen("libc.so.6", symbols);
  } catch {
    return null;
  }
}

/**
 * {@linkcode loadLibc} made at the first call and kept for the process, for
 * modules that call libc now and then and never close it. Where libc cannot
 * be loaded, that too is found once (`null` every call after).
 *
 * @param symbols The functions to bind.
 * @returns A function giving the library, or `null`.
 *
 * @example
 * ```ts
 * import { libcOnce } from "./libc.ts";
 *
 * const libc = libcOnce({ getpid: { parameters: [], result: "i32" } });
 * console.log(libc() === null || libc()!.symbols.getpid() === Deno.pid); // true
 * ```
 */
export function libcOnce<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S> | null {
  let loaded: Deno.DynamicLibrary<S> | null | undefined;
  return () => loaded === undefined ? loaded = loadLibc(symbols) : loaded;
}

/** `open` flags (Linux). */
export const O_RDONLY = 0;
/** `open` flags (Linux). */
export const O_WRONLY = 1;
/** `open` flags (Linux): the descriptor does not leak into child processes. */
export const O_CLOEXEC = 0o2000000;
/** `open` flags (Linux): create the file. */
export const O_CREAT = 0o100;
/** `open` flags (Linux): with `O_CREAT`, fail (EEXIST) where the name exists, a link too. */
export const O_EXCL = 0o200;
/** The `*at` calls' "relative to the current folder". */
export const AT_FDCWD = -100;
/** `renameat2`: fail with EEXIST rather than replace the destination. */
export const RENAME_NOREPLACE = 1;

/**
 * A path as a C string (UTF-8, NUL-terminated), for a `"buffer"` parameter.
 *
 * @param path The path.
 * @returns Its bytes and a trailing 0.
 *
 * @example
 * ```ts
 * import { cString } from "./libc.ts";
 *
 * console.log(cString("/a").length); // 3
 * ```
 */
export function cString(path: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(path + "\0");
}

/**
 * `open`'s arguments: the path as a C string, and the flags (read or write,
 * close-on-exec; no truncate), for an existing file or, with a `create`
 * mode, a new one (`O_EXCL`: a name that exists fails with EEXIST).
 *
 * @param path The file.
 * @param write `true` to open it for writing.
 * @param create The mode to create it with (with `write`), or `undefined` to open an existing file.
 * @returns The arguments, to spread into `open`.
 */
export function openArgs(
  path: string,
  write: boolean,
  create?: number,
): [Uint8Array<ArrayBuffer>, number, number] {
  const flags = (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC;
  return create !== undefined
    ? [cString(path), flags | O_CREAT | O_EXCL, create]
    : [cString(path), flags, 0];
}
