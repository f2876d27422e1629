/**
 * Shards of a plan file: which slice of the work the `K`th of `N` processes
 * (the tasks of a farm's job array) does. Every shard computes the same
 * split from the plan alone, without talking to the others: the files in
 * the plan's order (their stable ids), each weighing its bytes plus
 * {@linkcode FILE_WEIGHT} for its per-file cost, cut into `N` runs of equal
 * weight; a file goes to the shard its middle falls in. A file that
 * straddles a cut is split at range boundaries (its plan's ranges, in
 * pieces of at most {@linkcode SPLIT_PIECE_BYTES}), each piece going to the
 * shard its middle falls in: each of those shards writes its ranges into one
 * shared temporary, and `ferry finalize` publishes it once every range is
 * journaled. What is at the destinations plays no part, so shards that start
 * at different times, or a shard run again, agree.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { OptionError } from "../options.ts";
import type { Chunk } from "../plan/plan_item.ts";
import { splitRanges } from "../plan/chunks.ts";

/** One shard of a plan: the `index`th (from 0) of `count`. */
export interface Shard {
  /** Which shard, from 0. */
  readonly index: number;
  /** How many shards the plan is split into. */
  readonly count: number;
}

/**
 * What a file weighs for the split besides its bytes: its open, stat,
 * publish and journal calls cost about as much as copying this many bytes
 * on a share, so a tree of many small files is spread too.
 */
export const FILE_WEIGHT = 64 * 1024;

/**
 * A file split across shards is cut into pieces of at most this many
 * bytes (within the plan's ranges), so that a shard's share misses the
 * mean by at most half a piece at each end, however large the ranges.
 */
export const SPLIT_PIECE_BYTES = 8 * 1024 * 1024;

/** The most shards a plan is split into. */
export const MAX_SHARDS = 100_000;

/** Where the shard's index comes from under each scheduler, in the order looked at. */
const INDEX_VARIABLES = [
  "SLURM_ARRAY_TASK_ID",
  "CUE_IFRAME",
  "JOB_COMPLETION_INDEX",
  "FERRY_SHARD_INDEX",
] as const;

/**
 * Reads `--shard`: `K/N` (the `K`th of `N`, from 0), `auto` (Slurm's job
 * array: `SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN` of
 * `SLURM_ARRAY_TASK_COUNT`), or `auto/N` (the index from the scheduler's
 * variable — Slurm's, OpenCue's `CUE_IFRAME`, Kubernetes'
 * `JOB_COMPLETION_INDEX`, or `FERRY_SHARD_INDEX` — of `N` shards).
 *
 * @param text The value given.
 * @param env The environment to read (`Deno.env.toObject()` in the CLI).
 * @returns The shard.
 * @throws {OptionError} For a value that is not a shard, or `auto` without the variables it needs.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard.ts";
 *
 * console.log(parseShard("2/4", {})); // { index: 2, count: 4 }
 * const env = { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_MIN: "4", SLURM_ARRAY_TASK_COUNT: "4" };
 * console.log(parseShard("auto", env)); // { index: 1, count: 4 }
 * ```
 */
export function parseShard(text: string, env: Readonly<Record<string, string>>): Shard {
  const bad = (why: string): never => {
    throw new OptionError("--shard", `Invalid --shard '${text}': ${why}`);
  };
  const whole = (value: string | undefined, what: string): number => {
    if (value === undefined || !/^\d+$/.test(value.trim())) {
      return bad(`${what} must be a whole number, got '${value ?? ""}'`);
    }
    return Number(value.trim());
  };
  const [first, second, ...rest] = text.split("/");
  if (rest.length > 0 || first === undefined) return bad("give K/N, auto or auto/N");
  let index: number;
  let count: number;
  if (first === "auto") {
    if (second !== undefined) {
      count = whole(second, "N");
      const name = INDEX_VARIABLES.find((v) => env[v] !== undefined);
      if (name === undefined) {
        return bad(`none of ${INDEX_VARIABLES.join(", ")} is set to give the shard's index`);
      }
      const min = name === "SLURM_ARRAY_TASK_ID"
        ? whole(env.SLURM_ARRAY_TASK_MIN ?? "0", "SLURM_ARRAY_TASK_MIN")
        : 0;
      index = whole(env[name], name) - min;
    } else {
      if (env.SLURM_ARRAY_TASK_ID === undefined) {
        return bad(
          "auto reads Slurm's SLURM_ARRAY_TASK_ID, which is not set (other schedulers: auto/N)",
        );
      }
      index = whole(env.SLURM_ARRAY_TASK_ID, "SLURM_ARRAY_TASK_ID") -
        whole(env.SLURM_ARRAY_TASK_MIN ?? "0", "SLURM_ARRAY_TASK_MIN");
      count = whole(env.SLURM_ARRAY_TASK_COUNT, "SLURM_ARRAY_TASK_COUNT");
    }
  } else {
    if (second === undefined) return bad("give K/N, auto or auto/N");
    index = whole(first, "K");
    count = whole(second, "N");
  }
  if (count < 1 || count > MAX_SHARDS) return bad(`N must be 1 to ${MAX_SHARDS}`);
  if (index < 0 || index >= count) return bad(`K must be 0 to ${count - 1} (shards count from 0)`);
  return Object.freeze({ index, count });
}

/**
 * The shard's label as `--shard` takes it.
 *
 * @param shard The shard.
 * @returns `K/N`.
 */
export function shardLabel(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/** A range of a file split across shards, with the shard that copies it. */
export interface OwnedRange extends Chunk {
  /** The shard that writes it. */
  readonly shard: number;
}

/** How a plan is split into shards. */
export interface ShardSplit {
  /** How many shards. */
  readonly count: number;
  /** The total weight (bytes plus {@linkcode FILE_WEIGHT} per file). */
  readonly weight: number;
  /** Per shard: the weight it got. */
  readonly weights: readonly number[];
  /** Per shard: the bytes it copies. */
  readonly bytes: readonly number[];
  /** Per shard: the files it has whole (a split file counts for none). */
  readonly files: readonly number[];
  /**
   * The shard of an item: every file, folder and link with an id below the
   * next shard's first belongs to it (for a split file, the shard of its middle).
   */
  ownerOf(id: number): number;
  /** The ranges of a file split across shards, each with its shard; `undefined` for a file that is not split. */
  rangesOf(id: number): readonly OwnedRange[] | undefined;
  /** The ids a shard's files and pieces lie within: `from` inclusive, `to` exclusive. */
  idsOf(shard: number): { from: number; to: number };
}

interface WeightRow {
  id: number;
  kind: string | null;
  size: number | null;
  reason: string | null;
}

/**
 * Splits a plan file's stored walk into `count` shards (see the module
 * documentation). Reads the plan's rows once, in id order, and the ranges
 * only of the files that straddle a cut.
 *
 * @param db The plan file, open.
 * @param count How many shards.
 * @returns The split.
 */
export function splitPlan(db: DatabaseSync, count: number): ShardSplit {
  const files = `SELECT id, kind, size, reason FROM root UNION ALL
                 SELECT id, kind, size, reason FROM entry`;
  const weightOf = (row: WeightRow): number =>
    FILE_WEIGHT + (row.kind === "file" && row.reason === null ? row.size ?? 0 : 0);
  const total = db.prepare(
    `SELECT count(*) AS n, coalesce(sum(CASE WHEN kind = 'file' AND reason IS NULL
       THEN size ELSE 0 END), 0) AS bytes FROM (${files})`,
  ).get() as { n: number; bytes: number };
  const weight = total.n * FILE_WEIGHT + total.bytes;
  const share = weight / count;
  const shardAt = (position: number): number =>
    Math.min(count - 1, Math.max(0, Math.floor(position / share)));
  const firstIds: number[] = new Array(count).fill(Infinity);
  const weights: number[] = new Array(count).fill(0);
  const bytes: number[] = new Array(count).fill(0);
  const fileCounts: number[] = new Array(count).fill(0);
  const splits = new Map<number, OwnedRange[]>();
  const ranges = db.prepare("SELECT offset, length FROM range WHERE file = ? ORDER BY offset");
  const claim = (shard: number, id: number): void => {
    if (firstIds[shard] === Infinity) firstIds[shard] = id;
  };
  let at = 0;
  for (const row of db.prepare(`${files} ORDER BY id`).iterate() as Iterable<WeightRow>) {
    const w = weightOf(row);
    const owner = shardAt(at + w / 2);
    const size = w - FILE_WEIGHT;
    const straddles = count > 1 && size > 0 && shardAt(at) !== shardAt(at + w - 1);
    const stored = straddles ? ranges.all(row.id) as { offset: number; length: number }[] : [];
    if (straddles) {
      // The plan's ranges (the whole file where it has none), in pieces of at most SPLIT_PIECE_BYTES.
      const pieces = (stored.length > 0 ? stored : [{ offset: 0, length: size }]).flatMap((r) =>
        splitRanges(r.length, SPLIT_PIECE_BYTES).map((p) => ({
          offset: r.offset + p.offset,
          length: p.length,
        }))
      );
      // Ranges after the file's own weight: its first range carries FILE_WEIGHT.
      const owned = pieces.map((r) => {
        const start = at + FILE_WEIGHT + r.offset - (r.offset === 0 ? FILE_WEIGHT : 0);
        const length = r.length + (r.offset === 0 ? FILE_WEIGHT : 0);
        return Object.freeze({
          offset: r.offset,
          length: r.length,
          shard: shardAt(start + length / 2),
        });
      });
      if (owned.some((r) => r.shard !== owned[0]!.shard)) {
        splits.set(row.id, owned);
        claim(owner, row.id);
        for (const r of owned) {
          weights[r.shard]! += r.length + (r.offset === 0 ? FILE_WEIGHT : 0);
          bytes[r.shard]! += r.length;
        }
        at += w;
        continue;
      }
    }
    claim(owner, row.id);
    weights[owner]! += w;
    bytes[owner]! += w - FILE_WEIGHT;
    fileCounts[owner]!++;
    at += w;
  }
  // A shard that got no file starts where the next one does (it owns nothing).
  for (let k = count - 2; k >= 0; k--) {
    if (firstIds[k] === Infinity) firstIds[k] = firstIds[k + 1]!;
  }
  return Object.freeze({
    count,
    weight,
    weights,
    bytes,
    files: fileCounts,
    ownerOf(id: number): number {
      // The last shard whose first id is at or before this one (folders before the first file: shard 0).
      let lo = 0;
      let hi = count - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (firstIds[mid]! <= id) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    },
    rangesOf(id: number): readonly OwnedRange[] | undefined {
      return splits.get(id);
    },
    idsOf(shard: number): { from: number; to: number } {
      let from = firstIds[shard]!;
      let to = shard + 1 < count ? firstIds[shard + 1]! : Number.MAX_SAFE_INTEGER;
      // A file split across shards may belong to a neighbour and still hold pieces of this one.
      for (const [id, ranges] of splits) {
        if (!ranges.some((r) => r.shard === shard)) continue;
        from = Math.min(from, id);
        to = Math.max(to, id + 1);
      }
      return {
        from: from === Infinity ? to : from,
        to: to === Infinity ? Number.MAX_SAFE_INTEGER : to,
      };
    },
  });
}

/**
 * The temporary a file split across shards is written into: one name that
 * every shard of the batch computes alike, beside its destination,
 * recognised as ferry's and as shared (no run removes it as a stray;
 * `ferry finalize` publishes it).
 *
 * @param dst The file's destination.
 * @param batchId The batch.
 * @param id The file's plan id.
 * @returns `.<name>.<16 hex>.shared.ferry-partial` beside `dst`.
 *
 * @example
 * ```ts
 * import { sharedTempPath } from "./shard.ts";
 *
 * const tmp = await sharedTempPath("/out/clip.mov", "b1", 7);
 * console.log(tmp.endsWith(".shared.ferry-partial")); // true
 * ```
 */
export async function sharedTempPath(dst: string, batchId: string, id: number): Promise<string> {
  // Loaded on first use: Node's crypto layer costs every start ~30 ms, and
  // only a batch split across shards needs it.
  const { createHash } = await import("node:crypto");
  const tag = createHash("sha256").update(`${batchId}\0${id}`).digest("hex").slice(0, 16);
  const cut = dst.lastIndexOf("/");
  const name = dst.slice(cut + 1);
  const room = 255 - 1 - 1 - tag.length - SHARED_SUFFIX.length;
  const encoder = new TextEncoder();
  let short = name;
  while (encoder.encode(short).length > room) short = short.slice(0, -1);
  return `${dst.slice(0, cut + 1)}.${short}.${tag}${SHARED_SUFFIX}`;
}

const SHARED_SUFFIX = ".shared.ferry-partial";

/**
 * Whether a path is the shared temporary of a file split across shards.
 *
 * @param path A path or name.
 * @returns `true` for names {@linkcode sharedTempPath} makes.
 */
export function isSharedTemp(path: string): boolean {
  return /\/?\.[^/]*\.[0-9a-f]{16}\.shared\.ferry-partial$/.test(path);
}
