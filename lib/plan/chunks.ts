/**
 * How a file's bytes are split and which copier moves them: every rule the
 * executor once applied at run time, decided here, in the plan.
 *
 * @module
 */

import type { ResolvedSettings } from "../options.ts";
import { MIB } from "../size.ts";
import type { Chunk, Copier } from "./plan_item.ts";

/** Smallest chunk the automatic chunk size picks. */
export const MIN_CHUNK_BYTES = MIB;
/**
 * Largest chunk the automatic chunk size picks (about two chunks per worker;
 * sweep: fixed 4, 16 and 256 MiB chunks were level with it).
 */
export const MAX_CHUNK_BYTES = 64 * MIB;

/**
 * The automatic chunk size: about two chunks per worker, rounded up to whole
 * MiB and clamped to 1–64 MiB.
 */
function autoChunkBytes(sizeBytes: number, workers: number): number {
  const perWorker = Math.ceil(sizeBytes / (2 * Math.max(1, workers)) / MIB) * MIB;
  return Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, perWorker));
}

/**
 * The range size for hashed copies and for `ferry hash`/`verify` of large
 * files: each range is hashed on its own and the digests are chained in order.
 */
export const HASH_CHUNK_BYTES = 8 * MIB;

/**
 * Consecutive ranges of `step` bytes covering `size` bytes (none for an empty file).
 *
 * @param size The file's size.
 * @param step The range size.
 * @returns The frozen ranges, in order.
 *
 * @example
 * ```ts
 * import { splitRanges } from "./chunks.ts";
 *
 * console.log(splitRanges(10, 4)); // [{ offset: 0, length: 4 }, { offset: 4, length: 4 }, { offset: 8, length: 2 }]
 * ```
 */
export function splitRanges(size: number, step: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let offset = 0; offset < size; offset += step) {
    chunks.push(Object.freeze({ offset, length: Math.min(step, size - offset) }));
  }
  return chunks;
}

/** How one file is copied: the copier, its ranges, and whether the kernel may copy them. */
export interface CopyPlan {
  /** The copier. */
  copier: Copier;
  /** The ranges, covering the file. */
  chunks: readonly Chunk[];
  /** Whether `copy_file_range` is tried. */
  offload: boolean;
  /** Whether holes are kept. */
  sparse: boolean;
}

/** What {@linkcode copyPlanFor} looks at of a file. */
export interface CopySubject {
  /** Its size. */
  size: number;
  /** Whether the source has holes. */
  sparse: boolean;
  /** Whether source and destination are on one file system. */
  sameFs: boolean;
}

/**
 * Decides how a file's bytes move, from its size and the settings:
 * - below the cutoff a file is copied whole from the main thread, except a
 *   hashed one larger than one buffer (one hashed range on a worker, so that
 *   hashing frames does not make the main thread the bottleneck) and a
 *   sparse one with offload (the workers find its holes);
 * - at or above it, a hashed file goes in 8 MiB hashed ranges (they wait in
 *   memory for their turn); on one file system with offload the kernel copies
 *   it as one range in large steps, as cp does (parallel `copy_file_range`
 *   calls into one file gain nothing there); otherwise it is split into
 *   chunks copied in parallel.
 *
 * @param file Size, holes and whether it stays on one file system.
 * @param settings The batch's settings.
 * @returns The copier, the ranges and the offload intent.
 *
 * @example
 * ```ts
 * import { copyPlanFor } from "./chunks.ts";
 * import { resolveOptions } from "../options.ts";
 *
 * const plan = copyPlanFor(
 *   { size: 100 * 2 ** 20, sparse: false, sameFs: false },
 *   resolveOptions({ maxWorkers: 4, cutoffBytes: 2 ** 20 }),
 * );
 * console.log(plan.copier, plan.chunks.length); // ranges 8
 * ```
 */
export function copyPlanFor(file: CopySubject, settings: ResolvedSettings): CopyPlan {
  const { size } = file;
  const hashing = settings.hash !== null;
  const mayOffload = settings.offload !== "never";
  // Holes stay holes only where ferry reads the data itself, and hashed
  // ranges need every byte: a sparse file is copied sparse without hashing.
  const sparse = file.sparse && !hashing && settings.ffi;
  const offload = mayOffload && !hashing && !sparse;
  if (size === 0) return { copier: "whole", chunks: [], offload, sparse: false };
  const whole = [Object.freeze({ offset: 0, length: size })];
  if (size < settings.cutoffBytes) {
    if ((hashing && size > settings.bufferBytes) || sparse) {
      return { copier: "ranges", chunks: whole, offload, sparse };
    }
    return { copier: "whole", chunks: whole, offload, sparse: false };
  }
  if (hashing) {
    return { copier: "ranges", chunks: splitRanges(size, HASH_CHUNK_BYTES), offload, sparse };
  }
  if (offload && file.sameFs) return { copier: "kernel", chunks: whole, offload, sparse };
  const step = settings.chunkBytes > 0
    ? settings.chunkBytes
    : autoChunkBytes(size, settings.maxWorkers);
  return { copier: "ranges", chunks: splitRanges(size, step), offload, sparse };
}
