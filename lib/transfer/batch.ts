/**
 * A batch end to end: plan, read the plan ahead (checking what is known
 * before the first write), then feed its items to two lanes (large files,
 * whose ranges share the worker pool, and small files), make folders and
 * remove stray temporaries as the plan reaches them, and finish: ASC MHL
 * generations, folder modes and times, clean-up after a cancel.
 *
 * @module
 */

import { CancelledError } from "../errors.ts";
import { startJournal } from "../ledger/journal.ts";
import { lastLevels, resumables } from "../ledger/resume_point.ts";
import { shardJournals } from "../ledger/shared_ranges.ts";
import { isSharedTemp, shardLabel } from "../farm/shard.ts";
import { assertFits, type SpaceNeed, spaceNeeds, tightDevices } from "../fs/free_space.ts";
import { checkNumber, DEFAULTS, type TransferSettings } from "../options.ts";
import type { Mapping, Plan, PlanItem, PlannedFile } from "../plan/plan_item.ts";
import { planBatch, refusal } from "../plan/planner.ts";
import { addToPlanTotals, emptyPlanTotals } from "../plan/plan_totals.ts";
import { FileJob } from "./file_job.ts";
import { transferFile } from "./file_transfer.ts";
import { Lane } from "./lane.ts";
import { BatchConcurrency } from "./batch_concurrency.ts";
import { LOCAL_IN_FLIGHT } from "./local_copier.ts";
import { Deliveries } from "./manifests.ts";
import type { Progress, StartInfo } from "./progress.ts";
import { ReadAhead } from "./read_ahead.ts";
import type { ManifestOutcome, TransferResult } from "./result.ts";
import { Run, type RunEvents } from "./run.ts";
import { StoragePairs } from "./storage_pairs.ts";
import { parseBandwidth, rateAt } from "./bandwidth.ts";
import { FALLBACK_ID_BASE, moveTree } from "./tree_rename.ts";
import type { ReadShare } from "../fanout/read_share.ts";

/** Options of a run: cancel, events and read-ahead (the settings come from the plan). */
export interface RunOptions extends RunEvents {
  /** Cancels the batch: workers stop within one buffer, temporary files are removed. */
  signal?: AbortSignal;
  /** Terminates the workers at once (a second Ctrl-C); temporary files are still removed. */
  killSignal?: AbortSignal;
  /**
   * Interval between progress events in milliseconds.
   * @default {100}
   */
  progressIntervalMs?: number;
  /**
   * Plan items read ahead of the copy. A batch whose plan ends within it is
   * checked whole before anything is written (two mappings writing one path,
   * free space); a larger one starts copying when the read-ahead is full,
   * and problems found beyond it fail their own files.
   * @default {10000}
   */
  readAhead?: number;
  /** Called once before the first write, with what is known of the plan. */
  onStart?: (info: StartInfo) => void;
  /** Called with throttled progress snapshots, from the main thread. */
  onProgress?: (progress: Progress) => void;
  /**
   * A ledger folder to journal the batch into (`lib/ledger/`): what each
   * run did, readable while it runs with {@linkcode batchStatus}. Without
   * it nothing is journaled (the CLI journals by default).
   */
  ledger?: string;
  /**
   * Batches in the ledger whose runs all ended more than this many days ago
   * are removed when a batch is journaled.
   * @default {30}
   */
  ledgerDays?: number;
  /**
   * One of the batches of an offload to several destinations
   * ({@linkcode fanOut} makes them): the reads it shares with the others,
   * and its seat.
   */
  share?: { reads: ReadShare; seat: number };
  /**
   * A bandwidth limit for the batch's copies, across all its workers and
   * this thread: bytes per second, or rclone's form as text — `500M`,
   * `1.2G`, `off`, or a timetable of local times, `"08:00,300M 20:00,off"`
   * (see `lib/transfer/bandwidth.ts`). Smooth within 50 ms bursts.
   * @default {none}
   */
  bandwidthLimit?: number | string;
  /**
   * Asked ten times a second: `true` lifts the bandwidth limit for now (the
   * CLI's SIGUSR1 toggles it).
   */
  bandwidthPaused?: () => boolean;
}

/** Options of {@linkcode applyMappings}, {@linkcode copy} and {@linkcode move}. */
export interface TransferOptions extends TransferSettings, RunOptions {}

/**
 * Transfers a batch of `{src, dst}` mappings: the TypeScript form of the
 * original tool's `apply_mappings_multithreaded(mappings, operation_type,
 * max_workers, file_workers)`.
 *
 * A file that fails (unreadable source, no space, permission denied) is
 * reported to `onFile` and in the result's failures, and the batch goes on;
 * the promise rejects only for bad input (before anything is written) and
 * for a cancel. The result counts every file and keeps only the failures:
 * `onFile` sees every file's outcome as it ends.
 *
 * Requires `--allow-read` on sources and destinations and `--allow-write` on
 * destinations (and on sources for a move).
 *
 * @param mappings The `{src, dst}` pairs.
 * @param options Settings, cancel and event callbacks.
 * @returns The totals and the failures.
 * @throws {OptionError} When a setting is not valid, before any I/O.
 * @throws {InputError} When a mapping is unusable; nothing has been touched.
 * @throws {CancelledError} When `signal` aborts; temporary files are gone.
 *
 * @example Delivering two plates with the original tool's settings
 * ```ts
 * import { applyMappings } from "../../mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/sh010`);
 * await Deno.writeTextFile(`${root}/sh010/plate.0001.exr`, "pixels");
 * const result = await applyMappings(
 *   [{ src: `${root}/sh010`, dst: `${root}/delivery/sh010` }],
 *   { operation: "copy", maxWorkers: 8, fileWorkers: 4, batchId: "delivery-42" },
 * );
 * console.log(result.ok, result.totals.filesDone); // true 1
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function applyMappings(
  mappings: readonly Mapping[],
  options: TransferOptions = {},
): Promise<TransferResult> {
  const startMs = performance.now();
  checkRunOptions(options);
  return await runPlan(await planBatch(mappings, options), options, startMs);
}

/**
 * Runs a plan: one made by {@linkcode planBatch}, or read back with
 * {@linkcode readPlan}. The settings are the plan's.
 *
 * @param plan The plan (its items are read).
 * @param options Cancel, events and read-ahead.
 * @returns The totals and the failures.
 * @throws {InputError} When the plan carries bad input found before the first write.
 * @throws {CancelledError} When `signal` aborts.
 *
 * @example
 * ```ts
 * import { applyPlan, planBatch } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const result = await applyPlan(await planBatch([{ src, dst: `${src}.copy` }]));
 * console.log(result.totals.filesDone); // 1
 * await Deno.remove(src);
 * await Deno.remove(`${src}.copy`);
 * ```
 */
export function applyPlan(plan: Plan, options: RunOptions = {}): Promise<TransferResult> {
  checkRunOptions(options);
  return runPlan(plan, options, performance.now());
}

function checkRunOptions(options: RunOptions): void {
  checkNumber("progressIntervalMs", options.progressIntervalMs);
  checkNumber("readAhead", options.readAhead);
  checkNumber("ledgerDays", options.ledgerDays);
  if (options.bandwidthLimit !== undefined) parseBandwidth(options.bandwidthLimit);
}

/**
 * Applies the bandwidth limit now and ten times a second (a timetable's
 * next entry, a pause); returns what stops it.
 */
function applyBandwidth(run: Run, options: RunOptions): () => void {
  if (options.bandwidthLimit === undefined) return () => {};
  const schedule = parseBandwidth(options.bandwidthLimit);
  const apply = (): void =>
    run.limit.setRate(options.bandwidthPaused?.() ? null : rateAt(schedule, new Date()));
  apply();
  // Often enough that a lifted limit lets go within a tenth of a second.
  const timer = setInterval(apply, 100);
  return () => clearInterval(timer);
}

async function runPlan(plan: Plan, options: RunOptions, startMs: number): Promise<TransferResult> {
  const { settings } = plan.header;
  const { shard } = plan;
  const journal = options.ledger === undefined ? undefined : await startJournal(
    options.ledger,
    plan.header,
    options.ledgerDays ?? DEFAULTS.ledgerDays,
    shard === undefined ? undefined : shardLabel(shard),
  );
  const run = new Run(settings, options, startMs);
  run.share = options.share;
  run.temporaries.quietLive = shard !== undefined;
  if (journal !== undefined) {
    run.journal = journal;
    run.dirs.record = (change) => journal.dir(change);
    run.resumable = await resumables(options.ledger!, settings.batchId, journal.path);
    if (settings.concurrency === "adaptive") {
      const last = await lastLevels(options.ledger!, settings.batchId, journal.path);
      run.startStreams = last?.streams;
      run.startPairs = last?.pairs;
    }
    if (shard !== undefined) {
      const journals = await shardJournals(options.ledger!, settings.batchId);
      run.sharedRanges = journals.ranges;
      run.temporaries.endedRuns = journals.ended;
    }
  }
  // A shard leaves the ASC MHL history and the folders' modes and times to `ferry finalize`.
  const deliveries = settings.mhl && shard === undefined ? new Deliveries() : undefined;
  if (deliveries !== undefined || journal !== undefined) {
    run.observe = (file, result) => {
      deliveries?.file(file, result);
      journal?.file(file, result);
    };
  }
  const reader = new ReadAhead<PlanItem>(
    plan.items,
    options.readAhead ?? DEFAULTS.readAhead,
    (item) => item.kind === "file" && run.accounting.planned(item),
  );
  await checkAhead(run, plan, reader, options);

  const snapshot = (): Progress => {
    run.accounting.planning = !reader.complete;
    const progress = run.accounting.progress();
    const limit = run.limit.rate;
    if (limit !== null) progress.bandwidthLimit = limit;
    if (run.concurrency !== undefined) progress.concurrency = run.concurrency.inUse;
    journal?.progress(progress, run.concurrency?.levels);
    return progress;
  };
  const ticker = options.onProgress === undefined && journal === undefined
    ? undefined
    : setInterval(() => options.onProgress?.(snapshot()), options.progressIntervalMs ?? 100);
  const stopBandwidth = applyBandwidth(run, options);
  const onAbort = (): void => run.cancel();
  const onKill = (): void => run.kill();
  options.signal?.addEventListener("abort", onAbort);
  options.killSignal?.addEventListener("abort", onKill);
  let manifests: ManifestOutcome[] | undefined;
  try {
    if (options.signal?.aborted) run.cancel();
    await feed(run, reader, plan.header.mappings, deliveries);
    // Killed runs' temporaries that no file of this run took over (a cancel leaves them to the next run).
    if (!run.cancelled) {
      for (const left of run.resumable.values()) await run.temporaries.reclaim(left.tmp);
      await run.temporaries.settleBusy();
    }
    // Every temporary is gone: the leases go before the folders get their
    // source's times (removing a lease file would change them again).
    await run.temporaries.releaseLeases();
    // Before the folders get their source's modes: a camera card's are read-only.
    if (deliveries !== undefined && settings.hash !== null && !run.cancelled) {
      manifests = await deliveries.write(settings.hash, settings.fsync);
    }
    if (!run.cancelled && shard === undefined) await run.dirs.finish();
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    stopBandwidth();
    options.signal?.removeEventListener("abort", onAbort);
    options.killSignal?.removeEventListener("abort", onKill);
    await run.close();
    options.share?.reads.leave(options.share.seat);
    // Read but never started: each ends as cancelled, with its own event.
    for (const item of await reader.stop()) {
      if (item.kind === "file") new FileJob(run, item).finish("cancelled");
    }
    if (run.cancelled) {
      await run.temporaries.discardAll();
      await run.dirs.removeCreated();
    }
    await run.temporaries.releaseLeases();
  }
  const result = resultOf(run, settings.batchId, startMs, reader.complete, manifests);
  if (journal !== undefined) {
    const { totals } = result;
    const state = run.cancelled ? "cancelled" : result.ok ? "done" : "failed";
    // The levels the run ended at, where its batch's next run starts.
    snapshot();
    journal.close(state, totals, totals.bytesDone - totals.bytesRenamed - totals.bytesResumed);
    result.journal = { path: journal.path };
    if (journal.error !== undefined) result.journal.error = journal.error;
  }
  if (run.cancelled) throw new CancelledError(result, options.signal?.reason);
  return result;
}

/**
 * Reads the first items ahead and checks them before anything is written:
 * two mappings writing one path, free space. A function of its own, so that
 * nothing it looked at is held while the batch runs.
 */
async function checkAhead(
  run: Run,
  plan: Plan,
  reader: ReadAhead<PlanItem>,
  options: RunOptions,
): Promise<void> {
  const { settings, mappings } = plan.header;
  const ahead = await reader.fill();
  const refused = ahead.items.find((i): i is PlannedFile =>
    i.kind === "file" && i.refuses === true
  );
  if (refused !== undefined) throw refusal(refused, mappings);
  const files = ahead.items.filter((i): i is PlannedFile => i.kind === "file");
  let needs = await spaceNeeds(files, {
    mayClone: settings.offload !== "never",
    onFileSystem: (folder, dev, kind) => run.knowFileSystem(folder, dev, kind),
  });
  // Several destinations on one file system: each checks what all of them write there.
  if (run.share !== undefined) needs = await run.share.reads.spaceTogether(run.share.seat, needs);
  if (settings.spaceCheck) assertFits(needs);
  run.tight = tightDevices(needs);
  if (takesWorker(run, files, needs)) run.pool.warm();
  run.accounting.planning = !ahead.complete;
  options.onStart?.(startInfo(plan, ahead.items, ahead.complete));
}

/**
 * Whether the first files go to the workers: a file copied in ranges, any
 * file of an offload to several destinations, a file written into a share.
 * Then a worker starts before the folders and leases are made, instead of
 * when the first range is queued: on the SMB bed those are ~10 round trips,
 * which the worker's start (~70 ms there) now overlaps.
 */
function takesWorker(
  run: Run,
  files: readonly PlannedFile[],
  needs: readonly SpaceNeed[],
): boolean {
  const copies = files.filter((f) => f.action === "copy" && f.size > 0);
  if (copies.length === 0) return false;
  if (run.share !== undefined || copies.some((f) => f.copier === "ranges")) return true;
  // A same-device copy is no need (the kernel copies it, on this thread).
  return needs.some((need) => need.kind === "share");
}

/**
 * The streams an adaptive batch that shares its reads (an offload's
 * destination) starts with, where 2 is the start otherwise. Its ranges are
 * read into memory a few MiB ahead of their writes, so a step up starts new
 * ranges whose reads begin cold, and the window that measures it comes out
 * slower than the level before: from 2, an offload of a card from the
 * testbed's share stepped to 4, measured a dip, went back to 2 and stayed
 * there. Started at 4 it took 0.80× the time to one destination and 0.87×
 * to two; to and from real NFS and SMB servers, 0.99–1.02× (bench/RESULTS.md).
 */
const SHARED_START_STREAMS = 4;

/**
 * Feeds the plan's items to the lanes as they are read: folders are made and
 * strays reclaimed in plan order, before the files that go into them.
 */
async function feed(
  run: Run,
  reader: ReadAhead<PlanItem>,
  mappings: readonly Mapping[],
  deliveries?: Deliveries,
): Promise<void> {
  const { settings } = run;
  const large = new Lane(settings.fileWorkers, settings.fileWorkers * 4);
  const small = new Lane(settings.smallFileWorkers, settings.smallFileWorkers * 4);
  // Many small local files: enough in flight that the worker gets full batches.
  run.onLocalWorker = () => small.widen(LOCAL_IN_FLIGHT);
  const { pool, accounting } = run;
  const fresh = run.share === undefined ? undefined : SHARED_START_STREAMS;
  run.concurrency = new BatchConcurrency(settings, { pool, large, small, accounting }, {
    start: run.startStreams ?? fresh,
    fresh,
    remembered: run.startPairs,
    onChange: run.events.onConcurrency,
  });
  run.concurrency.start();
  const pairs = settings.concurrency === "adaptive" ? new StoragePairs(mappings) : undefined;
  if (pairs !== undefined) run.concurrency.labelPairs((pair) => pairs.label(pair));
  try {
    await feedLanes(run, reader, { large, small }, pairs, deliveries);
  } finally {
    run.concurrency.stop();
  }
}

/** {@linkcode feed}'s loop: each item to its lane, in plan order. */
async function feedLanes(
  run: Run,
  reader: ReadAhead<PlanItem>,
  { large, small }: { large: Lane; small: Lane },
  pairs: StoragePairs | undefined,
  deliveries?: Deliveries,
): Promise<void> {
  const { settings } = run;
  const ids = { next: FALLBACK_ID_BASE };
  const handle = async (item: PlanItem): Promise<void> => {
    if (item.kind === "stray") {
      // A killed run's temporary that its file continues from is that file's to take or remove;
      // a split file's shared temporary is `ferry finalize`'s.
      if (isSharedTemp(item.path)) return;
      if ([...run.resumable.values()].some((r) => r.tmp === item.path)) return;
      return await run.temporaries.reclaim(item.path);
    }
    if (item.kind === "dir") {
      deliveries?.dir(item);
      if (!item.rename) {
        await run.dirs.make(item);
        pairs?.made(item.dst);
        return;
      }
      const copyInstead = await moveTree(run, item, ids);
      if (copyInstead === null) return;
      for await (const inner of copyInstead) {
        if (inner.kind === "file") run.accounting.planned(inner);
        await handle(inner);
      }
      return;
    }
    const lane = item.size >= settings.cutoffBytes ? large : small;
    // A file that is skipped or failed moves nothing: it does not change the pair.
    const pair = pairs === undefined || item.action === "skip" || item.action === "fail"
      ? undefined
      : pairs.now(item) ?? await pairs.of(item);
    await lane.push(() => transferFile(run, item, pair));
  };
  for (;;) {
    // An item read already is taken without a wait; `next` waits for the plan.
    const item = reader.take() ?? await reader.next();
    if (item === undefined) break;
    if (run.cancelled) {
      if (item.kind === "file") new FileJob(run, item).finish("cancelled");
      break;
    }
    // Each file waits for its lane's room: queued without a wait, 100 000
    // files peaked 10–30 MiB higher, for no time gained.
    await handle(item);
  }
  run.accounting.planning = false;
  await Promise.all([large.drain(), small.drain()]);
}

function startInfo(plan: Plan, items: readonly PlanItem[], complete: boolean): StartInfo {
  const totals = emptyPlanTotals();
  for (const item of items) addToPlanTotals(totals, item);
  const { files, bytes, bytesToCopy, chunks, dirs } = totals;
  const { batchId, operation } = plan.header.settings;
  return { batchId, operation, files, bytes, bytesToCopy, chunks, dirs, complete };
}

function resultOf(
  run: Run,
  batchId: string,
  startMs: number,
  complete: boolean,
  manifests: ManifestOutcome[] | undefined,
): TransferResult {
  const { totals, failures } = run.accounting;
  const elapsedMs = performance.now() - startMs;
  const result: TransferResult = {
    batchId,
    operation: run.settings.operation,
    failures,
    totals,
    elapsedMs,
    // A rename moves no bytes, nor does a range a killed run had written: the rate is of the bytes copied.
    bytesPerSecond: elapsedMs > 0
      ? ((totals.bytesDone - totals.bytesRenamed - totals.bytesResumed) * 1000) / elapsedMs
      : 0,
    temporaries: run.temporaries.report,
    ok: totals.filesFailed === 0 && !run.cancelled &&
      (manifests ?? []).every((m) => m.error === undefined),
  };
  if (!complete) result.incomplete = true;
  if (manifests !== undefined) result.manifests = manifests;
  return result;
}

/**
 * Copies one file or directory tree to `dst` (the path the copy gets).
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @param src The file or directory to copy.
 * @param dst The path of the copy (for a directory: the copied directory itself).
 * @param options See {@linkcode TransferOptions}; `operation` is ignored.
 * @returns The totals and the failures.
 * @throws {InputError} When the mapping is unusable; nothing has been touched.
 * @throws {CancelledError} When `signal` aborts.
 *
 * @example
 * ```ts
 * import { copy } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * await Deno.writeTextFile(src, "a movie");
 * const result = await copy(src, `${src}.mov`, { onFile: (f) => console.log(f.status) }); // copied
 * console.log(result.ok); // true
 * await Deno.remove(src);
 * await Deno.remove(`${src}.mov`);
 * ```
 */
export function copy(
  src: string,
  dst: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  return applyMappings([{ src, dst }], { ...options, operation: "copy" });
}

/**
 * Moves one file or directory tree to `dst`: a rename on the same file
 * system; otherwise copy, verify, publish, then remove the source.
 *
 * Requires `--allow-read` and `--allow-write` on both sides.
 *
 * @param src The file or directory to move.
 * @param dst Its new path.
 * @param options See {@linkcode TransferOptions}; `operation` is ignored.
 * @returns The totals and the failures.
 * @throws {InputError} When the mapping is unusable; nothing has been touched.
 * @throws {CancelledError} When `signal` aborts.
 *
 * @example
 * ```ts
 * import { move } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const result = await move(src, `${src}.moved`);
 * console.log(result.totals.filesDone); // 1
 * await Deno.remove(`${src}.moved`);
 * ```
 */
export function move(
  src: string,
  dst: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  return applyMappings([{ src, dst }], { ...options, operation: "move" });
}
