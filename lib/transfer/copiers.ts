/**
 * The three ways a file's bytes move, behind one function: the plan's
 * copier decides which. Each copies exactly the plan's ranges and reports
 * each as it completes (`onChunk`); what the storage refused at run time
 * (offload) is recorded on the job, never written into the plan.
 *
 * @module
 */

import { dirname } from "node:path";
import type { LocalPublishOutcome } from "../fs/local_copy.ts";
import type { LocalCopier } from "./local_copier.ts";
import type { LocalJob } from "../workers/local_worker.ts";
import {
  DEFAULT_OFFLOAD_STEP_BYTES,
  nextShareStep,
  SAME_FS_OFFLOAD_STEP_BYTES,
} from "../fs/offload.ts";
import { createHasher, hashBytes } from "../integrity/hash.ts";
import { hashedReadJob } from "../integrity/file_hasher.ts";
import type { Chunk } from "../plan/plan_item.ts";
import { errorFromWorker } from "../workers/messages.ts";
import { type FileJob, Stopped } from "./file_job.ts";
import type { Rest } from "./resume.ts";
import { preallocate } from "./room.ts";
import { alignedBytes } from "../fs/aligned_bytes.ts";
import { temporaryMode } from "../fs/publish.ts";

/** The pieces a journaled kernel copy is recorded in (without `--chunk-size`). */
const KERNEL_JOURNAL_STEP_BYTES = 256 * 1024 * 1024;

/**
 * How a copy ended: `copied`; `copied-with-mode` (the kernel's copy kept the
 * source's mode already); `stopped` (the file failed, and says so, or the
 * batch was cancelled).
 */
export type CopyOutcome = "copied" | "copied-with-mode" | "stopped";

/**
 * Copies a file's bytes into its temporary with the plan's copier.
 *
 * @param job The file.
 * @param tmp Its temporary (not created yet).
 * @returns How it ended.
 */
export async function copyBytes(job: FileJob, tmp: string): Promise<CopyOutcome> {
  switch (job.file.copier) {
    case "whole":
      // An offload to several destinations: as one shared range on the workers
      // (`lib/fanout/`). A share: on the workers too, whose close of the copy
      // is checked (a write-back client sends the data there, and a full or
      // failing server answers there; `Deno.copyFile` does not report it).
      if (
        job.file.size > 0 &&
        (job.run.share !== undefined || await job.run.isShareFolder(dirname(tmp)))
      ) return copyRanges(job, tmp);
      return copyWhole(job, tmp);
    case "ranges":
      return copyRanges(job, tmp);
    case "kernel":
      return copyKernel(job, tmp);
    case "none":
      return Promise.resolve("copied");
  }
}

/**
 * The rest of a large file whose temporary a killed run had begun (see
 * `resume.ts`): only the ranges not written yet, into that temporary.
 *
 * @param job The file.
 * @param tmp The temporary taken over.
 * @param rest The ranges still to copy, and the hash state they continue.
 * @returns How it ended.
 */
export function copyRest(job: FileJob, tmp: string, rest: Rest): Promise<CopyOutcome> {
  if (rest.ranges.length === 0) return Promise.resolve("copied");
  if (job.file.copier === "kernel") return copyKernel(job, tmp, rest.ranges[0]!.offset);
  return copyRanges(job, tmp, rest.ranges, "resumed", rest.hashState);
}

/**
 * A shard's ranges of a file split across shards, into the temporary the
 * shards share (made already), journaled but not hashed: `ferry finalize`
 * hashes the whole file.
 *
 * @param job The file.
 * @param tmp The shared temporary.
 * @param ranges The ranges still to write.
 * @returns How it ended.
 */
export function copyPart(
  job: FileJob,
  tmp: string,
  ranges: readonly Chunk[],
): Promise<CopyOutcome> {
  if (ranges.length === 0) return Promise.resolve("copied");
  return copyRanges(job, tmp, ranges, "part");
}

/** Reports every planned range of a file as written. */
function rangesDone(job: FileJob): void {
  for (const chunk of job.file.chunks) job.run.events.onChunk?.(job.file, chunk);
}

/**
 * A small local file in one go through libc (see `local_copy.ts`): its
 * bytes, the check of its size and source, its mode and times, and its
 * publish under the final name.
 *
 * @param job The file.
 * @param tmp Its temporary (not created yet).
 * @param local The copier.
 * @returns How the publish went (`"unsupported"`: the caller publishes).
 * @throws When a call fails (the error says which side) or the source changed.
 */
export function copyLocal(
  job: FileJob,
  tmp: string,
  local: LocalCopier,
): Promise<LocalPublishOutcome> {
  const { file, run } = job;
  const { uid, gid } = file;
  const request: LocalJob = {
    request: {
      src: file.src,
      tmp,
      size: file.size,
      mtimeMs: file.mtimeMs,
      atimeMs: file.atimeMs,
      mode: file.mode,
      owner: run.settings.preserveOwner && uid !== null && gid !== null ? { uid, gid } : null,
      fsync: run.settings.fsync,
    },
    dst: file.dst,
    overwrite: run.overwrites,
  };
  // Without a bandwidth limit, straight to the copier: no wait for a pace of nothing.
  const copied = run.limit.rate === null
    ? local.copyAndPublish(request)
    : run.pace(file.size).then(() => local.copyAndPublish(request));
  return copied.then((outcome) => {
    job.countBytes(file.size);
    rangesDone(job);
    return outcome;
  });
}

/**
 * A file below the cutoff, from the main thread: one in-kernel
 * `Deno.copyFile` (which keeps the mode), or without offload (or hashed) a
 * read/write loop.
 */
async function copyWhole(job: FileJob, tmp: string): Promise<CopyOutcome> {
  const { file, run } = job;
  try {
    if (file.offload) {
      await run.pace(file.size);
      await job.ops.copyFile(file.src, tmp);
    } else job.sourceDigest = await readWriteWhole(job, tmp);
  } catch (error) {
    if (error instanceof Stopped) return "stopped";
    const side = await Deno.open(file.src, { read: true }).then(
      (handle) => (handle.close(), "write the destination"),
      () => "read the source",
    );
    job.failWith(`cannot ${side}`, error);
    return "stopped";
  }
  job.countBytes(file.size);
  if (run.cancelled) return "stopped";
  rangesDone(job);
  return file.offload ? "copied-with-mode" : "copied";
}

/** Copies a whole file through one buffer, hashing it when asked; returns the digest. */
async function readWriteWhole(job: FileJob, tmp: string): Promise<string | undefined> {
  const { file, run } = job;
  const algorithm = run.settings.hash;
  const bufferBytes = run.settings.bufferBytes;
  if (file.size <= bufferBytes) {
    // Two file operations instead of seven: on a share each is a round trip.
    await run.pace(file.size);
    const data = await Deno.readFile(file.src);
    const digest = algorithm === null ? undefined : await hashBytes(algorithm, data);
    await Deno.writeFile(tmp, data, { createNew: true, mode: temporaryMode(file.mode) });
    return digest;
  }
  const hasher = algorithm === null ? undefined : await createHasher(algorithm);
  using src = await Deno.open(file.src, { read: true });
  using dst = await createTemporary(tmp, file.mode);
  const buffer = alignedBytes(Math.max(1, Math.min(file.size, bufferBytes)));
  for (;;) {
    if (run.cancelled) throw new Stopped();
    await run.pace(buffer.length);
    const got = await src.read(buffer);
    if (got === null) return hasher?.digest();
    hasher?.update(buffer.subarray(0, got));
    for (let put = 0; put < got;) put += await dst.write(buffer.subarray(put, got));
  }
}

/** Creates a temporary for writing (`O_EXCL`, with {@linkcode temporaryMode} of the source's mode). */
function createTemporary(tmp: string, mode: number): Promise<Deno.FsFile> {
  return Deno.open(tmp, { write: true, createNew: true, mode: temporaryMode(mode) });
}

/**
 * Whether a file is copied as one range from its start, without holes: its
 * temporary grows to its size as it is written, and a short one fails the
 * size check before publishing. Such a temporary is made by the worker that
 * writes it, empty, where no preallocation is asked: every open and close
 * of a file on a share costs round trips (the main thread's create, its
 * size and close, then the worker's open, were four of a file's ten on SMB).
 */
function grows(job: FileJob): boolean {
  const { file } = job;
  return file.chunks.length === 1 && !file.sparse && file.copier !== "kernel";
}

/**
 * Creates the temporary at its full size (the ranges are written into it;
 * a killed run's temporary of that size can be continued), or empty for a
 * file that {@linkcode grows}.
 */
async function createSized(job: FileJob, tmp: string): Promise<boolean> {
  try {
    const handle = await createTemporary(tmp, job.file.mode);
    try {
      if (!grows(job)) await handle.truncate(job.file.size);
    } finally {
      handle.close();
    }
    return true;
  } catch (error) {
    job.failWith("cannot write the destination", error);
    return false;
  }
}

/**
 * The plan's ranges on the worker pool, in parallel (into a share one after
 * another, other files beside them), into a pre-sized
 * temporary: hashed in order where the batch hashes, sparse where the
 * source has holes, with copy_file_range where the plan allows it and this
 * pair of file systems has not refused it.
 *
 * @param job The file.
 * @param tmp Its temporary.
 * @param ranges What to copy: the plan's ranges, or the rest of its one range.
 */
async function copyRanges(
  job: FileJob,
  tmp: string,
  ranges: readonly Chunk[] = job.file.chunks,
  rest: "kernel" | "resumed" | "part" | undefined = undefined,
  startState?: Uint8Array,
): Promise<CopyOutcome> {
  const { file, run } = job;
  const fresh = rest === undefined;
  // An offload to several destinations: each range read once for all (`lib/fanout/`).
  const reads = fresh && !file.sparse ? run.share?.reads : undefined;
  // The worker makes the temporary (see `grows`); where space is tight, this thread does, to reserve it.
  const byWorker = fresh && grows(job) && run.tight.size === 0;
  if (fresh && !byWorker) {
    if (!(await createSized(job, tmp))) return "stopped";
    if (!file.sparse && !(await preallocate(job, tmp))) return "stopped";
  }
  if (fresh && file.copier === "ranges") run.journal?.partial(file, tmp);
  const journaled = file.copier === "ranges" || rest === "kernel" || rest === "part"
    ? run.journal
    : undefined;
  const algorithm = rest === "part" || reads !== undefined ? null : run.settings.hash;
  const dstDev = file.offload ? await run.devOf(dirname(tmp)) : -1;
  const pair = `${file.dev}:${dstDev}`;
  // Read when a worker takes the range: once one range of this pair of file
  // systems has found that the kernel cannot offload, the others skip the try.
  const tryOffload = (): boolean => file.offload && !run.noOffload.has(pair);
  const step = file.copier === "kernel" ? SAME_FS_OFFLOAD_STEP_BYTES : DEFAULT_OFFLOAD_STEP_BYTES;
  // Into a share, one range at a time (see `oneAtATime`); a shared read for
  // several destinations keeps its own order (`lib/fanout/`).
  const oneAtATime = reads === undefined && ranges.length > 1 &&
    await run.isShareFolder(dirname(tmp));
  if (oneAtATime) run.concurrency?.oneRangePerFile();
  const outcome = await run.pool.runRanges(file.id, ranges, (chunk, last) => {
    const job = {
      src: file.src,
      dst: tmp,
      offset: chunk.offset,
      length: chunk.length,
      offload: tryOffload(),
      offloadRequired: run.settings.offload === "always",
      offloadStepBytes: step,
      ...(byWorker ? { create: temporaryMode(file.mode) } : {}),
      ...(file.sparse ? { sparse: true } : {}),
      // Journaled ranges with --fsync are on storage: a run after a power cut continues them.
      ...(journaled !== undefined && run.settings.fsync ? { fsync: true } : {}),
      ...(algorithm === null ? {} : { hash: { algorithm, mode: "copy" as const, last } }),
    };
    // Shared with the other destinations: written from memory, hashed by the share.
    const slab = reads?.slab(file, chunk, run.share!.seat);
    return slab === undefined ? job : { ...job, offload: false, slab };
  }, {
    hashed: algorithm !== null,
    oneAtATime,
    ...(startState === undefined ? {} : { startState }),
    onOutcome: (chunk, done) => {
      reads?.settle(file, chunk, run.share!.seat);
      job.counted += done.bytes;
      if (done.type !== "done") return;
      job.offloadedBytes += done.offloadedBytes;
      if (done.fallback !== undefined) {
        run.noOffload.add(pair);
        job.fallback = "read-write";
      }
      journaled?.chunk(tmp, chunk, done.state);
      // The last piece of a kernel copy completes the plan's one range.
      if (rest !== "kernel") run.events.onChunk?.(file, chunk);
      else if (chunk.offset + chunk.length === file.size) {
        run.events.onChunk?.(file, file.chunks[0]!);
      }
    },
  });
  if (outcome.failure !== undefined) {
    const cause = errorFromWorker(outcome.failure);
    const side = outcome.failure.side === "source" ? "read the source" : "write the destination";
    job.failWith(`cannot ${side}`, cause);
    return "stopped";
  }
  if (!outcome.complete) return "stopped"; // cancelled
  if (algorithm !== null) job.sourceDigest = outcome.digest;
  if (reads !== undefined && run.settings.hash !== null) {
    // A range that could not be shared leaves the digest to this batch: the source read again.
    job.sourceDigest = await reads.digest(file) ??
      await hashRanges(job, file.src, "cannot read the source");
    if (job.sourceDigest === undefined) return "stopped"; // cancelled
  }
  return "copied";
}

/**
 * One file system: the kernel (or the server) copies the file as one range
 * in large steps, as cp does, and the steps are made from this thread
 * (nonblocking FFI: each waits on a thread of Deno's own, and this thread
 * stays free for progress and cancel). No worker is started for them: a
 * reflink takes ~0.1 s for a large file, and a worker start 20–40 ms, most
 * of it blocking this thread; on a share the server copies and the steps
 * only wait for its answers; and where the local kernel moves the data, a
 * worker that took over after the first step made the copy wait for its
 * start (1.5 GiB tmpfs → tmpfs, 16 rounds alternating: 0.93× the time
 * without it; four files of 384 MiB: 0.88×). When a call fails, a worker
 * takes the rest of the range and learns why.
 */
async function copyKernel(job: FileJob, tmp: string, from = 0): Promise<CopyOutcome> {
  const { file, run } = job;
  if (from === 0) {
    if (!(await createSized(job, tmp)) || !(await preallocate(job, tmp))) return "stopped";
    run.journal?.partial(file, tmp);
  }
  const here = await kernelSteps(job, tmp, from);
  if (run.cancelled) return "stopped";
  if (here === file.size) {
    rangesDone(job);
    return "copied";
  }
  // What the steps left (no FFI, or a call failed) on a worker, one piece
  // after another: a journaled batch records each piece, so that a run killed
  // in a large file continues it (pieces of --chunk-size, else of 256 MiB);
  // otherwise in one piece, as cp copies.
  const step = run.journal === undefined
    ? file.size
    : run.settings.chunkBytes > 0
    ? run.settings.chunkBytes
    : KERNEL_JOURNAL_STEP_BYTES;
  for (let at = here; at < file.size; at += step) {
    const piece = { offset: at, length: Math.min(step, file.size - at) };
    const outcome = await copyRanges(job, tmp, [piece], "kernel");
    if (outcome !== "copied") return outcome;
  }
  return "copied";
}

/**
 * copy_file_range steps from this thread until the file is copied, the batch
 * is cancelled or a call fails; journals what they copied (a journaled batch
 * in pieces, as the workers' copy does) and returns where they stopped.
 */
async function kernelSteps(job: FileJob, tmp: string, from: number): Promise<number> {
  const { file, run } = job;
  const kernel = run.kernel();
  if (kernel === null) return from;
  const onShare = !(await run.isLocalFolder(dirname(tmp)));
  const fdIn = await kernel.openFile(file.src, false);
  const fdOut = fdIn < 0 ? -1 : await kernel.openFile(tmp, true);
  const piece = run.settings.chunkBytes > 0 ? run.settings.chunkBytes : KERNEL_JOURNAL_STEP_BYTES;
  let done = from;
  let recorded = from;
  let size = SAME_FS_OFFLOAD_STEP_BYTES;
  const record = (): void => {
    if (done > recorded) run.journal?.chunk(tmp, { offset: recorded, length: done - recorded });
    recorded = done;
  };
  try {
    while (fdOut >= 0 && done < file.size && !run.cancelled) {
      const step = Math.min(size, piece, file.size - done);
      await run.pace(step);
      const started = performance.now();
      const copied = await kernel.copyRange(fdIn, done, fdOut, done, step);
      if (copied <= 0) break;
      done += copied;
      job.offloadedBytes += copied;
      job.countBytes(copied);
      if (done - recorded >= piece) record();
      if (onShare) size = nextShareStep(size, performance.now() - started, run.limit.rate !== null);
    }
  } finally {
    if (fdIn >= 0) await kernel.closeFile(fdIn);
    if (fdOut >= 0) await kernel.closeFile(fdOut);
  }
  if (!run.cancelled) record();
  return done;
}

/**
 * Hashes a file by reading it: on a share by the plan's ranges, read by the
 * workers in parallel and hashed in order; on a local file system in one
 * piece, hashed by one worker as it reads (the kernel reads ahead, and no
 * range waits in memory for its turn). `undefined` when the batch was
 * cancelled.
 *
 * @param job The file.
 * @param path The file to read (its source, or its copy).
 * @param what What a failure to read it means, e.g. `"cannot read the copy back"`.
 * @returns The digest, or `undefined`.
 * @throws When a range cannot be read.
 */
export async function hashRanges(
  job: FileJob,
  path: string,
  what: string,
): Promise<string | undefined> {
  const { run, file } = job;
  const algorithm = run.settings.hash!;
  const whole = file.size > 0 && await run.isLocalFolder(dirname(path));
  const read = await run.pool.runRanges(
    file.id,
    whole ? [{ offset: 0, length: file.size }] : file.chunks,
    (chunk, last) => hashedReadJob(path, algorithm, chunk, last),
    { hashed: true, onOutcome: (_chunk, outcome) => run.accounting.addChecked(outcome.bytes) },
  );
  if (read.failure !== undefined) throw new Error(`${what}: ${read.failure.message}`);
  return read.complete ? read.digest : undefined;
}
