/**
 * Reading a copy back from its storage, not from memory: a copy just
 * written is in the page cache, and hashing it from there proves only that
 * the kernel's memory holds the right bytes. Before `--verify source` reads a
 * copy back, its data is flushed to storage (`fdatasync`) and its cached
 * pages are dropped (`posix_fadvise(POSIX_FADV_DONTNEED)`), so that the read
 * goes to the disk, the array or the server.
 *
 * With `--allow-ffi` (libc) both are done. Without it the copy is flushed
 * (`Deno.FsFile.syncData`) but its pages cannot be dropped: the read-back
 * may be served from memory. tmpfs has no storage behind its pages, and a
 * network client may keep its own cache (NFS keeps none after close and a
 * drop; see docs/verification.md).
 *
 * @module
 */

import { libcOnce, openArgs } from "./libc.ts";

const POSIX_FADV_DONTNEED = 4;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32", nonblocking: true },
  fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true },
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

const libc = libcOnce(SYMBOLS);

/** How a copy was readied for its read-back. */
export type ReadBack =
  /** Flushed and its cached pages dropped: the read-back comes from storage. */
  | "storage"
  /** Flushed only (no FFI): the read-back may come from memory. */
  | "flushed";

/**
 * Flushes a file's data to storage and drops its cached pages, so that the
 * next read of it comes from storage.
 *
 * Requires `--allow-read` on the file; `--allow-ffi` to drop its pages.
 *
 * @param path The file (a copy's temporary).
 * @returns `"storage"`, or `"flushed"` where the pages could not be dropped.
 * @throws When the flush fails: the copy is not (all) on storage.
 *
 * @example
 * ```ts
 * import { dropFromCache } from "./page_cache.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "frame");
 * console.log(await dropFromCache(path)); // "storage" with --allow-ffi, else "flushed"
 * await Deno.remove(path);
 * ```
 */
export async function dropFromCache(path: string): Promise<ReadBack> {
  const lib = libc();
  const fd = lib === null ? -1 : await lib.symbols.open(...openArgs(path, false));
  // No FFI, or an open that failed (its errno belongs to the blocking thread
  // that made the call): Deno's flush, whose error says why.
  if (lib === null || fd < 0) return await flush(path);
  try {
    if ((await lib.symbols.fdatasync(fd)) !== 0) await flush(path);
    // Only clean pages are dropped: after the flush, all of them.
    const advice = lib.symbols.posix_fadvise(fd, 0n, 0n, POSIX_FADV_DONTNEED);
    return advice === 0 ? "storage" : "flushed";
  } finally {
    lib.symbols.close(fd);
  }
}

/** Flushes a file's data through Deno (its error names the cause); its pages stay. */
async function flush(path: string): Promise<"flushed"> {
  using file = await Deno.open(path, { read: true });
  await file.syncData();
  return "flushed";
}
