/**
 * One batch end to end: plan, create directories, copy files (small ones
 * whole from the main thread, large ones in byte ranges on the worker pool),
 * verify, publish by rename, and clean up after a cancel or a failure.
 *
 * @module
 */

import { basename, dirname, relative, sep } from "node:path";
import type { GenerationFile } from "../integrity/mhl/generation_writer.ts";
import { MhlError } from "../integrity/mhl/mhl_error.ts";
import { forEachLimit } from "../concurrency.ts";
import { assertFits, freeBytesAt, spaceNeeds, tightDevices } from "../fs/free_space.ts";
import { formatBytes } from "../size.ts";
import { ControlBlock } from "../workers/control.ts";
import {
  CancelledError,
  describeError,
  type FailureCode,
  FileTransferError,
  InputError,
} from "../errors.ts";
import {
  type Chunk,
  DEFAULT_FILE_WORKERS,
  DEFAULT_MAX_WORKERS,
  type DirTask,
  type ExistingPolicy,
  FILE_WORKERS_LIMIT,
  type FileTask,
  type Mapping,
  MAX_BUFFER_BYTES,
  MAX_WORKERS_LIMIT,
  MIB,
  planChunks,
  type PlanOptions,
  planTransfer,
  type TransferPlan,
} from "../plan/plan.ts";
import { WorkerPool } from "../workers/pool.ts";
import { errorFromWorker } from "../workers/messages.ts";
import {
  createHasher,
  DEFAULT_HASH,
  type HashAlgorithm,
  hashBytes,
  hashFile,
} from "../integrity/hash.ts";
import { FileHasher, HASH_CHUNK_BYTES, hashedReadJob } from "../integrity/file_hasher.ts";
import type { Progress, StartInfo } from "./progress.ts";
import { RateMeter } from "./progress.ts";
import {
  flushToStorage,
  isTempName,
  publish,
  removeIfPresent,
  tempPathFor,
  tempRunOf,
} from "../fs/publish.ts";
import { leaseRunOf, Leases, leaseState } from "../fs/temp_lease.ts";
import {
  DEFAULT_OFFLOAD_STEP_BYTES,
  KernelCopyAsync,
  offloadAvailable,
  type OffloadMode,
  SAME_FS_OFFLOAD_STEP_BYTES,
} from "../fs/offload.ts";
import {
  type FileResult,
  type ManifestOutcome,
  summarize,
  type TemporaryReport,
  type TransferResult,
} from "./result.ts";

/**
 * Default size of each worker's reused copy buffer: 1 MiB, which is also how
 * often a worker checks for cancel (settings sweep in bench/RESULTS.md:
 * 256 KiB, 4 and 8 MiB were level).
 */
export const DEFAULT_BUFFER_BYTES = MIB;
/**
 * Default number of small files in flight (see
 * {@linkcode TransferOptions.smallFileWorkers}); settings sweep in
 * bench/RESULTS.md: with 8 the defaults were 1.1–1.4× faster on frames and
 * 64 KiB files, to and from the share; 32 was level with 16.
 */
export const DEFAULT_SMALL_FILE_WORKERS = 16;
/**
 * A copy_file_range step of 64 MiB that ends within this many milliseconds
 * was a clone (reflink), not a copy of the data (which moves at most a few
 * GB/s): see `#offloadHere` in the batch.
 */
const CLONE_STEP_MS = 5;
/** Default interval between progress events (10 per second at most). */
export const DEFAULT_PROGRESS_INTERVAL_MS = 100;

/** Options for {@linkcode applyMappings}, {@linkcode copy} and {@linkcode move}. */
export interface TransferOptions {
  /**
   * `"copy"` leaves the sources; `"move"` renames where source and
   * destination share a file system, and otherwise copies, verifies,
   * publishes and only then removes the source.
   * @default {"copy"}
   */
  operation?: "copy" | "move";
  /**
   * Chunk workers: the most byte ranges copied at once. Workers start lazily,
   * only as many as there are ranges to copy.
   * @default {8}
   */
  maxWorkers?: number;
  /**
   * Chunked (large) files in flight at once; their chunks share the workers.
   * @default {4}
   */
  fileWorkers?: number;
  /**
   * Small files (below the cutoff, copied whole) in flight at once, beside
   * the large ones. On a network share each small file costs several round
   * trips, so many in flight pay off (bench/RESULTS.md).
   * @default {16}
   */
  smallFileWorkers?: number;
  /**
   * Files of this size or larger are split into chunks.
   * @default {64 MiB}
   */
  cutoffBytes?: number;
  /**
   * Fixed chunk size in bytes; 0 picks one per file within 1–64 MiB.
   * @default {0}
   */
  chunkBytes?: number;
  /**
   * Size of each worker's reused buffer; the cancel flag is checked once per buffer.
   * @default {1 MiB}
   */
  bufferBytes?: number;
  /**
   * Copy offload (`copy_file_range`: reflinks, server-side copies, in-kernel
   * copies). `"auto"` uses it for chunks where `--allow-ffi` is granted on
   * Linux and falls back to read/write per file-system pair where the kernel
   * refuses; `"always"` fails a file instead of falling back; `"never"` moves
   * every byte through ferry's buffers (small files included).
   * @default {"auto"}
   */
  offload?: OffloadMode;
  /**
   * What is checked before a copy is published. `"size"`: its size.
   * `"source"`: also its content: the source is hashed while it is copied,
   * the written temporary file is hashed again, and the file is published
   * only when both digests match (otherwise it fails as corrupted on transfer).
   * @default {"size"}
   */
  verify?: "size" | "source";
  /**
   * Flush every copy to stable storage (`fsync`) before it gets its final
   * name, and every destination directory after its files are published, so
   * that after a power cut or a crash a final name never holds a partial
   * file. Each flush waits for the storage: on a local disk the copy then
   * runs at the disk's speed rather than the page cache's; an NFS client
   * already writes a file back when it is closed. Off by default, as in cp,
   * rsync and rclone.
   * @default {false}
   */
  fsync?: boolean;
  /**
   * Before writing anything, compare the bytes the batch writes on each
   * destination file system with its free space, and refuse the batch
   * ({@linkcode InputError}, nothing touched) when they cannot fit. Needs
   * `--allow-sys=statfs`; without it there is no check.
   * @default {true}
   */
  spaceCheck?: boolean;
  /**
   * Give copies (files and folders) their source's owner and group, as
   * `cp -a` and `rsync -a` do. Only root may; for anyone else (or on a share
   * that squashes root) the copies stay the user's. Modes and modification
   * times are always kept.
   * @default {false}
   */
  preserveOwner?: boolean;
  /**
   * Compute a checksum of every file's source bytes in flight (reported as
   * `hash` on each file). Hashing moves the bytes through ferry's buffers, so
   * copy offload is not used for hashed files.
   * @default {"xxh64" with verify "source", otherwise none}
   */
  hash?: HashAlgorithm;
  /**
   * Write an ASC MHL v2.0 generation into each destination root (a copied
   * directory, or the folder a copied file lands in): `ascmhl/` with the
   * manifest of the files this batch published and the chain file.
   * Implies hashing (`hash` defaults to xxh64).
   * @default {false}
   */
  mhl?: boolean;
  /**
   * What to do when a destination file exists: fail that file, overwrite it,
   * skip it, or update it (skip it when it has the source's size and
   * modification time, otherwise overwrite it).
   * @default {"error"}
   */
  existing?: ExistingPolicy;
  /**
   * An id for this batch, echoed in the result and the start event.
   * @default {a random UUID}
   */
  batchId?: string;
  /** Cancels the batch: workers stop within one buffer, temporary files are removed. */
  signal?: AbortSignal;
  /** Terminates the workers at once (a second Ctrl-C); temporary files are still removed. */
  killSignal?: AbortSignal;
  /**
   * Interval between progress events in milliseconds.
   * @default {100}
   */
  progressIntervalMs?: number;
  /** Called once with the plan's totals before anything is written. */
  onStart?: (info: StartInfo) => void;
  /** Called with throttled progress snapshots, from the main thread. */
  onProgress?: (progress: Progress) => void;
  /** Called once per file when it is published, skipped or failed. */
  onFile?: (file: FileResult) => void;
  /** Called when one chunk of a chunked file has been written completely. */
  onChunk?: (file: FileTask, chunk: Chunk) => void;
}

interface FileState {
  task: FileTask;
  /** Set when the file is published, skipped or failed. */
  result?: FileResult;
  /** The file's position in the plan: its ranges' tag on the pool. */
  tag: number;
  /** Bytes of this file counted as done in the progress. */
  counted: number;
  /** Bytes of this file copied by copy_file_range. */
  offloadedBytes: number;
  /** The source's digest, computed in flight. */
  sourceDigest?: string | undefined;
  /** Whether the written copy was hashed again and matched. */
  verified: boolean;
  /** Moved by a rename: its bytes never moved. */
  renamed?: boolean;
}

/** A copy loop noticed the cancel flag. */
class Stopped extends Error {}

/**
 * Transfers a batch of `{src, dst}` mappings: the TypeScript form of the
 * original tool's `apply_mappings_multithreaded(mappings, operation_type,
 * max_workers, file_workers)`.
 *
 * A file that fails (unreadable source, no space, permission denied) is
 * reported in the result and the batch goes on; the promise rejects only for
 * bad input (before anything is written) and for a cancel.
 *
 * Requires `--allow-read` on sources and destinations and `--allow-write` on
 * destinations (and on sources for a move). Chunk workers also need read
 * access to ferry's `workers/` module.
 *
 * @param mappings The `{src, dst}` pairs.
 * @param options Concurrency, chunking, policy, cancel and event callbacks.
 * @returns The per-file results and totals.
 * @throws {InputError} When a mapping is unusable; nothing has been touched.
 * @throws {CancelledError} When `signal` aborts; temporary files are gone.
 * @throws {RangeError} When an option is out of range.
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
  const {
    operation = "copy",
    maxWorkers = DEFAULT_MAX_WORKERS,
    fileWorkers = DEFAULT_FILE_WORKERS,
    smallFileWorkers = DEFAULT_SMALL_FILE_WORKERS,
    bufferBytes = DEFAULT_BUFFER_BYTES,
    existing = "error",
    batchId = crypto.randomUUID(),
    progressIntervalMs = DEFAULT_PROGRESS_INTERVAL_MS,
    signal,
  } = options;
  checkOptions(options, {
    maxWorkers,
    fileWorkers,
    smallFileWorkers,
    bufferBytes,
    operation,
    existing,
  });
  const offload = options.offload ?? "auto";
  if (!["auto", "never", "always"].includes(offload)) {
    throw new RangeError(`Invalid offload '${offload}': expected "auto", "never" or "always"`);
  }
  if (offload === "always" && !offloadAvailable()) {
    throw new RangeError(`Offload "always" needs Linux and the --allow-ffi permission`);
  }
  const planOptions = planOptionsFor(options);
  const plan = await planTransfer(mappings, planOptions);
  const offloadMode = offload === "auto" ? (offloadAvailable() ? "auto" : "never") : offload;
  const needs = await spaceNeeds(plan, { mayClone: offloadMode !== "never" });
  if (options.spaceCheck ?? true) assertFits(needs);

  const verify = options.verify ?? "size";
  if (verify !== "size" && verify !== "source") {
    throw new RangeError(`Invalid verify '${verify}': expected "size" or "source"`);
  }
  const hash = options.hash ?? (verify === "source" || options.mhl ? DEFAULT_HASH : undefined);
  if (hash !== undefined) await createHasher(hash); // rejects an unknown algorithm early
  const batch = new Batch(options, plan.files, {
    verify,
    hash,
    existing,
    operation,
    bufferBytes,
    maxWorkers,
    offload: offloadMode,
    tightDevices: tightDevices(needs),
  });
  options.onStart?.({
    batchId,
    operation,
    files: plan.files.length,
    bytes: plan.bytesTotal,
    bytesToCopy: plan.bytesToCopy,
    chunks: plan.chunksTotal,
    dirs: plan.dirs.length,
  });
  const ticker = options.onProgress === undefined
    ? undefined
    : setInterval(() => options.onProgress!(batch.progress(startMs)), progressIntervalMs);
  const onAbort = (): void => batch.cancel();
  const onKill = (): void => batch.kill();
  signal?.addEventListener("abort", onAbort);
  options.killSignal?.addEventListener("abort", onKill);
  let manifests: ManifestOutcome[] | undefined;
  try {
    if (signal?.aborted) batch.cancel();
    await batch.reclaim(plan.strayTemps);
    await batch.makeDirs(plan.dirs, planOptions);
    const large = batch.states.filter((s) => s.task.chunks.length > 0);
    const small = batch.states.filter((s) => s.task.chunks.length === 0);
    await Promise.all([
      forEachLimit(large, fileWorkers, (state) => batch.runFile(state)),
      forEachLimit(small, smallFileWorkers, (state) => batch.runFile(state)),
    ]);
    // Every temporary is gone: the leases go before the folders get their
    // source's times (removing a lease file would change them again).
    await batch.releaseLeases();
    // Before the folders get their source's modes: a camera card's are read-only.
    if (options.mhl && hash !== undefined && !batch.cancelled) {
      manifests = await writeManifests(plan, batch.results(), hash, options.fsync ?? false);
    }
    await batch.finishDirs(plan.dirs);
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    signal?.removeEventListener("abort", onAbort);
    options.killSignal?.removeEventListener("abort", onKill);
    await batch.closePool();
    if (batch.cancelled) await batch.cleanUpAfterCancel();
    await batch.releaseLeases();
  }
  const files = batch.results();
  // A file that never ran ends too: as cancelled, with its own event.
  batch.states.forEach((state, i) => {
    if (state.result === undefined) options.onFile?.(files[i]!);
  });
  const totals = summarize(files);
  const elapsedMs = performance.now() - startMs;
  const result: TransferResult = {
    batchId,
    operation,
    files,
    totals,
    elapsedMs,
    // A rename moves no bytes: the rate is of the bytes that were copied.
    bytesPerSecond: elapsedMs > 0
      ? ((totals.bytesDone - files.reduce((n, f) => n + (f.renamed ? f.bytes : 0), 0)) * 1000) /
        elapsedMs
      : 0,
    temporaries: batch.temporaries,
    ok: totals.filesFailed === 0 && !batch.cancelled &&
      (manifests ?? []).every((m) => m.error === undefined),
  };
  if (manifests !== undefined) result.manifests = manifests;
  if (batch.cancelled) throw new CancelledError(result, signal?.reason);
  return result;
}

/**
 * The planning part of transfer options, with the same defaults as
 * {@linkcode applyMappings}: what a dry run plans is what the transfer does.
 *
 * @param options Transfer options.
 * @returns The options for {@linkcode planTransfer}.
 *
 * @example
 * ```ts
 * import { planOptionsFor } from "../../mod.ts";
 *
 * console.log(planOptionsFor({ maxWorkers: 2 }).workers); // 2
 * ```
 */
export function planOptionsFor(options: TransferOptions): PlanOptions {
  const planOptions: PlanOptions = {
    operation: options.operation ?? "copy",
    existing: options.existing ?? "error",
    workers: options.maxWorkers ?? DEFAULT_MAX_WORKERS,
  };
  if (options.cutoffBytes !== undefined) planOptions.cutoffBytes = options.cutoffBytes;
  if (options.chunkBytes !== undefined) planOptions.chunkBytes = options.chunkBytes;
  return planOptions;
}

/**
 * Copies one file or directory tree to `dst` (the path the copy gets).
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @param src The file or directory to copy.
 * @param dst The path of the copy (for a directory: the copied directory itself).
 * @param options See {@linkcode TransferOptions}; `operation` is ignored.
 * @returns The per-file results and totals.
 * @throws {InputError} When the mapping is unusable; nothing has been touched.
 * @throws {CancelledError} When `signal` aborts.
 *
 * @example
 * ```ts
 * import { copy } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * await Deno.writeTextFile(src, "a movie");
 * const result = await copy(src, `${src}.mov`);
 * console.log(result.files[0]?.status); // "copied"
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
 * @returns The per-file results and totals.
 * @throws {InputError} When the mapping is unusable; nothing has been touched.
 * @throws {CancelledError} When `signal` aborts.
 *
 * @example
 * ```ts
 * import { move } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const result = await move(src, `${src}.moved`);
 * console.log(result.files[0]?.status); // "moved"
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

function checkOptions(
  options: TransferOptions,
  values: {
    maxWorkers: number;
    fileWorkers: number;
    smallFileWorkers: number;
    bufferBytes: number;
    operation: string;
    existing: string;
  },
): void {
  for (
    const [name, value, min, max] of [
      ["maxWorkers", values.maxWorkers, 1, MAX_WORKERS_LIMIT],
      ["fileWorkers", values.fileWorkers, 1, FILE_WORKERS_LIMIT],
      ["smallFileWorkers", values.smallFileWorkers, 1, FILE_WORKERS_LIMIT],
      ["bufferBytes", values.bufferBytes, 4096, MAX_BUFFER_BYTES],
    ] as const
  ) {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(
        `Invalid ${name} '${value}': expected a whole number from ${min} to ${max}`,
      );
    }
  }
  if (values.operation !== "copy" && values.operation !== "move") {
    throw new RangeError(`Invalid operation '${values.operation}': expected "copy" or "move"`);
  }
  if (!["error", "overwrite", "skip", "update", "checksum"].includes(values.existing)) {
    throw new RangeError(
      `Invalid existing '${values.existing}': expected "error", "overwrite", "skip", "update" or "checksum"`,
    );
  }
  if (options.batchId !== undefined && typeof options.batchId !== "string") {
    throw new InputError(`Invalid batchId: expected a string`);
  }
}

/**
 * One ASC MHL generation per destination root in which every file of the
 * batch was delivered: the files this batch published, with the digest of
 * their source, and the files it skipped that the root's history does not
 * record yet (a rerun of an interrupted delivery), with their source's digest
 * too. A root with a failed or cancelled file gets no generation, so that no
 * history calls an incomplete delivery complete; its rerun records it.
 */
async function writeManifests(
  plan: TransferPlan,
  files: readonly FileResult[],
  algorithm: HashAlgorithm,
  fsync: boolean,
): Promise<ManifestOutcome[]> {
  const roots = new Map<number, string>();
  for (const dir of plan.dirs) if (!roots.has(dir.mapping)) roots.set(dir.mapping, dir.dst);
  interface Group {
    published: { task: FileTask; digest: string }[];
    skipped: FileTask[];
    undelivered: number;
    dirs: string[];
  }
  const byRoot = new Map<string, Group>();
  const rel = (root: string, path: string): string => relative(root, path).split(sep).join("/");
  const groupOf = (root: string): Group => {
    let group = byRoot.get(root);
    if (!group) byRoot.set(root, group = { published: [], skipped: [], undelivered: 0, dirs: [] });
    return group;
  };
  plan.files.forEach((task, i) => {
    const file = files[i]!;
    const group = groupOf(roots.get(task.mapping) ?? dirname(task.dst));
    if (file.status === "skipped") group.skipped.push(task);
    else if (file.hash !== undefined && (file.status === "copied" || file.status === "moved")) {
      group.published.push({ task, digest: file.hash.digest });
    } else group.undelivered++;
  });
  for (const dir of plan.dirs) {
    const root = roots.get(dir.mapping)!;
    if (dir.dst !== root) byRoot.get(root)?.dirs.push(rel(root, dir.dst));
  }
  const outcomes: ManifestOutcome[] = [];
  // Loaded here: the XML parser and the ignore matcher cost start-up that a
  // copy without --mhl should not pay.
  const { writeGeneration } = await import("../integrity/mhl/generation_writer.ts");
  const { loadHistory, nestedRootsOf, recordOf } = await import("../integrity/mhl/history.ts");
  await using hasher = new FileHasher();
  for (const [root, group] of byRoot) {
    if (group.undelivered > 0) {
      outcomes.push({
        root,
        manifests: [],
        notWritten: `${group.undelivered} of its files were not delivered`,
      });
      continue;
    }
    try {
      const paths = [...group.published.map((p) => p.task.dst), ...group.skipped.map((t) => t.dst)]
        .map((dst) => rel(root, dst));
      const history = await loadHistory(root, await nestedRootsOf(root, paths));
      const entries: GenerationFile[] = group.published.map(({ task, digest }) => ({
        path: rel(root, task.dst),
        size: task.size,
        mtime: task.mtime,
        hashes: [{ algorithm, digest }],
      }));
      for (const task of group.skipped) {
        const path = rel(root, task.dst);
        if (recordOf(history, path) !== undefined) continue;
        // Delivered by an earlier run that recorded nothing: record what the delivery must hold.
        const digest = await hasher.hash(task.src, algorithm, task.size);
        entries.push({ path, size: task.size, mtime: task.mtime, hashes: [{ algorithm, digest }] });
      }
      if (entries.length === 0 && history.chain.length > 0) {
        // A rerun onto a delivery its history already covers: nothing new to record.
        outcomes.push({ root, manifests: [] });
        continue;
      }
      const manifests = await writeGeneration(root, entries, {
        process: "transfer",
        dirs: group.dirs,
        fsync,
        history,
      });
      outcomes.push({ root, manifests });
    } catch (error) {
      const message = error instanceof MhlError
        ? error.message
        : `cannot record the ASC MHL generation of '${root}': ${describeError(error)}`;
      outcomes.push({ root, manifests: [], error: message });
    }
  }
  return outcomes;
}

/** Whether two files hold the same bytes, read side by side in 1 MiB steps. */
async function sameBytes(a: string, b: string): Promise<boolean> {
  using left = await Deno.open(a, { read: true });
  using right = await Deno.open(b, { read: true });
  const x = new Uint8Array(MIB);
  const y = new Uint8Array(MIB);
  for (;;) {
    const [n, m] = await Promise.all([readFull(left, x), readFull(right, y)]);
    if (n !== m) return false;
    if (n === 0) return true;
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) return false;
  }
}

/** Fills `into` from `file` as far as the file goes; returns the bytes read. */
async function readFull(file: Deno.FsFile, into: Uint8Array): Promise<number> {
  let at = 0;
  while (at < into.length) {
    const got = await file.read(into.subarray(at));
    if (got === null) break;
    at += got;
  }
  return at;
}

/** A destination folder that could not be made: names the folder that failed, not its child. */
class DirectoryError extends Error {
  /** The folder that could not be made. */
  readonly dir: string;

  constructor(dir: string, cause: unknown) {
    super(`cannot create the destination folder '${dir}': ${describeError(cause)}`, { cause });
    this.name = "DirectoryError";
    this.dir = dir;
  }
}

/**
 * A file's failure in plain words, saying which side it was: Deno's message
 * ends with the path it was working on.
 */
function sideOf(error: unknown, task: FileTask): string {
  const words = describeError(error);
  if (error instanceof DirectoryError) return words;
  const path = error instanceof Error ? /'([^']+)'(?:[^']*)$/.exec(error.message)?.[1] : undefined;
  if (path === undefined) return words;
  return path === task.src
    ? `cannot read the source: ${words}`
    : `cannot write the destination: ${words}`;
}

/** The mutable state of one running batch. */
class Batch {
  readonly states: FileState[];
  cancelled = false;
  #options: TransferOptions;
  #existing: ExistingPolicy;
  #operation: "copy" | "move";
  #offload: OffloadMode;
  #verify: "size" | "source";
  #hash: HashAlgorithm | undefined;
  #bufferBytes: number;
  /** File-system pairs (`srcDev:dstDev`) where copy_file_range was refused. */
  #noOffload = new Set<string>();
  /** libc for same-file-system offload from this thread, loaded on first use. */
  #kernelHere: KernelCopyAsync | null | undefined;
  #devs = new Map<string, Promise<number>>();
  #control: ControlBlock;
  #pool: WorkerPool;
  #meter = new RateMeter();
  /** Bytes finished outside the workers' counters (whole files, renames), minus failed partials. */
  #extraBytes = 0;
  #bytesTotal = 0;
  #filesDone = 0;
  #inFlight = new Set<FileState>();
  #temps = new Set<string>();
  #createdDirs: string[] = [];
  #dirs = new Map<string, Promise<void>>();
  #failedDirs = new Map<string, string>();
  #renamedMappings = new Set<number>();
  /** Destination file systems the batch (nearly) fills: see {@linkcode tightDevices}. */
  #tight: Set<number>;

  constructor(
    options: TransferOptions,
    files: FileTask[],
    settings: {
      verify: "size" | "source";
      hash: HashAlgorithm | undefined;
      existing: ExistingPolicy;
      operation: "copy" | "move";
      bufferBytes: number;
      maxWorkers: number;
      offload: OffloadMode;
      tightDevices: Set<number>;
    },
  ) {
    this.#tight = settings.tightDevices;
    this.#options = options;
    this.#existing = settings.existing;
    this.#operation = settings.operation;
    this.#offload = settings.offload;
    this.#verify = settings.verify;
    this.#hash = settings.hash;
    this.#bufferBytes = settings.bufferBytes;
    this.#control = new ControlBlock(settings.maxWorkers);
    this.#pool = new WorkerPool(this.#control, { bufferBytes: settings.bufferBytes });
    this.states = files.map((task, tag) => ({
      task,
      tag,
      counted: 0,
      offloadedBytes: 0,
      verified: false,
    }));
    for (const state of this.states) {
      if (state.task.action !== "skip" && state.task.action !== "fail") {
        this.#bytesTotal += state.task.size;
      }
    }
  }

  cancel(): void {
    this.cancelled = true;
    this.#control.cancel();
  }

  /** Stray temporaries found, and this run's own that could not be removed. */
  readonly temporaries: TemporaryReport = { reclaimed: [], leftAlone: [], notRemoved: [] };
  #leases = new Leases();

  /**
   * Removes the temporaries (and leases) that killed runs left in the
   * destination folders, never one whose run may still be going.
   */
  async reclaim(paths: readonly string[]): Promise<void> {
    const states = new Map<string, Promise<"gone" | "running">>();
    // Temporaries first, each run's lease after them.
    const ordered = [...paths].sort((a, b) => Number(!isTempName(a)) - Number(!isTempName(b)));
    for (const path of ordered) {
      const temp = isTempName(path);
      const run = temp ? tempRunOf(path) : leaseRunOf(basename(path));
      if (run === null) {
        this.temporaries.leftAlone.push(path); // a run without a lease: never another's to remove
        continue;
      }
      const key = `${dirname(path)}\0${run}`;
      let state = states.get(key);
      if (state === undefined) states.set(key, state = leaseState(dirname(path), run));
      if ((await state) === "running") {
        if (temp) this.temporaries.leftAlone.push(path);
        continue;
      }
      try {
        const info = await Deno.lstat(path);
        await Deno.remove(path);
        if (temp) this.temporaries.reclaimed.push({ path, bytes: info.size });
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        this.temporaries.notRemoved.push({ path, reason: describeError(error) });
      }
    }
  }

  /** Ends this run's leases; every temporary of it is gone by then. */
  async releaseLeases(): Promise<void> {
    await this.#leases.releaseAll();
  }

  async #removeTemp(path: string): Promise<void> {
    try {
      await removeIfPresent(path);
    } catch (error) {
      this.temporaries.notRemoved.push({ path, reason: describeError(error) });
    }
  }

  /** Every file's result, in plan order; a file that never ran is `cancelled`. */
  results(): FileResult[] {
    return this.states.map((s): FileResult =>
      s.result ?? { src: s.task.src, dst: s.task.dst, bytes: s.task.size, status: "cancelled" }
    );
  }

  kill(): void {
    this.cancel();
    this.#pool.terminate();
  }

  async closePool(): Promise<void> {
    await this.#pool.close();
    this.#kernelHere?.close(); // every call has ended: every file has
    this.#kernelHere = undefined;
  }

  progress(startMs: number): Progress {
    const now = performance.now();
    const bytesDone = this.#control.totalBytes() + this.#extraBytes;
    this.#meter.sample(now, bytesDone);
    return {
      bytesDone,
      bytesTotal: this.#bytesTotal,
      filesDone: this.#filesDone,
      filesTotal: this.states.length,
      bytesPerSecond: this.#meter.bytesPerSecond,
      etaMs: this.#meter.etaMs(this.#bytesTotal),
      elapsedMs: now - startMs,
      inFlight: [...this.#inFlight].map((s) => s.task.src),
    };
  }

  /** Creates destination directories (parents first), or renames whole trees for a move. */
  async makeDirs(dirs: readonly DirTask[], planOptions: PlanOptions): Promise<void> {
    for (const dir of dirs) {
      if (this.cancelled) return;
      if (this.#renamedMappings.has(dir.mapping)) continue;
      const failedParent = this.#failedParentOf(dir.dst);
      if (failedParent !== undefined) continue;
      try {
        if (dir.rename) {
          await this.#ensureDir(dirname(dir.dst));
          try {
            await Deno.rename(dir.src, dir.dst);
            if (this.#options.fsync) await flushToStorage(dirname(dir.dst));
            this.#renamedMappings.add(dir.mapping);
            continue;
          } catch (error) {
            if ((error as { code?: string }).code !== "EXDEV") throw error;
            this.#unrenameMapping(dir.mapping, planOptions);
          }
        }
        await this.#ensureDir(dir.dst);
      } catch (error) {
        this.#failedDirs.set(
          dir.dst,
          error instanceof DirectoryError
            ? error.message + (error.dir === dir.dst ? "" : ` (on the way to '${dir.dst}')`)
            : `cannot create the directory '${dir.dst}': ${describeError(error)}`,
        );
      }
    }
  }

  /** A directory rename across file systems was refused: copy that tree instead. */
  #unrenameMapping(mapping: number, planOptions: PlanOptions): void {
    for (const state of this.states) {
      if (state.task.mapping !== mapping || state.task.action !== "in-dir-rename") continue;
      state.task.action = "copy";
      state.task.chunks = planChunks(state.task.size, planOptions);
    }
  }

  #failedParentOf(path: string): string | undefined {
    for (let at = dirname(path); at !== dirname(at); at = dirname(at)) {
      const reason = this.#failedDirs.get(at);
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  /**
   * mkdir -p that remembers what it created, for clean-up after a cancel.
   * It tries the deepest directory first and climbs only on NotFound, so it
   * needs no access above the first existing directory. Each directory is
   * made or checked once per batch, however many files go into it.
   */
  #ensureDir(path: string): Promise<void> {
    let done = this.#dirs.get(path);
    if (done === undefined) {
      done = this.#makeDir(path);
      this.#dirs.set(path, done);
    }
    return done;
  }

  async #makeDir(path: string): Promise<void> {
    try {
      await Deno.mkdir(path);
      this.#createdDirs.push(path);
      // A new directory's own name must reach storage before the files in it count as done.
      if (this.#options.fsync) await flushToStorage(dirname(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && dirname(path) !== path) {
        await this.#ensureDir(dirname(path));
        return this.#makeDir(path);
      }
      if (error instanceof DirectoryError) throw error;
      if (!(error instanceof Deno.errors.AlreadyExists)) throw new DirectoryError(path, error);
      if (!(await Deno.stat(path)).isDirectory) {
        throw new DirectoryError(path, new Error("it exists and is not a directory"));
      }
    }
  }

  /** After the files: give created directories their source modes; remove moved source trees. */
  async finishDirs(dirs: readonly DirTask[]): Promise<void> {
    if (this.cancelled) return;
    const created = new Set(this.#createdDirs);
    for (const dir of [...dirs].reverse()) {
      if (this.#renamedMappings.has(dir.mapping)) continue;
      if (created.has(dir.dst)) {
        // Deepest first, after their files: a folder's time is its source's, as with cp -a.
        if (this.#chowns() && dir.uid !== null && dir.gid !== null) {
          await Deno.chown(dir.dst, dir.uid, dir.gid).catch(() => {});
        }
        await Deno.chmod(dir.dst, dir.mode).catch(() => {});
        if (dir.mtime !== null) await Deno.utime(dir.dst, dir.mtime, dir.mtime).catch(() => {});
      }
      if (this.#operation === "move") {
        // Only empty directories go: a file that failed keeps its directory.
        await Deno.remove(dir.src).catch(() => {});
      }
    }
  }

  async cleanUpAfterCancel(): Promise<void> {
    for (const tmp of this.#temps) await this.#removeTemp(tmp);
    this.#temps.clear();
    for (const dir of [...this.#createdDirs].reverse()) {
      await Deno.remove(dir).catch(() => {}); // only if empty
    }
  }

  async runFile(state: FileState): Promise<void> {
    const { task } = state;
    if (task.action === "skip") return this.#finish(state, "skipped", task.reason);
    if (task.action === "fail") {
      return this.#fail(state, task.reason ?? "cannot be copied", undefined, task.code ?? "io");
    }
    if (task.action === "finish-move") return await this.#finishMove(state);
    if (task.action === "compare" && await this.#sameAsSource(state)) return;
    if (task.action === "in-dir-rename") {
      if (this.#renamedMappings.has(task.mapping)) {
        this.#extraBytes += task.size;
        try {
          await this.#hashMoved(state);
        } catch (error) {
          return this.#fail(state, `moved, but cannot be hashed: ${describeError(error)}`, error);
        }
        state.renamed = true;
        return this.#finish(state, "moved");
      }
    }
    if (this.cancelled) return;
    const failedParent = this.#failedParentOf(task.dst);
    if (failedParent !== undefined) return this.#fail(state, failedParent);
    this.#inFlight.add(state);
    try {
      if (task.action === "rename" && await this.#tryRename(state)) return;
      await this.#copyAndPublish(state);
    } catch (error) {
      if (this.cancelled) return;
      this.#fail(state, sideOf(error, task), error);
    } finally {
      this.#inFlight.delete(state);
    }
  }

  /**
   * A move that an earlier run published and could not finish (a crash
   * between publishing and removing the source): the destination has the
   * source's size and time, and its bytes (hashed when the batch hashes,
   * compared otherwise: a crash leaves only the few files that were in flight
   * to look at). Then the source is removed and the file counts as moved.
   */
  async #finishMove(state: FileState): Promise<void> {
    const { task } = state;
    if (this.cancelled) return;
    try {
      const [src, dst] = await Promise.all([Deno.lstat(task.src), Deno.lstat(task.dst)]);
      if (src.dev === dst.dev && src.ino !== null && src.ino === dst.ino) {
        return this.#fail(
          state,
          "source and destination are one file (hard links); neither is removed",
          undefined,
          "same-file",
        );
      }
      if (this.#hash !== undefined) {
        const [a, b] = await Promise.all([
          hashFile(task.src, this.#hash),
          hashFile(task.dst, this.#hash),
        ]);
        if (a !== b) {
          return this.#fail(
            state,
            `the destination has the source's size and time but not its content (${this.#hash} ${b}, the source's ${a}); both are left alone`,
            undefined,
            "differs",
          );
        }
        state.sourceDigest = a;
        state.verified = true;
      } else if (!(await sameBytes(task.src, task.dst))) {
        // Size and time can match by chance (two frames of one size written in
        // one second): the source is only removed when the bytes match too.
        return this.#fail(
          state,
          "the destination has the source's size and time but not its content; both are left alone",
          undefined,
          "differs",
        );
      }
      if (this.#options.fsync) await flushToStorage(task.dst);
      await Deno.remove(task.src);
    } catch (error) {
      return this.#fail(state, `cannot finish the move: ${describeError(error)}`, error);
    }
    this.#extraBytes += task.size;
    this.#finish(state, "moved", task.reason);
  }

  /**
   * The checksum policy: a destination with the source's bytes is left alone
   * (a move removes the source); one that differs is replaced.
   *
   * @returns `true` when the file is done (the same bytes, or a failure).
   */
  async #sameAsSource(state: FileState): Promise<boolean> {
    const { task } = state;
    let same: boolean;
    try {
      same = await sameBytes(task.src, task.dst);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false; // gone since planning: copy it
      this.#fail(state, `cannot compare with the destination: ${describeError(error)}`, error);
      return true;
    }
    if (!same) return false;
    if (this.#operation === "move") {
      await this.#finishMove(state);
      return true;
    }
    this.#finish(state, "skipped", "already there (the same bytes)");
    return true;
  }

  /** A renamed file's bytes never passed through ferry: hash it where it now is, when asked to. */
  async #hashMoved(state: FileState): Promise<void> {
    if (this.#hash === undefined || state.task.linkTarget !== undefined) return;
    state.sourceDigest = await hashFile(state.task.dst, this.#hash);
  }

  /** Same file system: a rename (hard link + unlink unless overwriting, so nothing is clobbered). */
  async #tryRename(state: FileState): Promise<boolean> {
    const { task } = state;
    try {
      await this.#ensureDir(dirname(task.dst));
      const outcome = this.#overwrites()
        ? await Deno.rename(task.src, task.dst).then(() => "published" as const)
        : await publish(task.src, task.dst, "error");
      if (outcome === "exists") {
        this.#existsAtPublish(state);
        return true;
      }
    } catch (error) {
      if ((error as { code?: string }).code === "EXDEV") return false;
      throw error;
    }
    if (!(await this.#flushDirectoryOf(state, "moved"))) return true;
    this.#extraBytes += task.size;
    await this.#hashMoved(state);
    state.renamed = true;
    this.#finish(state, "moved");
    return true;
  }

  /**
   * With the `fsync` option, flushes the directory a file was just published
   * into, so that its name is on storage before the file counts as done.
   * Fails the file and returns `false` when the flush fails.
   */
  async #flushDirectoryOf(state: FileState, done: string): Promise<boolean> {
    if (!this.#options.fsync) return true;
    try {
      await flushToStorage(dirname(state.task.dst));
      return true;
    } catch (error) {
      const reason = `${done}, but its directory could not be flushed to storage`;
      this.#fail(state, `${reason}: ${describeError(error)}`, error);
      return false;
    }
  }

  async #copyAndPublish(state: FileState): Promise<void> {
    const { task } = state;
    await this.#ensureDir(dirname(task.dst));
    const tmp = tempPathFor(task.dst, await this.#leases.hold(dirname(task.dst)));
    this.#temps.add(tmp);
    try {
      if (!(await this.#roomFor(state))) return;
      if (task.action === "symlink") {
        await Deno.symlink(task.linkTarget!, tmp);
      } else {
        let ok = false;
        let hasMode = false;
        if (
          this.#hash !== undefined && task.chunks.length === 0 && task.size > this.#bufferBytes
        ) {
          // Hashing frames would make the main thread the bottleneck: whole
          // files larger than one buffer go to the workers too, as hashed
          // ranges. Smaller ones are read, hashed and written in one step
          // here, which costs less than a round trip through a worker.
          task.chunks = [{ offset: 0, length: task.size }];
        }
        if (task.sparse === true && task.chunks.length === 0 && offloadAvailable()) {
          // Holes are found with FFI on the workers: a sparse file goes there whole.
          task.chunks = [{ offset: 0, length: task.size }];
        }
        if (task.chunks.length === 0) {
          const copied = await this.#copyWhole(state, tmp);
          ok = copied !== undefined;
          hasMode = copied === true;
        } else {
          ok = await this.#copyChunks(state, tmp);
        }
        if (!ok) return;
        await this.#checkSize(state, tmp);
        if (this.#verify === "source") {
          const written = await this.#hashWritten(state, tmp);
          if (written === undefined) return; // cancelled
          if (written !== state.sourceDigest) {
            return this.#fail(
              state,
              `corrupted on transfer: the source's ${this.#hash} is ${state.sourceDigest}, the copy's is ${written}`,
              undefined,
              "corrupted",
            );
          }
          state.verified = true;
        }
        if (this.#chowns() && task.uid !== null && task.gid !== null) {
          // Before chmod: chown clears setuid bits.
          await Deno.chown(tmp, task.uid, task.gid).catch(() => {});
        }
        if (!hasMode || this.#chowns()) await Deno.chmod(tmp, task.mode);
        if (task.mtime !== null) await Deno.utime(tmp, task.atime ?? task.mtime, task.mtime);
        if (this.#options.fsync) {
          await flushToStorage(tmp).catch((error) => {
            throw new Error(`cannot flush the copy to storage: ${describeError(error)}`, {
              cause: error,
            });
          });
        }
      }
      if (this.cancelled) return;
      const outcome = await publish(tmp, task.dst, this.#overwrites() ? "overwrite" : "error");
      if (outcome === "exists") return this.#existsAtPublish(state);
      this.#temps.delete(tmp);
      if (!(await this.#flushDirectoryOf(state, "published"))) return;
      if (this.#operation === "move") {
        try {
          await Deno.remove(task.src);
        } catch (error) {
          return this.#fail(
            state,
            `the copy is complete, but the source could not be removed: ${describeError(error)}`,
            error,
          );
        }
      }
      this.#finish(state, this.#operation === "move" ? "moved" : "copied");
    } finally {
      if (this.#temps.delete(tmp)) await this.#removeTemp(tmp);
    }
  }

  /**
   * Whether copies get their source's owner. Only root may give files away;
   * for anyone else (and on shares that squash root) chown fails and is let
   * go, as cp -a lets it go: the copy is then the user's.
   */
  #chowns(): boolean {
    return this.#options.preserveOwner === true;
  }

  /** Whether a published copy replaces what is at its destination. */
  #overwrites(): boolean {
    return this.#existing === "overwrite" || this.#existing === "update" ||
      this.#existing === "checksum";
  }

  #existsAtPublish(state: FileState): void {
    if (this.#existing === "skip") {
      this.#finish(state, "skipped", "the destination exists");
    } else {
      this.#fail(
        state,
        "the destination appeared during the copy and was left alone",
        undefined,
        "exists",
      );
    }
  }

  /**
   * A file below the cutoff, from the main thread: one in-kernel
   * `Deno.copyFile` (which keeps the mode), or with offload `"never"` a
   * read/write loop. Returns whether the copy has the source's mode already.
   */
  async #copyWhole(state: FileState, tmp: string): Promise<boolean | undefined> {
    const { task } = state;
    try {
      if (this.#hash !== undefined) state.sourceDigest = await this.#readWriteWhole(task, tmp);
      else if (this.#offload === "never") await this.#readWriteWhole(task, tmp);
      else await Deno.copyFile(task.src, tmp);
    } catch (error) {
      if (error instanceof Stopped) return undefined;
      const side = await Deno.open(task.src, { read: true }).then(
        (file) => (file.close(), "write the destination"),
        () => "read the source",
      );
      this.#fail(state, `cannot ${side}: ${describeError(error)}`, error);
      return undefined;
    }
    this.#extraBytes += task.size;
    state.counted = task.size;
    if (this.cancelled) return undefined;
    return this.#offload !== "never" && this.#hash === undefined;
  }

  /** Copies a whole file through one buffer, hashing it when asked; returns the digest. */
  async #readWriteWhole(task: FileTask, tmp: string): Promise<string | undefined> {
    if (task.size <= this.#bufferBytes) {
      // Two file operations instead of seven: on a share each is a round trip.
      const data = await Deno.readFile(task.src);
      const digest = this.#hash === undefined ? undefined : await hashBytes(this.#hash, data);
      await Deno.writeFile(tmp, data, { createNew: true, mode: 0o600 });
      return digest;
    }
    const hasher = this.#hash === undefined ? undefined : await createHasher(this.#hash);
    using src = await Deno.open(task.src, { read: true });
    using dst = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    const buffer = new Uint8Array(Math.max(1, Math.min(task.size, this.#bufferBytes)));
    for (;;) {
      if (this.cancelled) throw new Stopped();
      const got = await src.read(buffer);
      if (got === null) return hasher?.digest();
      hasher?.update(buffer.subarray(0, got));
      for (let put = 0; put < got;) put += await dst.write(buffer.subarray(put, got));
    }
  }

  /**
   * On a destination the batch (nearly) fills, a file that cannot fit in
   * what is free now fails before its first byte is written.
   */
  async #roomFor(state: FileState): Promise<boolean> {
    const { task } = state;
    if (this.#tight.size === 0 || task.size === 0 || task.action === "symlink") return true;
    const dir = dirname(task.dst);
    if (!this.#tight.has(await this.#devOf(dir))) return true;
    const free = await freeBytesAt(dir);
    if (free === null || free >= task.size) return true;
    this.#failNoRoom(state, free);
    return false;
  }

  #failNoRoom(state: FileState, freeBytes: number): void {
    this.#fail(
      state,
      `no space left on the destination: the file needs ${formatBytes(state.task.size)} and ` +
        `${formatBytes(freeBytes)} are free; nothing of it was written`,
      undefined,
      "no-space",
    );
  }

  /** Reserves a large file's blocks on a nearly full destination (with FFI). */
  async #preallocate(state: FileState, tmp: string): Promise<boolean> {
    const { task } = state;
    if (this.#tight.size === 0 || !this.#tight.has(await this.#devOf(dirname(tmp)))) return true;
    if (this.#kernelHere === undefined) this.#kernelHere = KernelCopyAsync.open();
    if (this.#kernelHere === null || await this.#kernelHere.allocate(tmp, task.size)) return true;
    const free = await freeBytesAt(dirname(tmp));
    if (free === null || free >= task.size) return true; // the file system cannot preallocate
    this.#failNoRoom(state, free);
    return false;
  }

  /** The device of a destination directory, looked up once per directory. */
  #devOf(dir: string): Promise<number> {
    let dev = this.#devs.get(dir);
    if (dev === undefined) {
      dev = Deno.stat(dir).then((info) => info.dev);
      this.#devs.set(dir, dev);
    }
    return dev;
  }

  /** A file at or above the cutoff: its chunks on the worker pool, into a pre-sized temporary file. */
  async #copyChunks(state: FileState, tmp: string): Promise<boolean> {
    const { task } = state;
    try {
      const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
      try {
        await file.truncate(task.size);
      } finally {
        file.close();
      }
    } catch (error) {
      this.#fail(state, `cannot write the destination: ${describeError(error)}`, error);
      return false;
    }
    const hashing = this.#hash !== undefined;
    // Holes stay holes only where ferry reads the data itself, and hashed
    // ranges need every byte: a sparse file is copied sparse without hashing.
    const sparse = task.sparse === true && !hashing;
    if (!sparse && !(await this.#preallocate(state, tmp))) return false;
    const dstDev = this.#offload === "never" || hashing ? -1 : await this.#devOf(dirname(tmp));
    const pair = `${task.dev}:${dstDev}`;
    // Hashing needs the bytes in user space, and holes are skipped in user space: no offload then.
    const offload = this.#offload !== "never" && !hashing && !sparse && !this.#noOffload.has(pair);
    // Read when a worker takes the range: once one range of this pair of file
    // systems has found that the kernel cannot offload, the others skip the try.
    const tryOffload = () => offload && !this.#noOffload.has(pair);
    let step = DEFAULT_OFFLOAD_STEP_BYTES;
    if (offload && task.dev === dstDev) {
      // One file system: the kernel (or the server) copies the whole file in
      // large steps, as cp does. Parallel copy_file_range calls into one file
      // gain nothing there and are serialized per file on network shares.
      task.chunks = [{ offset: 0, length: task.size }];
      step = SAME_FS_OFFLOAD_STEP_BYTES;
      const here = await this.#offloadHere(state, tmp);
      if (this.cancelled) return false;
      if (here === task.size) {
        this.#options.onChunk?.(task, task.chunks[0]!);
        return true;
      }
      // The kernel moves the data (no clone), or a call failed, which only the
      // calling thread could explain: a worker takes the rest.
      task.chunks = [{ offset: here, length: task.size - here }];
    } else if (hashing) {
      // Hashed ranges wait in memory for their turn: keep them small.
      task.chunks = planChunks(task.size, { cutoffBytes: 0, chunkBytes: HASH_CHUNK_BYTES });
    }
    const run = await this.#pool.runRanges(state.tag, task.chunks, (chunk, last) => ({
      src: task.src,
      dst: tmp,
      offset: chunk.offset,
      length: chunk.length,
      offload: tryOffload(),
      offloadRequired: this.#offload === "always",
      offloadStepBytes: step,
      ...(sparse ? { sparse: true } : {}),
      ...(hashing ? { hash: { algorithm: this.#hash!, mode: "copy" as const, last } } : {}),
    }), {
      hashed: hashing,
      onOutcome: (chunk, outcome) => {
        state.counted += outcome.bytes;
        if (outcome.type !== "done") return;
        state.offloadedBytes += outcome.offloadedBytes;
        if (outcome.fallback !== undefined) this.#noOffload.add(pair);
        this.#options.onChunk?.(task, chunk);
      },
    });
    if (run.failure !== undefined) {
      const failure = run.failure;
      const side = failure.side === "source" ? "read the source" : "write the destination";
      const cause = errorFromWorker(failure);
      this.#fail(state, `cannot ${side}: ${describeError(cause)}`, cause);
      return false;
    }
    if (!run.complete) return false; // cancelled
    if (hashing) state.sourceDigest = run.digest;
    return true;
  }

  /**
   * One file system with offload: the kernel (or the server) copies the whole
   * file in large steps, called from this thread, so that no worker has to
   * start for it (a worker start costs 20–40 ms, more than a reflink of a
   * large file). It goes on here only while the kernel clones (a step within
   * {@linkcode CLONE_STEP_MS}): where the kernel moves the data, the same
   * calls made on a worker's own thread were 8 % faster than through
   * nonblocking FFI (2 GiB on tmpfs, 6 rounds), so a worker takes the rest.
   * The cancel flag is checked between steps. Returns the bytes copied; when
   * a call fails, a worker copies the rest and learns why.
   */
  async #offloadHere(state: FileState, tmp: string): Promise<number> {
    if (this.#kernelHere === undefined) this.#kernelHere = KernelCopyAsync.open();
    const kernel = this.#kernelHere;
    if (kernel === null) return 0;
    const { task } = state;
    const fdIn = await kernel.openFile(task.src, false);
    const fdOut = fdIn < 0 ? -1 : await kernel.openFile(tmp, true);
    let done = 0;
    try {
      while (fdOut >= 0 && done < task.size && !this.cancelled) {
        const step = Math.min(SAME_FS_OFFLOAD_STEP_BYTES, task.size - done);
        const started = performance.now();
        const copied = await kernel.copyRange(fdIn, done, fdOut, done, step);
        if (copied <= 0) break;
        done += copied;
        state.counted += copied;
        state.offloadedBytes += copied;
        this.#extraBytes += copied;
        if (performance.now() - started > CLONE_STEP_MS) break;
      }
    } finally {
      if (fdIn >= 0) await kernel.closeFile(fdIn);
      if (fdOut >= 0) await kernel.closeFile(fdOut);
    }
    return done;
  }

  /** Hashes a written file: its ranges read by the workers in parallel, hashed in order. */
  async #hashWritten(state: FileState, path: string): Promise<string | undefined> {
    if (state.task.chunks.length === 0) {
      return await hashBytes(this.#hash!, await Deno.readFile(path));
    }
    const run = await this.#pool.runRanges(
      state.tag,
      state.task.chunks,
      (chunk, last) => hashedReadJob(path, this.#hash!, chunk, last),
      { hashed: true },
    );
    if (run.failure !== undefined) {
      throw new Error(`cannot read the copy back: ${run.failure.message}`);
    }
    return run.complete ? run.digest : undefined;
  }

  /** Size check of the written file, and a check that the source did not change meanwhile. */
  async #checkSize(state: FileState, tmp: string): Promise<void> {
    const { task } = state;
    const [written, source] = await Promise.all([Deno.stat(tmp), Deno.stat(task.src)]);
    if (written.size !== task.size) {
      throw new Error(
        `size check failed: expected ${task.size} bytes, the copy has ${written.size}`,
      );
    }
    if (source.size !== task.size || source.mtime?.getTime() !== task.mtime?.getTime()) {
      throw Object.assign(new Error("the source changed during the copy"), {
        failure: "source-changed",
      });
    }
  }

  #fail(state: FileState, reason: string, cause?: unknown, code?: FailureCode): void {
    const { task } = state;
    if (task.action !== "skip" && task.action !== "fail") this.#bytesTotal -= task.size;
    this.#extraBytes -= state.counted; // counted bytes of a file that is not published
    state.counted = 0;
    const error = new FileTransferError(task.src, task.dst, reason, cause, code);
    this.#finish(state, "failed", reason, error);
  }

  #finish(
    state: FileState,
    status: FileResult["status"],
    reason?: string,
    error?: FileTransferError,
  ): void {
    const result: FileResult = {
      src: state.task.src,
      dst: state.task.dst,
      bytes: state.task.size,
      status,
    };
    if (state.offloadedBytes > 0) result.offloadedBytes = state.offloadedBytes;
    if (state.renamed === true) result.renamed = true;
    if (state.sourceDigest !== undefined && status !== "failed") {
      result.hash = {
        algorithm: this.#hash!,
        digest: state.sourceDigest,
        verified: state.verified,
      };
    }
    if (reason !== undefined) result.reason = reason;
    if (error !== undefined) result.error = error;
    state.result = result;
    this.#filesDone++;
    this.#options.onFile?.(result);
  }
}
