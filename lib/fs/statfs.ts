/**
 * `statfs(2)`: a file system's type and free space. Through libc where FFI is
 * granted (Linux), otherwise through Node's `fs.statfs`, loaded on first use:
 * Node's fs layer adds ~30 ms to every start of a process that imports it,
 * which `ferry hash` and `ferry --version` should not pay.
 *
 * Either way it requires Deno's `--allow-sys=statfs`: FFI could ask without
 * it, but ferry keeps to what the user granted.
 *
 * @module
 */

import { cString, libcOnce } from "./libc.ts";

/** What `statfs` says of one file system. */
export interface FileSystemStats {
  /** The file system's magic number (`f_type`), e.g. `0x01021994` for tmpfs. */
  type: number;
  /** Bytes per block (`f_bsize`). */
  blockBytes: number;
  /** Blocks free for an unprivileged writer (`f_bavail`). */
  availableBlocks: number;
}

const SYMBOLS = {
  // In a blocking thread of Deno's: a share whose server is gone may hang it.
  statfs: { parameters: ["buffer", "buffer"], result: "i32", nonblocking: true },
} as const;

/**
 * `struct statfs` on 64-bit Linux (x86-64 and arm64 alike): f_type, f_bsize,
 * f_blocks, f_bfree, f_bavail, … as 8-byte words; 120 bytes in all.
 */
const STRUCT_BYTES = 120;
const WORD = { type: 0, blockBytes: 1, availableBlocks: 4 } as const;

const libc = libcOnce(SYMBOLS);

/**
 * Whether `statfs` may be asked: Deno's `--allow-sys=statfs`.
 *
 * @returns `true` when it is granted.
 *
 * @example
 * ```ts
 * import { canStatFileSystems } from "./statfs.ts";
 *
 * console.log(typeof canStatFileSystems()); // "boolean"
 * ```
 */
export function canStatFileSystems(): boolean {
  return Deno.permissions.querySync({ name: "sys", kind: "statfs" }).state === "granted";
}

/**
 * The type and free space of the file system holding `path`.
 *
 * Requires `--allow-sys=statfs`; uses libc with `--allow-ffi` on Linux.
 *
 * @param path An existing path.
 * @returns What the file system says, or `null` where it cannot be asked
 *   (no permission, or the call failed).
 *
 * @example
 * ```ts
 * import { statFileSystem } from "./statfs.ts";
 *
 * const stats = await statFileSystem(Deno.cwd());
 * console.log(stats === null || stats.blockBytes > 0); // true
 * ```
 */
export async function statFileSystem(path: string): Promise<FileSystemStats | null> {
  if (!canStatFileSystems()) return null;
  const lib = libc();
  try {
    if (lib !== null) {
      const words = new BigInt64Array(STRUCT_BYTES / 8);
      const pathBytes = cString(path);
      if ((await lib.symbols.statfs(pathBytes, words)) !== 0) return null;
      return {
        type: Number(BigInt.asUintN(32, words[WORD.type]!)),
        blockBytes: Number(words[WORD.blockBytes]),
        availableBlocks: Number(words[WORD.availableBlocks]),
      };
    }
    const { statfs } = await import("node:fs/promises");
    const stats = await statfs(path);
    return {
      type: Number(stats.type),
      blockBytes: Number(stats.bsize),
      availableBlocks: Number(stats.bavail),
    };
  } catch {
    return null;
  }
}
