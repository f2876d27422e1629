/**
 * Free space on the destinations, looked at before anything is written, so
 * that a batch that cannot fit is refused whole instead of publishing part of
 * a sequence and failing the rest on a full disk.
 *
 * @module
 */

import { dirname } from "node:path";
import { InputError } from "../errors.ts";
import { formatBytes } from "../size.ts";
import { type FileSystemKind, kindOfStats } from "./file_ops.ts";
import { canStatFileSystems, type FileSystemStats, statFileSystem } from "./statfs.ts";

/** What one destination file system has and gets. */
export interface SpaceNeed {
  /** A folder on that file system (the nearest existing one to a destination). */
  path: string;
  /** The file system's device number. */
  dev: number;
  /** Bytes the batch writes there, each file rounded up to 4 KiB blocks. */
  needBytes: number;
  /** Bytes free for an unprivileged writer, or `null` where the file system cannot say. */
  freeBytes: number | null;
  /** The file system's kind, from the same `statfs` (see `fileSystemKind` in `file_ops.ts`). */
  kind: FileSystemKind;
}

const BLOCK = 4096;

/** The nearest existing folder of a path and its device, each path looked at once. */
function nearestExisting(
  path: string,
  seen: Map<string, Promise<{ path: string; dev: number } | null>>,
): Promise<{ path: string; dev: number } | null> {
  let found = seen.get(path);
  if (found === undefined) {
    found = Deno.stat(path).then(
      (info) => ({ path, dev: info.dev }),
      () => (dirname(path) === path ? null : nearestExisting(dirname(path), seen)),
    );
    seen.set(path, found);
  }
  return found;
}

/**
 * The bytes a plan writes per destination file system, and what is free there.
 *
 * Requires `--allow-read` on the destinations and `--allow-sys=statfs` (without
 * it, there is nothing to compare and the list is empty).
 *
 * @param planned The planned files (only copies count).
 * @param options `mayClone`: copy offload is on, so copies within one file
 * system that can clone (XFS, btrfs, a share whose server may) are left out:
 * a reflink takes no space, and where the kernel does not clone after all, a
 * full disk still stops the file and nothing reaches its final name. On
 * tmpfs, ext4 and f2fs, which never clone, they count. `onFileSystem`: told
 * the kind of every file system asked, also of one that needs no bytes (a
 * copy left out as a clone), so that nobody asks `statfs` there again (on the
 * SMB bed a `statfs` takes 10–15 ms).
 * @returns One entry per destination file system that gets data.
 *
 * @example
 * ```ts
 * import { planTransfer } from "../plan/transfer_plan.ts";
 * import { spaceNeeds } from "./free_space.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/a.exr`, "pixels");
 * const needs = await spaceNeeds((await planTransfer([{ src, dst: `${src}-out` }])).files);
 * console.log(needs[0]?.needBytes); // 4096
 * await Deno.remove(src, { recursive: true });
 * ```
 */
export async function spaceNeeds(
  planned: Iterable<{ action: string; size: number; dst: string; dev: number }>,
  options: {
    mayClone?: boolean;
    onFileSystem?: (folder: string, dev: number, kind: FileSystemKind) => void;
  } = {},
): Promise<SpaceNeed[]> {
  const { mayClone = false, onFileSystem } = options;
  // Without statfs nothing can be compared: do not even look (a stat per folder on a share).
  if (!canStatFileSystems()) return [];
  const seen = new Map<string, Promise<{ path: string; dev: number } | null>>();
  const byDev = new Map<number, SpaceNeed>();
  const files = [...planned].filter((f) => f.action === "copy" && f.size > 0);
  // Every folder at once: each is a round trip on a share.
  const anchors = await Promise.all(files.map((f) => nearestExisting(dirname(f.dst), seen)));
  // Bytes copied within one file system, per device: they count only where it cannot clone.
  const withinBytes = new Map<number, number>();
  for (const [i, file] of files.entries()) {
    const found = anchors[i]!;
    if (found === null) continue;
    let need = byDev.get(found.dev);
    if (need === undefined) {
      byDev.set(
        found.dev,
        need = { path: found.path, dev: found.dev, needBytes: 0, freeBytes: null, kind: "unknown" },
      );
    }
    const blocks = Math.ceil(file.size / BLOCK) * BLOCK;
    if (mayClone && found.dev === file.dev) {
      withinBytes.set(found.dev, (withinBytes.get(found.dev) ?? 0) + blocks);
    } else need.needBytes += blocks;
  }
  for (const need of byDev.values()) {
    const stats = await statFileSystem(need.path);
    need.freeBytes = freeBytesOf(stats);
    need.kind = kindOfStats(stats);
    onFileSystem?.(need.path, need.dev, need.kind);
    if (stats !== null && NEVER_CLONES.has(stats.type)) {
      need.needBytes += withinBytes.get(need.dev) ?? 0;
    }
  }
  return [...byDev.values()].filter((need) => need.needBytes > 0);
}

/** `statfs` types of local file systems that never clone: a copy within one takes its blocks. */
const NEVER_CLONES: ReadonlySet<number> = new Set([
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0xef53, // ext2/3/4
  0xf2f52010, // f2fs
]);

/**
 * Refuses a plan that cannot fit on a destination file system.
 *
 * @param needs From {@linkcode spaceNeeds}.
 * @throws {InputError} Naming the destination, what the batch writes and what is free.
 */
export function assertFits(needs: readonly SpaceNeed[]): void {
  for (const need of needs) {
    if (need.freeBytes === null || need.needBytes <= need.freeBytes) continue;
    throw new InputError(
      `Not enough free space on the destination '${need.path}': the batch writes ` +
        `${formatBytes(need.needBytes)} there and ${formatBytes(need.freeBytes)} are free ` +
        `(nothing was written; --no-space-check copies anyway)`,
      { path: need.path },
    );
  }
}

/** Room kept free beyond a batch's bytes below which a file system counts as nearly full. */
export const TIGHT_MARGIN_BYTES = 256 * 1024 * 1024;

/**
 * The file systems a batch (nearly) fills: there each file is checked against
 * the free space before it is written, and large files are preallocated, so
 * that a file that cannot fit fails before its first byte, not at its end.
 *
 * @param needs From {@linkcode spaceNeeds}.
 * @returns Their device numbers.
 */
export function tightDevices(needs: readonly SpaceNeed[]): Set<number> {
  return new Set(
    needs.filter((n) => n.freeBytes !== null && n.needBytes + TIGHT_MARGIN_BYTES > n.freeBytes)
      .map((n) => n.dev),
  );
}

/**
 * Bytes free for an unprivileged writer on the file system of `path`.
 *
 * Requires `--allow-sys=statfs`.
 *
 * @param path An existing path.
 * @returns The bytes, or `null` when it cannot be asked.
 */
export async function freeBytesAt(path: string): Promise<number | null> {
  return freeBytesOf(await statFileSystem(path));
}

function freeBytesOf(stats: FileSystemStats | null): number | null {
  return stats === null ? null : stats.availableBlocks * stats.blockBytes;
}
