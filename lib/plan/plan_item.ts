/**
 * What a plan is made of: its header (the mappings and every setting) and its
 * items (destination folders, files, temporaries found), each with a stable
 * id and every decision the executor needs made up front. Items are frozen:
 * the executor reads them and never writes them; what happens at run time is
 * in the results.
 *
 * @module
 */

import type { FailureCode } from "../errors.ts";
import type { ResolvedSettings } from "../options.ts";
import type { Shard } from "../farm/shard.ts";

/** A source and the path its copy gets (for a directory, the copied directory itself). */
export interface Mapping {
  /** The file or directory to copy. */
  src: string;
  /** The path the copy of `src` gets. */
  dst: string;
}

/** A byte range of one file. */
export interface Chunk {
  /** First byte of the range. */
  readonly offset: number;
  /** Length of the range in bytes (at least 1). */
  readonly length: number;
}

/**
 * How one file is handled:
 * - `copy`: copied, verified, published under its final name;
 * - `rename`: a move on one file system (copied with the planned copier
 *   only if the kernel refuses the rename);
 * - `symlink`: a symbolic link, recreated as it is;
 * - `skip`: left alone (`reason` says why);
 * - `fail`: cannot be copied (`reason` and `code` say why);
 * - `finish-move`: an earlier move published it; its source is removed once
 *   the bytes are checked;
 * - `compare`: the checksum policy; the bytes decide at run time whether it
 *   is copied.
 */
export type FileAction =
  | "copy"
  | "rename"
  | "symlink"
  | "skip"
  | "fail"
  | "finish-move"
  | "compare";

/**
 * How a file's bytes move:
 * - `whole`: from the main thread in one piece (`copy_file_range` through
 *   Deno, or one read and write);
 * - `ranges`: its chunks on the worker pool, in parallel;
 * - `kernel`: one range that the kernel (or the server) copies on one file
 *   system, in large steps;
 * - `none`: no bytes (links, skips, failures).
 */
export type Copier = "whole" | "ranges" | "kernel" | "none";

/** One file (or symbolic link) of the plan. */
export interface PlannedFile {
  /** Always `"file"`. */
  readonly kind: "file";
  /** Its stable id: the same sources and settings give the same ids, in the same order. */
  readonly id: number;
  /** Index of the mapping it comes from. */
  readonly mapping: number;
  /** Absolute source path. */
  readonly src: string;
  /** Absolute destination path. */
  readonly dst: string;
  /** Size in bytes. */
  readonly size: number;
  /** Permission bits to give the copy. */
  readonly mode: number;
  /** Modification time to give the copy, in ms since the epoch (`null` where there is none). */
  readonly mtimeMs: number | null;
  /** Access time to give the copy, in ms since the epoch. */
  readonly atimeMs: number | null;
  /** Owner of the source (kept with `preserveOwner`, as root). */
  readonly uid: number | null;
  /** Group of the source. */
  readonly gid: number | null;
  /** Device of the source. */
  readonly dev: number;
  /** What the transfer does with it. */
  readonly action: FileAction;
  /** How its bytes move (for `rename`: if the rename is refused). */
  readonly copier: Copier;
  /** The ranges the copier copies, covering the file; empty for no bytes. */
  readonly chunks: readonly Chunk[];
  /** Whether `copy_file_range` is tried for its ranges (else read/write). */
  readonly offload: boolean;
  /** The source has holes: copied sparse. */
  readonly sparse: boolean;
  /** For `skip`, `fail` and `finish-move`: why, in plain words. */
  readonly reason?: string;
  /** For `fail`: what kind of failure. */
  readonly code?: FailureCode;
  /** For `fail`: bad input (two mappings write one path); before the first write it refuses the batch. */
  readonly refuses?: boolean;
  /** For `symlink`: the link target, copied as it is. */
  readonly linkTarget?: string;
  /**
   * `true`: something was at the destination when it was planned, and the
   * policy replaces it (or, for `compare`, replaces it if the bytes differ).
   */
  readonly replaces?: boolean;
  /**
   * Set in a shard's run when the file is split across shards
   * (`lib/farm/shard.ts`): this shard writes only these of its `chunks`,
   * into the temporary every shard shares, and `ferry finalize` publishes
   * the file once every range is written.
   */
  readonly part?: FilePart;
}

/**
 * The bytes a run writes of a file: its size, or for a shard's part of a
 * file split across shards, its ranges' bytes.
 *
 * @param file The plan item.
 * @returns The bytes.
 *
 * @example
 * ```ts
 * import { bytesOfRun, type PlannedFile } from "./plan_item.ts";
 *
 * const part = { size: 100, part: { tmp: "/t", ranges: [{ offset: 50, length: 50 }] } };
 * console.log(bytesOfRun(part as unknown as PlannedFile)); // 50
 * ```
 */
export function bytesOfRun(file: PlannedFile): number {
  return file.part === undefined
    ? file.size
    : file.part.ranges.reduce((sum, range) => sum + range.length, 0);
}

/** A shard's part of a file split across shards. */
export interface FilePart {
  /** The temporary every shard writes its ranges into. */
  readonly tmp: string;
  /** The ranges this shard writes. */
  readonly ranges: readonly Chunk[];
  /** Adjacent ranges are written together up to this many bytes (the plan's range size). */
  readonly step: number;
}

/** A directory the transfer creates (or finds) at the destination, or moves with one rename. */
export interface PlannedDir {
  /** Always `"dir"`. */
  readonly kind: "dir";
  /** Its stable id. */
  readonly id: number;
  /** Index of the mapping it comes from. */
  readonly mapping: number;
  /** Absolute source path. */
  readonly src: string;
  /** Absolute destination path. */
  readonly dst: string;
  /** Permission bits of the source directory. */
  readonly mode: number;
  /** Modification time of the source directory, given to the copy after its files. */
  readonly mtimeMs: number | null;
  /** Owner of the source directory. */
  readonly uid: number | null;
  /** Group of the source directory. */
  readonly gid: number | null;
  /**
   * `true`: a move on one file system; the whole tree goes with one rename and
   * its files are not listed in the plan (they are reported as they are
   * found after the rename). Where the kernel refuses, the tree is planned and
   * copied then, and the results say so.
   */
  readonly rename: boolean;
}

/** A ferry temporary or lease found in a destination folder, maybe left by a killed run. */
export interface PlannedStray {
  /** Always `"stray"`. */
  readonly kind: "stray";
  /** Its stable id. */
  readonly id: number;
  /** Its path. */
  readonly path: string;
}

/** One item of a plan. Folders come before what is in them. */
export type PlanItem = PlannedFile | PlannedDir | PlannedStray;

/** What a plan says about itself. */
export interface PlanHeader {
  /** The plan format's version. */
  readonly version: 1;
  /** The mappings, with absolute paths. */
  readonly mappings: readonly Mapping[];
  /** Every setting, resolved. */
  readonly settings: ResolvedSettings;
}

/**
 * A plan: its header, and its items as they are produced (planning streams:
 * a large tree is still being listed while the first files are copied). The
 * items can be read once.
 */
export interface Plan {
  /** The mappings and settings. */
  readonly header: PlanHeader;
  /** The items, in order; read once. */
  readonly items: AsyncIterable<PlanItem>;
  /** For a shard's run of a plan file (`--shard K/N`): which shard. */
  readonly shard?: Shard;
}

/** The version of the plan format. */
export const PLAN_VERSION = 1;
