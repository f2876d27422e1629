/**
 * What the parts of one running batch share: its settings and events, the
 * worker pool and its control block (cancel), the counters, the folders and
 * the temporaries, and what the storage taught the run (where offload is
 * refused, which destinations are nearly full).
 *
 * @module
 */

import { dirname } from "node:path";
import {
  ASYNC_FILE_OPS,
  type FileOps,
  type FileSystemKind,
  isLocalFileSystem,
  LocalFolders,
  SYNC_FILE_OPS,
} from "../fs/file_ops.ts";
import { OnceCache } from "../once_cache.ts";
import { LocalCopy } from "../fs/local_copy.ts";
import { LocalCopier } from "./local_copier.ts";
import { KernelCopyAsync } from "../fs/offload.ts";
import type { ResolvedSettings } from "../options.ts";
import type { Chunk, PlannedFile } from "../plan/plan_item.ts";
import { ControlBlock } from "../workers/control.ts";
import { WorkerPool } from "../workers/pool.ts";
import { RateLimit } from "../workers/rate_limit.ts";
import { Accounting } from "./accounting.ts";
import { DestinationDirs } from "./directories.ts";
import type { FileResult } from "./result.ts";
import type { BatchConcurrency } from "./batch_concurrency.ts";
import type { ConcurrencyChange } from "./progress.ts";
import { Temporaries } from "./temporaries.ts";
import type { Journal, JournaledChunk } from "../ledger/journal.ts";
import type { Resumable } from "../ledger/resume_point.ts";
import type { ReadShare } from "../fanout/read_share.ts";
import { FolderLinks } from "../fs/folder_links.ts";

/** The events a batch emits besides progress. */
export interface RunEvents {
  /** Called once per file when it is published, skipped or failed. */
  onFile?: (file: FileResult) => void;
  /** Called when one planned range of a file has been written completely. */
  onChunk?: (file: PlannedFile, chunk: Chunk) => void;
  /** Called when adaptive concurrency changes the streams, with why. */
  onConcurrency?: (change: ConcurrencyChange) => void;
}

/**
 * The largest file copied with synchronous calls between local file systems:
 * the main thread waits for it, well under a millisecond from the page cache.
 */
export const SYNC_MAX_BYTES = 256 * 1024;

/** The shared state of one running batch. */
export class Run {
  /** The plan's settings. */
  readonly settings: ResolvedSettings;
  /** The events. */
  readonly events: RunEvents;
  /** The workers' cancel flag and byte counters. */
  readonly control: ControlBlock;
  /** The chunk workers. */
  readonly pool: WorkerPool;
  /** The bandwidth limit the workers and this thread share (`--bwlimit`). */
  readonly limit: RateLimit = new RateLimit();
  /** Counters, rate and failures. */
  readonly accounting: Accounting;
  /** The destination folders. */
  readonly dirs: DestinationDirs;
  /** This run's temporaries and the strays it found. */
  readonly temporaries = new Temporaries((dir) => this.devOf(dir));
  /** File-system pairs (`srcDev:dstDev`) where copy_file_range was refused. */
  readonly noOffload = new Set<string>();
  /** Which destination folders take hard links: where `link` was refused, files are published without one. */
  readonly links = new FolderLinks();
  /** Sees every file's outcome with its plan item (the ASC MHL generations need both). */
  observe: ((file: PlannedFile, result: FileResult) => void) | undefined;
  /** Called when small local files start going to a worker (`local_copier.ts`). */
  onLocalWorker: (() => void) | undefined;
  /** The batch's journal, when it is journaled. */
  journal: Journal | undefined;
  /** Temporaries killed runs of the batch left, by destination: continued, not reclaimed. */
  resumable = new Map<string, Resumable>();
  /** In a shard's run: the ranges of shared temporaries the batch's runs have written (`shared_ranges.ts`). */
  sharedRanges = new Map<string, JournaledChunk[]>();
  /** Destination file systems the batch (nearly) fills: files there are checked for room first. */
  tight = new Set<number>();
  /**
   * In an offload to several destinations (`lib/fanout/`): the reads this
   * batch shares with the other destinations' batches, and its seat there.
   */
  share: { reads: ReadShare; seat: number } | undefined;
  /** The concurrency in use, once the lanes run; where an adaptive one starts (an earlier run's level). */
  concurrency: BatchConcurrency | undefined;
  /** The streams an adaptive concurrency starts with: the level the batch's last run reached. */
  startStreams: number | undefined;
  /** Each storage pair's level in the batch's last run (`storage_pairs.ts`), where its files start. */
  startPairs: Record<string, number> | undefined;
  #cancelled = false;
  #kernel: KernelCopyAsync | null | undefined;
  #local: LocalCopier | null | undefined;
  #devs = new OnceCache<string, number>();
  #localSources = new OnceCache<number, boolean>();
  #destinationFolders = new LocalFolders();

  /**
   * Sets a run up; no worker starts until a range is queued.
   *
   * @param settings The plan's settings.
   * @param events The callbacks.
   * @param startMs When the batch started.
   */
  constructor(settings: ResolvedSettings, events: RunEvents, startMs: number) {
    this.settings = settings;
    this.events = events;
    this.control = new ControlBlock(settings.maxWorkers);
    this.pool = new WorkerPool(this.control, {
      bufferBytes: settings.bufferBytes,
      limit: this.limit,
    });
    this.accounting = new Accounting(this.control, startMs);
    this.dirs = new DestinationDirs({
      fsync: settings.fsync,
      preserveOwner: settings.preserveOwner,
      move: settings.operation === "move",
    });
  }

  /** Whether the batch was cancelled. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * Waits until `bytes` more are due under the bandwidth limit (at once
   * without one): this thread's copies (small files, kernel steps).
   *
   * @param bytes The bytes about to be moved.
   */
  async pace(bytes: number): Promise<void> {
    for (const ms of this.limit.pauses(bytes, () => this.cancelled)) {
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }

  /** Cancels: workers stop within one buffer. */
  cancel(): void {
    this.#cancelled = true;
    this.control.cancel();
  }

  /** Cancels and terminates the workers at once. */
  kill(): void {
    this.cancel();
    this.pool.terminate();
    // The small-file worker is left to answer for its batch (a few files,
    // about a millisecond): a file it published is then reported as copied.
  }

  /** libc for copy_file_range and fallocate from this thread, loaded on first use (`null`: none). */
  kernel(): KernelCopyAsync | null {
    if (this.#kernel === undefined) this.#kernel = KernelCopyAsync.open();
    return this.#kernel;
  }

  /**
   * The device of a destination folder, looked up once per folder.
   *
   * @param dir The folder.
   * @returns Its device number.
   */
  devOf(dir: string): Promise<number> {
    return this.#devs.get(dir, () => Deno.stat(dir).then((info) => info.dev));
  }

  /**
   * The calls one file's copy, check and publish make: synchronous ones for a
   * file of at most {@linkcode SYNC_MAX_BYTES} whose source and destination
   * folders are on local file systems, Deno's asynchronous ones otherwise
   * (`statfs` once per source device and per destination folder). A caller
   * that makes synchronous calls on this thread gives the event loop its
   * turn first (`turn()` in `file_ops.ts`).
   *
   * @param file The plan item (its destination folder exists).
   * @returns The calls.
   */
  async opsFor(file: PlannedFile): Promise<FileOps> {
    if (file.size > SYNC_MAX_BYTES) return ASYNC_FILE_OPS;
    const [src, dst] = await Promise.all([
      this.#localSources.get(file.dev, () => isLocalFileSystem(dirname(file.src))),
      this.isLocalFolder(dirname(file.dst)),
    ]);
    return src && dst ? SYNC_FILE_OPS : ASYNC_FILE_OPS;
  }

  /**
   * {@linkcode Run.opsFor} without a wait, where both answers are known already.
   *
   * @param file The plan item (its destination folder exists).
   * @param dstDir Its destination folder.
   * @returns The calls, or `undefined` where `opsFor` is to be asked.
   */
  opsNow(file: PlannedFile, dstDir: string = dirname(file.dst)): FileOps | undefined {
    if (file.size > SYNC_MAX_BYTES) {
      // Its copy asks the folder's kind after the folder's lease: asked now,
      // `statfs` runs beside the lease's round trips (10 ms on the SMB bed).
      void this.#destinationFolders.isLocal(dstDir);
      return ASYNC_FILE_OPS;
    }
    const src = this.#localSources.now(file.dev);
    const dst = this.#destinationFolders.isLocalNow(dstDir);
    if (src === undefined || dst === undefined) return undefined;
    return src && dst ? SYNC_FILE_OPS : ASYNC_FILE_OPS;
  }

  /**
   * Whether a folder is on a local file system (`statfs`, once per folder).
   *
   * @param dir The folder.
   * @returns `true` for tmpfs, ext4, XFS, Btrfs… (see `file_ops.ts`).
   */
  isLocalFolder(dir: string): Promise<boolean> {
    return this.#destinationFolders.isLocal(dir);
  }

  /**
   * Whether a folder is known to be on a share (NFS, SMB, FUSE…; `statfs`, once per folder).
   *
   * @param dir The folder.
   * @returns `false` for a local file system and where it cannot be told.
   */
  isShareFolder(dir: string): Promise<boolean> {
    return this.#destinationFolders.isShare(dir);
  }

  /**
   * Takes a file system's kind from a `statfs` made there already (the
   * free-space check), so that it is not asked again: for the destination
   * folder, and for sources on that device (a copy within one share).
   *
   * @param dir An existing folder.
   * @param dev Its device number.
   * @param kind Its file system's kind.
   */
  knowFileSystem(dir: string, dev: number, kind: FileSystemKind): void {
    this.#destinationFolders.know(dir, kind);
    if (kind !== "unknown") this.#localSources.set(dev, kind === "local");
  }

  /**
   * libc's calls for a whole small file (see `local_copy.ts`, and
   * `local_copier.ts` for the worker that makes them once many files come),
   * for a file that {@linkcode Run.opsFor} gave synchronous calls, that the
   * plan copies in the kernel in one piece and that is not hashed; `null`
   * otherwise, or where FFI is not granted.
   *
   * @param file The plan item.
   * @param ops The calls {@linkcode Run.opsFor} chose for it.
   * @returns The copier, or `null`.
   */
  localCopy(file: PlannedFile, ops: FileOps): LocalCopier | null {
    if (ops !== SYNC_FILE_OPS || file.copier !== "whole" || !file.offload) return null;
    if (this.settings.hash !== null || file.action === "symlink") return null;
    // It publishes on its own; what it replaces is kept by the path that keeps it.
    if (this.settings.backupDir !== null && this.overwrites) return null;
    if (this.#local === undefined) {
      const local = LocalCopy.open();
      this.#local = local === null ? null : new LocalCopier(local, () => this.onLocalWorker?.());
    }
    return this.#local;
  }

  /** Whether a published copy replaces what is at its destination. */
  get overwrites(): boolean {
    const { existing } = this.settings;
    return existing === "overwrite" || existing === "update" || existing === "checksum";
  }

  /** Stops the workers and closes libc (every call has ended). */
  async close(): Promise<void> {
    await this.pool.close();
    this.#kernel?.close();
    this.#kernel = undefined;
    this.#local?.close();
    this.#local = undefined;
  }
}
