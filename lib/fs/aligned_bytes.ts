/**
 * Buffers for reads that start on a page boundary. V8 gets a large
 * `ArrayBuffer` from `malloc`, which serves it from its own `mmap` after a
 * 16-byte header: every 1 MiB copy buffer began 16 bytes into a page. The
 * kernel's copy out of the page cache (`read`, `pread`) into such an address
 * was 3.5–4× slower than into an aligned one on the AMD EPYC machines here
 * (512 MiB from tmpfs in 1 MiB reads: 220–250 ms against 55–60 ms; 32-byte
 * aligned addresses were as fast as page-aligned ones), a cost every read
 * of every copy, hash and read-back paid.
 *
 * The address of a buffer is known only through FFI (`Deno.UnsafePointer`):
 * where `--allow-ffi` is not granted the buffer is a plain one.
 *
 * @module
 */

/** The alignment of {@linkcode alignedBytes}'s buffers (a page). */
export const ALIGN_BYTES = 4096;

/**
 * `length` zeroed bytes starting on a {@linkcode ALIGN_BYTES} boundary where
 * FFI is granted (a view into a slightly larger buffer), plain otherwise.
 *
 * @param length The bytes wanted.
 * @returns The buffer.
 *
 * @example
 * ```ts
 * import { alignedBytes } from "./aligned_bytes.ts";
 *
 * const buffer = alignedBytes(1024 * 1024);
 * console.log(buffer.length); // 1048576
 * ```
 */
export function alignedBytes(length: number): Uint8Array<ArrayBuffer> {
  if (length < ALIGN_BYTES) return new Uint8Array(length);
  const spare = new ArrayBuffer(length + ALIGN_BYTES);
  const skip = alignmentGap(spare, 0);
  return new Uint8Array(spare, skip, length);
}

/**
 * How many bytes past `offset` into `buffer` the next
 * {@linkcode ALIGN_BYTES} boundary is (0 where FFI is not granted: the
 * address cannot be known).
 *
 * @param buffer The memory.
 * @param offset Where the caller's data could start at the earliest.
 * @returns The gap, below {@linkcode ALIGN_BYTES}.
 *
 * @example
 * ```ts
 * import { ALIGN_BYTES, alignmentGap } from "./aligned_bytes.ts";
 *
 * const memory = new SharedArrayBuffer(2 * ALIGN_BYTES);
 * const gap = alignmentGap(memory, 16);
 * console.log(gap >= 0 && gap < ALIGN_BYTES); // true
 * ```
 */
export function alignmentGap(buffer: ArrayBuffer | SharedArrayBuffer, offset: number): number {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return 0;
  const address = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer))) +
    BigInt(offset);
  return Number((BigInt(ALIGN_BYTES) - address % BigInt(ALIGN_BYTES)) % BigInt(ALIGN_BYTES));
}
