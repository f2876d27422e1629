/**
 * An offload to several destinations: one batch per destination, run side
 * by side and sharing their reads (`read_share.ts`), so the source is read
 * and hashed once and written to every destination. Each destination's
 * batch is a whole batch of its own — its files, checks, ASC MHL history,
 * journal and result — so a destination that fails (full, unplugged, no
 * permission) fails only its own files. With `cascade`, the first
 * destination is copied first and the others from it, so the card can be
 * ejected as soon as one verified copy exists.
 *
 * @module
 */

import { sep } from "node:path";
import { absolutePath } from "../fs/absolute_path.ts";
import { CancelledError, describeError, InputError } from "../errors.ts";
import { checkNumber, DEFAULTS, OptionError, pinsWorkers } from "../options.ts";
import type { Mapping, Plan } from "../plan/plan_item.ts";
import { planBatch } from "../plan/planner.ts";
import { applyPlan, type TransferOptions } from "../transfer/batch.ts";
import type { ConcurrencyChange, Progress, StartInfo } from "../transfer/progress.ts";
import type { FileResult, TransferResult } from "../transfer/result.ts";
import { ReadShare, type ShareStats } from "./read_share.ts";
import { parseBandwidth } from "../transfer/bandwidth.ts";

/** The range size of a fan-out's large files, unless `chunkBytes` says otherwise. */
const SHARED_CHUNK_BYTES = 8 * 1024 * 1024;

/** A source and the paths its copies get, one per destination. */
export interface FanOutMapping {
  /** The file or directory to copy. */
  src: string;
  /** The path of each copy (for a directory: the copied directory itself). */
  dst: string | readonly string[];
}

/** Options of {@linkcode fanOut} and {@linkcode offload}. */
export interface FanOutOptions extends
  Omit<
    TransferOptions,
    "onStart" | "onProgress" | "onFile" | "onChunk" | "onConcurrency" | "share"
  > {
  /**
   * Copy to the first destination, then from that copy to the others (in
   * one shared read), so the source is free once the first copy is done.
   * Where the first copy did not complete, the others are copied from the
   * source instead, and their results say so (`from`).
   * @default {false}
   */
  cascade?: boolean;
  /**
   * How far (in bytes) a destination may fall behind the fastest one before
   * it reads the source again for what it missed: the memory the shared
   * reads may hold. 16 MiB to 64 GiB.
   * @default {512 MiB}
   */
  lagBytes?: number;
  /** A destination's batch is about to write (see `TransferOptions.onStart`). */
  onStart?: (destination: number, info: StartInfo) => void;
  /** A destination's progress (see `TransferOptions.onProgress`). */
  onProgress?: (destination: number, progress: Progress) => void;
  /** A file of a destination ended (see `TransferOptions.onFile`). */
  onFile?: (destination: number, file: FileResult) => void;
  /** A destination's adaptive concurrency changed (see `TransferOptions.onConcurrency`). */
  onConcurrency?: (destination: number, change: ConcurrencyChange) => void;
}

/** How one destination went. */
export interface DestinationResult {
  /** Its position among the destinations, from 0. */
  index: number;
  /** The paths its copies got, one per mapping. */
  roots: string[];
  /** What its copies were read from, one per mapping: the sources, or with `cascade` the first destination's copies. */
  from: string[];
  /** Its batch's result, when the batch ran (also when it was cancelled). */
  result?: TransferResult;
  /** Why its batch did not run to its end (not for files that failed: see `result.failures`). */
  error?: Error;
  /** Whether it was cancelled. */
  cancelled: boolean;
  /** Files whose copy was read back and matched the source's digest. */
  filesVerified: number;
  /**
   * It fell further behind the fastest destination than `lagBytes`: the
   * ranges it had not taken from memory by then were read from the source
   * again for it (`reads.bytesDropped` of them).
   */
  late: boolean;
}

/** The outcome of {@linkcode fanOut}. */
export interface FanOutResult {
  /** Every destination, in the order given. */
  destinations: DestinationResult[];
  /** `true` when every destination's batch ran and is `ok`. */
  ok: boolean;
  /** Whether it was cancelled. */
  cancelled: boolean;
  /** Wall time, in milliseconds. */
  elapsedMs: number;
  /** What the shared reads did (the second stage's, with `cascade`). */
  reads: ShareStats;
}

/**
 * Copies each source to several destinations, reading and hashing it once.
 *
 * Each destination's copies form a batch of their own (batch id
 * `<batchId>.<n>` when `batchId` is given): each file is staged, checked
 * and published there as any copy is, with its own ASC MHL generation
 * (`mhl`), journal and result. Copy offload (`copy_file_range`) is not
 * used: the bytes pass through memory once, for every destination.
 *
 * Requires `--allow-read` on sources and destinations and `--allow-write`
 * on the destinations.
 *
 * @param mappings Each source with its destinations (a mapping with fewer
 *   destinations than another is left out of the later destinations' batches).
 * @param options Settings, cancel, events; see {@linkcode FanOutOptions}.
 * @returns Every destination's result.
 * @throws {OptionError} When a setting is not valid, before any I/O.
 * @throws {InputError} When a mapping or a destination is unusable (two
 *   destinations the same, one inside another), before anything is written.
 *
 * @example Two copies of a card, read once
 * ```ts
 * import { fanOut } from "../../mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/A001`);
 * await Deno.writeTextFile(`${root}/A001/A001C001.mov`, "pictures");
 * const result = await fanOut(
 *   [{ src: `${root}/A001`, dst: [`${root}/raid/A001`, `${root}/shuttle/A001`] }],
 *   { verify: "source" },
 * );
 * console.log(result.ok, result.destinations.map((d) => d.filesVerified)); // true [ 1, 1 ]
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function fanOut(
  mappings: readonly FanOutMapping[],
  options: FanOutOptions = {},
): Promise<FanOutResult> {
  const started = performance.now();
  const lagBytes = checkNumber("lagBytes", options.lagBytes);
  if (options.operation === "move") {
    throw new OptionError(
      "operation",
      "a move has one destination: copy to several destinations, then remove the source",
    );
  }
  if (options.offload === "always") {
    throw new OptionError(
      "offload",
      "offload 'always' cannot apply to several destinations: their copies are written from one read",
    );
  }
  if (options.bandwidthLimit !== undefined) parseBandwidth(options.bandwidthLimit);
  const lists = destinationLists(mappings);
  checkDestinations(mappings, lists);
  const { cascade = false } = options;
  const batchOf = (k: number, from: (m: FanOutMapping, index: number) => string): Mapping[] =>
    mappings.flatMap((m, index) => {
      const dst = lists[index]![k];
      return dst === undefined ? [] : [{ src: from(m, index), dst }];
    });
  const count = Math.max(...lists.map((l) => l.length));
  // Run side by side, with cascade the first alone and then the others.
  const seatsOf = (k: number): number => !cascade ? count : k === 0 ? 1 : count - 1;
  const settingsOf = (k: number) => ({
    ...options,
    ...seatWorkers(options, seatsOf(k)),
    offload: "never" as const,
    // Ranges are held in memory for every destination: 8 MiB ones (as hashed
    // ranges are) keep that memory small and reused (see read_share.ts).
    chunkBytes: options.chunkBytes ?? SHARED_CHUNK_BYTES,
    ...(options.batchId === undefined ? {} : { batchId: `${options.batchId}.${k + 1}` }),
  });
  // Every destination planned (every mapping checked) before anything is written.
  const plans: Plan[] = [];
  for (let k = 0; k < count; k++) {
    plans.push(await planBatch(batchOf(k, (m) => m.src), settingsOf(k)));
  }
  const results: DestinationResult[] = plans.map((plan, k) => ({
    index: k,
    roots: plan.header.mappings.map((m) => m.dst),
    from: plan.header.mappings.map((m) => m.src),
    cancelled: false,
    filesVerified: 0,
    late: false,
  }));
  const algorithm = plans[0]!.header.settings.hash;
  const shareOf = (seats: number): ReadShare => new ReadShare(seats, { lagBytes, algorithm });
  let share: ReadShare;
  // The share's first seat's destination: 0, or with cascade 1 (the others read the first's copy).
  let firstSeat = 0;
  if (!cascade || count === 1) {
    share = shareOf(count);
    await Promise.all(plans.map((plan, k) => runSeat(plan, results[k]!, share, k, options)));
  } else {
    await runSeat(plans[0]!, results[0]!, shareOf(1), 0, options);
    const first = results[0]!;
    const rest = plans.slice(1);
    share = shareOf(rest.length);
    firstSeat = 1;
    if (!first.cancelled) {
      // From the first copy where it is complete; from the source where it is not.
      const fromFirst = first.result?.ok === true;
      const again: Plan[] = [];
      for (let k = 1; k < count; k++) {
        again.push(
          fromFirst
            ? await planBatch(
              batchOf(k, (_m, index) => lists[index]![0]!),
              settingsOf(k),
            )
            : rest[k - 1]!,
        );
      }
      await Promise.all(again.map((plan, i) => {
        const result = results[i + 1]!;
        result.from = plan.header.mappings.map((m) => m.src);
        return runSeat(plan, result, share, i, options, i + 1);
      }));
    } else {
      for (const result of results.slice(1)) result.cancelled = true;
    }
  }
  for (const seat of share.stats.lateSeats) results[firstSeat + seat]!.late = true;
  const cancelled = results.some((r) => r.cancelled);
  return {
    destinations: results,
    ok: !cancelled && results.every((r) => r.error === undefined && r.result?.ok === true),
    cancelled,
    elapsedMs: performance.now() - started,
    reads: share.stats,
  };
}

/**
 * Copies one source to several destinations, reading and hashing it once:
 * {@linkcode fanOut} of one mapping.
 *
 * Requires `--allow-read` on the source and destinations and `--allow-write`
 * on the destinations.
 *
 * @param src The card folder, file or other tree to copy.
 * @param destinations The path each copy gets.
 * @param options See {@linkcode FanOutOptions}.
 * @returns Every destination's result.
 * @throws {OptionError} When a setting is not valid, before any I/O.
 * @throws {InputError} When the source or a destination is unusable, before anything is written.
 *
 * @example
 * ```ts
 * import { offload } from "../../mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/clip.mov`, "pictures");
 * const result = await offload(`${root}/clip.mov`, [`${root}/a.mov`, `${root}/b.mov`]);
 * console.log(result.destinations.map((d) => d.result?.totals.filesDone)); // [ 1, 1 ]
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function offload(
  src: string,
  destinations: readonly string[],
  options: FanOutOptions = {},
): Promise<FanOutResult> {
  return fanOut([{ src, dst: destinations }], options);
}

/**
 * The worker ceiling of each destination's batch, where the options pin no
 * count: the default's share, so that the batches run side by side start
 * no more workers together than one copy does. Each batch has a pool of its
 * own, and each adaptive pool climbed to 8 streams: up to 16 workers for
 * two destinations, each start holding the main thread, which took between
 * the same time and 1.1× that of 4 each (60 frames and a 1 GiB clip from
 * the testbed's share to two tmpfs folders, 2 cores; bench/RESULTS.md).
 *
 * @param options The fan-out's options.
 * @param seats How many destinations' batches run side by side.
 * @returns The settings each batch gets on top of `options` (none where a count is pinned).
 *
 * @example
 * ```ts
 * import { seatWorkers } from "./fan_out.ts";
 *
 * console.log(seatWorkers({}, 2)); // { concurrency: "adaptive", maxWorkers: 4 }
 * console.log(seatWorkers({ maxWorkers: 8 }, 2)); // {}
 * ```
 */
export function seatWorkers(
  options: FanOutOptions,
  seats: number,
): { concurrency: "adaptive"; maxWorkers: number } | Record<never, never> {
  if (options.concurrency === "fixed" || pinsWorkers(options) || seats < 2) return {};
  return {
    concurrency: "adaptive",
    maxWorkers: Math.max(2, Math.ceil(DEFAULTS.maxWorkers / seats)),
  };
}

/** Runs one destination's batch; its outcome, whatever it is, goes into `into`. */
async function runSeat(
  plan: Plan,
  into: DestinationResult,
  share: ReadShare,
  seat: number,
  options: FanOutOptions,
  index = seat,
): Promise<void> {
  const { onStart, onProgress, onFile, onConcurrency, cascade: _cascade, lagBytes: _lag, ...rest } =
    options;
  try {
    into.result = await applyPlan(plan, {
      ...rest,
      share: { reads: share, seat },
      ...(onStart === undefined ? {} : { onStart: (info: StartInfo) => onStart(index, info) }),
      ...(onProgress === undefined ? {} : { onProgress: (p: Progress) => onProgress(index, p) }),
      ...(onConcurrency === undefined
        ? {}
        : { onConcurrency: (change: ConcurrencyChange) => onConcurrency(index, change) }),
      onFile: (file) => {
        if (file.hash?.verified === true) into.filesVerified++;
        onFile?.(index, file);
      },
    });
  } catch (error) {
    share.leave(seat);
    if (error instanceof CancelledError) {
      into.result = error.result;
      into.cancelled = true;
      return;
    }
    into.error = error instanceof Error ? error : new Error(describeError(error));
  }
}

/** Each mapping's destinations as a list. */
function destinationLists(mappings: readonly FanOutMapping[]): string[][] {
  if (mappings.length === 0) throw new InputError("No mappings: nothing to copy");
  return mappings.map((m, index) => {
    const list = typeof m.dst === "string" ? [m.dst] : [...m.dst];
    if (list.length === 0 || list.some((d) => typeof d !== "string" || d === "")) {
      throw new InputError(`Mapping ${index + 1} ('${m.src}') has no usable destination`, {
        index,
        path: m.src,
      });
    }
    return list;
  });
}

/** No destination is another, or inside another, or the source (which each batch checks too). */
function checkDestinations(mappings: readonly FanOutMapping[], lists: string[][]): void {
  const all = lists.flatMap((list, index) =>
    list.map((path, k) => ({ path: absolutePath(path), k, index }))
  );
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.k === b.k) continue; // one destination's batch checks its own mappings
      const [outer, inner] = within(b.path, a.path) ? [a, b] : within(a.path, b.path) ? [b, a] : [];
      if (outer === undefined || inner === undefined) continue;
      const how = outer.path === inner.path ? "is also" : "is inside";
      throw new InputError(
        `Destination ${inner.k + 1} '${inner.path}' ${how} destination ${outer.k + 1} ` +
          `'${outer.path}' (of '${mappings[inner.index]!.src}'): each copy needs a path of its own`,
        { index: inner.index, path: inner.path },
      );
    }
  }
}

/** Whether `path` is `root` or below it. */
function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
