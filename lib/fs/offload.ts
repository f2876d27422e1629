/**
 * Copy offload: the kernel's `copy_file_range(2)`, called through Deno's FFI,
 * copies a byte range without moving it through user space. On XFS and btrfs
 * it clones extents (reflink); on NFS 4.2, SMB3 and the testbed's `net/` it
 * asks the server to copy. Where a file-system pair cannot do it, the call
 * fails with one of {@linkcode FALLBACK_CODES} and ferry copies that range
 * with read/write instead.
 *
 * The same binding gives the workers positioned reads and writes on plain
 * file descriptors, so they can tell the kernel a source is read
 * sequentially (`posix_fadvise`, as cp does): Linux then doubles the
 * read-ahead window for that open file, which halves the read requests a
 * network share has to answer.
 *
 * Needs `--allow-ffi` and Linux. FFI widens the sandbox: native code is not
 * bound by `--allow-read`/`--allow-write` scopes (ferry still opens every
 * destination through Deno's file API first, so a missing grant fails as before).
 *
 * @module
 */

import { ErrnoError, loadLibc, openArgs } from "./libc.ts";

/** When to use copy offload. */
export type OffloadMode = "auto" | "never" | "always";

/**
 * errno codes that mean "this pair of file systems cannot offload", after
 * which ferry falls back to read/write for the rest of the batch.
 */
export const FALLBACK_CODES: ReadonlySet<string> = new Set([
  "EXDEV",
  "ENOSYS",
  "EOPNOTSUPP",
  "EINVAL",
  "EIO",
  "EBADF",
  "ETXTBSY",
  "EPERM",
]);

/**
 * Bytes per copy_file_range call. The cancel flag is checked between calls;
 * 8 MiB takes a few milliseconds in the kernel, and 1 MiB steps from several
 * workers into one file were 6x slower on the FUSE share (bench/RESULTS.md).
 */
export const DEFAULT_OFFLOAD_STEP_BYTES = 8 * 1024 * 1024;

/**
 * Bytes per copy_file_range call when source and destination share a file
 * system and the whole file goes in one range (a clone or a server-side copy
 * of 64 MiB takes milliseconds; cancel is checked between calls). On a share
 * the steps then grow and shrink with how long they take: see
 * {@linkcode nextShareStep}.
 */
export const SAME_FS_OFFLOAD_STEP_BYTES = 64 * 1024 * 1024;

/** glibc 2.41/2.42 corrupt copy_file_range calls over 2 GiB; stay far below. */
export const MAX_CALL_BYTES = 1024 * 1024 * 1024;

/**
 * How long one server-side step (a `copy_file_range` on a share that the
 * server carries out) may take: a cancel waits for the step in flight.
 */
export const SHARE_STEP_MS = 250;

/**
 * The next server-side step's size after one of `size` bytes took `tookMs`:
 * twice as large when it ended within half of {@linkcode SHARE_STEP_MS}
 * (up to {@linkcode MAX_CALL_BYTES}), half as large when it took longer
 * (down to {@linkcode SAME_FS_OFFLOAD_STEP_BYTES}), else the same. Each step
 * is a round trip to the server: SMB → SMB, 512 MiB, took 0.91× the time in
 * steps growing from 64 MiB (64, 128, 256, 64) as in steps of 64 MiB (6
 * rounds alternating). Under a bandwidth limit the steps stay at 64 MiB, so
 * that the limit's pace stays smooth.
 *
 * @param size The step just made, in bytes.
 * @param tookMs How long it took.
 * @param limited Whether a bandwidth limit is in force.
 * @returns The next step's size, in bytes.
 *
 * @example
 * ```ts
 * import { nextShareStep } from "./offload.ts";
 *
 * const MIB = 1024 * 1024;
 * console.log(nextShareStep(64 * MIB, 50, false) / MIB); // 128
 * console.log(nextShareStep(256 * MIB, 400, false) / MIB); // 128
 * console.log(nextShareStep(256 * MIB, 50, true) / MIB); // 64
 * ```
 */
export function nextShareStep(size: number, tookMs: number, limited: boolean): number {
  if (limited) return SAME_FS_OFFLOAD_STEP_BYTES;
  if (tookMs < SHARE_STEP_MS / 2) return Math.min(size * 2, MAX_CALL_BYTES);
  if (tookMs > SHARE_STEP_MS) return Math.max(size / 2, SAME_FS_OFFLOAD_STEP_BYTES);
  return size;
}

const POSIX_FADV_SEQUENTIAL = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
/** `lseek(SEEK_DATA)`: no data after the position. */
const ENXIO = 6;
const EINTR = 4;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  copy_file_range: {
    parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
    result: "isize",
  },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32" },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  fdatasync: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const ASYNC_SYMBOLS = {
  open: { ...SYMBOLS.open, nonblocking: true },
  close: { ...SYMBOLS.close, nonblocking: true },
  copy_file_range: { ...SYMBOLS.copy_file_range, nonblocking: true },
  fallocate: { ...SYMBOLS.fallocate, nonblocking: true },
} as const;

/**
 * libc's `open`, `close` and `copy_file_range` for the main thread: each call
 * runs on one of Deno's blocking threads and returns a promise, so the event
 * loop goes on meanwhile. `errno` belongs to the thread that made the call and
 * cannot be read here, so a failed call only says that it failed: the caller
 * hands what is left to a worker ({@linkcode KernelCopy}), which learns why.
 *
 * Requires `--allow-ffi`.
 *
 * @example Copying a file in the kernel without blocking
 * ```ts
 * import { KernelCopyAsync } from "./offload.ts";
 *
 * const kernel = KernelCopyAsync.open();
 * if (kernel) {
 *   const src = await Deno.makeTempFile();
 *   await Deno.writeTextFile(src, "0123456789");
 *   const dst = await Deno.makeTempFile();
 *   const fdIn = await kernel.openFile(src, false);
 *   const fdOut = await kernel.openFile(dst, true);
 *   console.log(await kernel.copyRange(fdIn, 0, fdOut, 0, 10)); // 10
 *   await kernel.closeFile(fdIn);
 *   await kernel.closeFile(fdOut);
 *   kernel.close();
 * }
 * ```
 */
export class KernelCopyAsync {
  #lib: Deno.DynamicLibrary<typeof ASYNC_SYMBOLS>;

  private constructor(lib: Deno.DynamicLibrary<typeof ASYNC_SYMBOLS>) {
    this.#lib = lib;
  }

  /**
   * Loads libc.
   *
   * @returns The binding, or `null` where libc cannot be loaded or FFI is not allowed.
   */
  static open(): KernelCopyAsync | null {
    const lib = loadLibc(ASYNC_SYMBOLS);
    return lib === null ? null : new KernelCopyAsync(lib);
  }

  /**
   * Opens an existing file.
   *
   * @param path The file.
   * @param write `true` to open it for writing (no create, no truncate).
   * @returns The file descriptor, or -1 when `open` failed.
   */
  openFile(path: string, write: boolean): Promise<number> {
    return this.#lib.symbols.open(...openArgs(path, write));
  }

  /**
   * Closes a file descriptor.
   *
   * @param fd The descriptor from {@linkcode KernelCopyAsync.openFile}.
   */
  async closeFile(fd: number): Promise<void> {
    await this.#lib.symbols.close(fd);
  }

  /**
   * Reserves a file's blocks (`fallocate`), so that a full disk shows at its
   * start rather than at its end.
   *
   * @param path An existing file.
   * @param bytes Its size.
   * @returns Whether the blocks are reserved (`false` also where the file
   * system cannot: the caller tells a full disk apart by its free space).
   */
  async allocate(path: string, bytes: number): Promise<boolean> {
    const fd = await this.openFile(path, true);
    if (fd < 0) return false;
    try {
      return (await this.#lib.symbols.fallocate(fd, 0, 0n, BigInt(bytes))) === 0;
    } finally {
      await this.closeFile(fd);
    }
  }

  /**
   * One `copy_file_range` call (at most {@linkcode MAX_CALL_BYTES}).
   *
   * @param fdIn Source descriptor.
   * @param offIn Source offset.
   * @param fdOut Destination descriptor.
   * @param offOut Destination offset.
   * @param length Bytes to copy.
   * @returns Bytes copied (0 at the end of the source), or -1 when the call failed.
   */
  async copyRange(
    fdIn: number,
    offIn: number,
    fdOut: number,
    offOut: number,
    length: number,
  ): Promise<number> {
    // Offsets of their own: several calls may be in flight at once.
    const copied = await this.#lib.symbols.copy_file_range(
      fdIn,
      new BigInt64Array([BigInt(offIn)]),
      fdOut,
      new BigInt64Array([BigInt(offOut)]),
      BigInt(Math.min(length, MAX_CALL_BYTES)),
      0,
    );
    return Math.max(-1, Number(copied));
  }

  /** Unloads libc; call it only when no call is in flight. */
  close(): void {
    this.#lib.close();
  }
}

/**
 * libc's `open`, `close` and `copy_file_range`, for one thread.
 *
 * Requires `--allow-ffi`.
 *
 * @example Copying a range in the kernel
 * ```ts
 * import { KernelCopy } from "./offload.ts";
 *
 * const kernel = KernelCopy.open();
 * if (kernel) {
 *   const src = await Deno.makeTempFile();
 *   await Deno.writeTextFile(src, "0123456789");
 *   const dst = await Deno.makeTempFile();
 *   const fdIn = kernel.openFile(src, false);
 *   const fdOut = kernel.openFile(dst, true);
 *   console.log(kernel.copyRange(fdIn, 2, fdOut, 0, 5)); // 5
 *   kernel.closeFile(fdIn);
 *   kernel.closeFile(fdOut);
 *   kernel.close();
 * }
 * ```
 */
export class KernelCopy {
  #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  #offIn = new BigInt64Array(1);
  #offOut = new BigInt64Array(1);

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.#lib = lib;
  }

  /**
   * Loads libc.
   *
   * @returns The binding, or `null` where libc cannot be loaded or FFI is not allowed.
   */
  static open(): KernelCopy | null {
    const lib = loadLibc(SYMBOLS);
    return lib === null ? null : new KernelCopy(lib);
  }

  /**
   * Opens an existing file, or with `create` a new one.
   *
   * @param path The file.
   * @param write `true` to open it for writing (no truncate).
   * @param create The mode to create it with; EEXIST where the name exists.
   * @returns The file descriptor.
   * @throws {ErrnoError} When `open` fails.
   */
  openFile(path: string, write: boolean, create?: number): number {
    const fd = this.#lib.symbols.open(...openArgs(path, write, create));
    if (fd < 0) throw new ErrnoError("open", this.#errno());
    return fd;
  }

  /**
   * Closes a file descriptor.
   *
   * @param fd The descriptor from {@linkcode KernelCopy.openFile}.
   */
  closeFile(fd: number): void {
    this.#lib.symbols.close(fd);
  }

  /**
   * Closes a file descriptor written to, and says whether that worked: on a
   * network share (NFS, SMB, a FUSE client with a write-back cache) `close`
   * is where the client sends what it still holds, so a full or failing
   * server may first answer there.
   *
   * @param fd The descriptor from {@linkcode KernelCopy.openFile}.
   * @throws {ErrnoError} When `close` fails (the descriptor is closed all the same).
   */
  closeWritten(fd: number): void {
    if (this.#lib.symbols.close(fd) < 0) throw new ErrnoError("close", this.#errno());
  }

  /**
   * Flushes a file's data to its storage (`fdatasync`).
   *
   * @param fd A descriptor open for writing.
   * @throws {ErrnoError} When `fdatasync` fails.
   */
  syncData(fd: number): void {
    if (this.#lib.symbols.fdatasync(fd) < 0) throw new ErrnoError("fdatasync", this.#errno());
  }

  /**
   * One `copy_file_range` call (at most {@linkcode MAX_CALL_BYTES}).
   *
   * @param fdIn Source descriptor.
   * @param offIn Source offset.
   * @param fdOut Destination descriptor.
   * @param offOut Destination offset.
   * @param length Bytes to copy.
   * @returns Bytes copied (0 at the end of the source).
   * @throws {ErrnoError} When the call fails.
   */
  copyRange(fdIn: number, offIn: number, fdOut: number, offOut: number, length: number): number {
    this.#offIn[0] = BigInt(offIn);
    this.#offOut[0] = BigInt(offOut);
    const n = this.#lib.symbols.copy_file_range(
      fdIn,
      this.#offIn,
      fdOut,
      this.#offOut,
      BigInt(Math.min(length, MAX_CALL_BYTES)),
      0,
    );
    const copied = Number(n);
    if (copied < 0) throw new ErrnoError("copy_file_range", this.#errno());
    return copied;
  }

  /**
   * One `pread`: reads into `into` from `position`, retrying when a signal
   * interrupts the call.
   *
   * @param fd A descriptor open for reading.
   * @param into Where the bytes go; up to its length is read.
   * @param position The file offset.
   * @returns Bytes read (0 at the end of the file).
   * @throws {ErrnoError} When the call fails.
   */
  readAt(fd: number, into: Uint8Array, position: number): number {
    return this.#retry(
      "read",
      () => this.#lib.symbols.pread(fd, into, BigInt(into.length), BigInt(position)),
    );
  }

  /**
   * One `pwrite`: writes `from` at `position`, retrying when a signal
   * interrupts the call.
   *
   * @param fd A descriptor open for writing.
   * @param from The bytes.
   * @param position The file offset.
   * @returns Bytes written (may be fewer than `from.length`).
   * @throws {ErrnoError} When the call fails.
   */
  writeAt(fd: number, from: Uint8Array, position: number): number {
    return this.#retry(
      "write",
      () => this.#lib.symbols.pwrite(fd, from, BigInt(from.length), BigInt(position)),
    );
  }

  /**
   * Tells the kernel the file will be read sequentially
   * (`POSIX_FADV_SEQUENTIAL`): Linux doubles this open file's read-ahead.
   * Only a hint, so a failure is ignored.
   *
   * @param fd A descriptor open for reading.
   */
  adviseSequential(fd: number): void {
    this.#lib.symbols.posix_fadvise(fd, 0n, 0n, POSIX_FADV_SEQUENTIAL);
  }

  /**
   * Where the next data of a file with holes starts, and where it ends
   * (`lseek` with `SEEK_DATA` and `SEEK_HOLE`, as cp finds holes).
   *
   * @param fd A descriptor open for reading.
   * @param position Where to look from.
   * @returns The data's start and end, or `null` when only a hole follows.
   */
  dataAt(fd: number, position: number): { start: number; end: number } | null {
    const start = Number(this.#lib.symbols.lseek(fd, BigInt(position), SEEK_DATA));
    if (start < 0) {
      const errno = this.#errno();
      if (errno === ENXIO) return null;
      throw new ErrnoError("lseek", errno);
    }
    const end = Number(this.#lib.symbols.lseek(fd, BigInt(start), SEEK_HOLE));
    if (end < 0) throw new ErrnoError("lseek", this.#errno());
    return { start, end };
  }

  /** Unloads libc. */
  close(): void {
    this.#lib.close();
  }

  #retry(call: string, fn: () => number | bigint): number {
    for (;;) {
      const n = Number(fn());
      if (n >= 0) return n;
      const errno = this.#errno();
      if (errno !== EINTR) throw new ErrnoError(call, errno);
    }
  }

  #errno(): number {
    const pointer = this.#lib.symbols.__errno_location();
    return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getInt32();
  }
}
