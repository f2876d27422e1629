/**
 * A chunk worker: copies byte ranges from a source file into a destination
 * file that already exists at its full size. It opens both files itself and
 * copies the range either in the kernel (`copy_file_range`, when the job asks
 * for offload) or by reading and writing with one reused buffer. Either way it
 * checks the cancel flag at least every buffer-size step (1 MiB by default)
 * and confirms it wrote exactly the range length.
 *
 * Started by `lib/pool.ts`; messages are defined in `lib/messages.ts`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { ControlBlock } from "./control.ts";
import type { HashAlgorithm, Hasher } from "../integrity/hash.ts";
import type {
  CopyMessage,
  FromWorker,
  ReleasedMessage,
  StateMessage,
  ToWorker,
  WorkerFailure,
} from "./messages.ts";
import { KernelCopy } from "../fs/offload.ts";
import { whileBusySync } from "../fs/busy.ts";
import { Slab, SLAB_STATE } from "./slab.ts";
import { alignedBytes } from "../fs/aligned_bytes.ts";
import { RateLimit } from "./rate_limit.ts";

/** How long a slab's writer waits for its filler before it looks at the cancel flag again. */
const SLAB_WAIT_MS = 50;

let control: ControlBlock | undefined;
let limit: RateLimit | undefined;
let slot = 0;
let buffer = new Uint8Array(0);
let kernel: KernelCopy | null | undefined;
/** Buffer holding a whole hashed range until its turn to be hashed comes. */
let rangeBuffer = new Uint8Array(0);
const hashers = new Map<HashAlgorithm, Hasher>();
const stateWaiters = new Map<number, (message: StateMessage) => void>();

/**
 * One file a worker keeps open between two ranges of it: every open on a
 * share is a round trip, and on a write-back share also waits for what the
 * client has not sent yet.
 */
class KeptFile {
  #held: { path: string; file: RangeFile } | undefined;

  /** Whether a file is kept. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /** The kept handle of `path`, still kept (`undefined` where another file or none is). */
  get(path: string): RangeFile | undefined {
    return this.#held?.path === path ? this.#held.file : undefined;
  }

  /** Hands over the kept handle of `path`; another file's stays kept. */
  take(path: string): RangeFile | undefined {
    const file = this.get(path);
    if (file !== undefined) this.#held = undefined;
    return file;
  }

  /** Hands over whatever is kept (to close it). */
  takeAny(): RangeFile | undefined {
    const file = this.#held?.file;
    this.#held = undefined;
    return file;
  }

  /** Keeps `file` open as `path`'s. */
  hold(path: string, file: RangeFile): void {
    this.#held = { path, file };
  }
}

/** The source kept open for the next range of the same file (see `CopyMessage.keepSource`). */
const keptSource = new KeptFile();
/** The destination kept open for the next range of the same file (see `CopyMessage.keepDestination`). */
const keptDestination = new KeptFile();

/**
 * An open file read or written at given offsets. With FFI (the CLI's
 * default) it is a plain descriptor and a source gets the kernel's
 * sequential read-ahead hint; without FFI it is a `Deno.FsFile`.
 */
interface RangeFile {
  /** The libc descriptor (with FFI). */
  fd?: number;
  /** Reads into `into` from `position`; 0 at the end of the file. */
  read(into: Uint8Array, position: number): number;
  /**
   * The next data from `position` of a file with holes (start and end), or
   * `null` when only a hole follows; absent where holes cannot be found (no FFI).
   */
  dataAt?(position: number): { start: number; end: number } | null;
  /** Writes (part of) `from` at `position`; returns the bytes written. */
  write(from: Uint8Array, position: number): number;
  /** Flushes the file's data to its storage (`fdatasync`). */
  syncData(): void;
  /** Closes the file; a file opened for writing throws where the close failed. */
  close(): void;
}

/** A call, again while a share answers it with a sharing violation (`busy.ts`), until a cancel. */
function busy<T>(call: () => T): T {
  return whileBusySync(call, () => control?.cancelled === true);
}

function openRangeFile(path: string, write: boolean, create?: number): RangeFile {
  kernel ??= KernelCopy.open();
  if (kernel !== null) {
    const k = kernel;
    const fd = busy(() => k.openFile(path, write, create));
    if (!write) k.adviseSequential(fd);
    return {
      fd,
      read: (into, position) => busy(() => k.readAt(fd, into, position)),
      dataAt: (position) => k.dataAt(fd, position),
      write: (from, position) => busy(() => k.writeAt(fd, from, position)),
      syncData: () => k.syncData(fd),
      close: write ? () => k.closeWritten(fd) : () => k.closeFile(fd),
    };
  }
  const file = busy(() =>
    Deno.openSync(
      path,
      create !== undefined
        ? { write: true, createNew: true, mode: create }
        : write
        ? { write: true }
        : { read: true },
    )
  );
  let at = 0;
  const seek = (position: number): void => {
    if (position !== at) at = file.seekSync(position, Deno.SeekMode.Start);
  };
  return {
    read(into, position): number {
      seek(position);
      const got = busy(() => file.readSync(into)) ?? 0;
      at += got;
      return got;
    },
    write(from, position): number {
      seek(position);
      const put = busy(() => file.writeSync(from));
      at += put;
      return put;
    },
    syncData: () => file.syncDataSync(),
    close: () => file.close(),
  };
}

/** Something to sleep on while bytes are not due yet (`--bwlimit`). */
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Waits until `bytes` more are due under the batch's bandwidth limit (at once without one). */
function pace(bytes: number): void {
  if (limit === undefined) return;
  for (const ms of limit.pauses(bytes, () => control!.cancelled)) Atomics.wait(pause, 0, 0, ms);
}

/** Closes the kept source, if any. */
function release(): void {
  keptSource.takeAny()?.close();
}

/**
 * Closes the kept destination, if any.
 *
 * @throws {SideError} Where its close failed: the range written before it
 * is not on the storage (a share answers a full disk at the close).
 */
function releaseDestination(): void {
  const held = keptDestination.takeAny();
  if (held !== undefined) closeDestination(held, true);
}

/** Closes a destination; after a complete range a failed close fails it, otherwise the first error stands. */
function closeDestination(dst: RangeFile, complete: boolean): void {
  try {
    dst.close();
  } catch (error) {
    if (complete) throw new SideError("destination", error);
  }
}

/**
 * Opens the range's destination for writing (creates it, where the job
 * says so), or takes the kept handle when it is that file.
 * Every close of a file on a share with a write-back cache waits until the
 * server has all of it, so a worker writing a file's ranges one after another
 * keeps it open and closes it once, as cp does.
 */
function openDestination(job: CopyMessage): RangeFile {
  const held = keptDestination.take(job.dst);
  if (held !== undefined) return held;
  releaseDestination();
  try {
    const file = openRangeFile(job.dst, true, job.create);
    // Made: a later open for this range (after a refused kernel copy) opens it.
    delete job.create;
    return file;
  } catch (error) {
    throw new SideError("destination", error);
  }
}

/** Holds a completely written `dst` for {@linkcode finishRange}; closes it after a failure. */
function settleDestination(job: CopyMessage, dst: RangeFile, complete: boolean): void {
  if (complete) keptDestination.hold(job.dst, dst);
  else closeDestination(dst, false);
}

/** The part of a done message that says the destination stays open. */
function keptPart(): { keptDestination?: true } {
  return keptDestination.holding ? { keptDestination: true } : {};
}

/** Opens `path` for reading, or takes the kept handle when it is that file. */
function openSource(path: string): RangeFile {
  const held = keptSource.take(path);
  if (held !== undefined) return held;
  release();
  return openRangeFile(path, false);
}

function post(message: FromWorker): void {
  self.postMessage(message);
}

/** An error on one side of the copy. */
class SideError extends Error {
  constructor(readonly side: "source" | "destination", readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

/** How far one range has got. */
interface Progress {
  /** Bytes of the range written so far. */
  done: number;
  /** Of those, bytes copied by copy_file_range. */
  offloaded: number;
}

/** The range stopped because the batch was cancelled. */
class Stopped extends Error {}

function earlyEnd(job: CopyMessage, done: number): SideError {
  const missing = job.length - done;
  return new SideError(
    "source",
    new Error(`the source ended ${missing} bytes early (was it changed during the copy?)`),
  );
}

/**
 * Copies as much of the range as the kernel will with copy_file_range.
 * Returns the bytes copied and, when it stopped early because this pair of
 * file systems cannot offload (or a call failed otherwise), the errno name.
 */
function offloadRange(job: CopyMessage, at: Progress): string | undefined {
  kernel ??= KernelCopy.open();
  if (kernel === null) return "FFI unavailable";
  let src: RangeFile | undefined;
  let dst: RangeFile | undefined;
  let stopped = true;
  try {
    try {
      src = openSource(job.src);
    } catch (error) {
      throw new SideError("source", error);
    }
    dst = openDestination(job);
    const fallback = offloadSteps(kernel, job, at, src.fd!, dst.fd!);
    stopped = false;
    return fallback;
  } finally {
    // Both stay open for the rest of the range (read and written below, or
    // settled by copyRange); a failure closes them.
    if (stopped) {
      src?.close();
      if (dst !== undefined) closeDestination(dst, false);
    } else {
      keptSource.hold(job.src, src!);
      keptDestination.hold(job.dst, dst!);
    }
  }
}

/** The copy_file_range calls of {@linkcode offloadRange}. */
function offloadSteps(
  kernel: KernelCopy,
  job: CopyMessage,
  at: Progress,
  fdIn: number,
  fdOut: number,
): string | undefined {
  while (at.done < job.length) {
    if (control!.cancelled) throw new Stopped();
    const step = Math.min(job.offloadStepBytes, job.length - at.done);
    const offset = job.offset + at.done;
    pace(step);
    let copied: number;
    try {
      copied = kernel.copyRange(fdIn, offset, fdOut, offset, step);
    } catch (error) {
      // Read/write goes on from here, and its calls (Deno's) tell any real
      // cause: errno is read by a second call after the first returned, and
      // the runtime may have made calls of its own on this thread in between
      // (seen on the SMB bed: EAGAIN for what EXDEV was). Only a full
      // destination is not worth the try.
      const code = (error as { code?: string }).code ?? "";
      if (code !== "ENOSPC" && code !== "EDQUOT") return code;
      throw new SideError("destination", error);
    }
    if (copied === 0) return "short copy";
    at.done += copied;
    at.offloaded += copied;
    control!.addBytes(slot, copied);
  }
  return undefined;
}

function copyRange(job: CopyMessage): void {
  if (keptSource.get(job.src) === undefined) release();
  const at: Progress = { done: 0, offloaded: 0 };
  let fallback: string | undefined;
  try {
    if (job.offload) {
      fallback = offloadRange(job, at);
      if (fallback !== undefined && job.offloadRequired) {
        throw new SideError(
          "destination",
          new Error(`copy offload is not possible here (${fallback})`),
        );
      }
    }
    if (at.done < job.length) {
      streamRange(job, at, true, (_done, want) => buffer.subarray(0, want));
    } else if (job.offload && job.keepSource !== true) {
      release(); // offloaded whole: offloadRange left the source open
    }
    if (at.done !== job.length) {
      throw new SideError("destination", new Error(`wrote ${at.done} of ${job.length} bytes`));
    }
    finishRange(job);
    post({
      type: "done",
      id: job.id,
      bytes: at.done,
      offloadedBytes: at.offloaded,
      ...(fallback === undefined ? {} : { fallback }),
      ...keptPart(),
    });
  } catch (error) {
    reportFailure(job, at, error);
  }
}

/**
 * Ends a written range. With `fsync` its data reaches storage before it is
 * reported done, flushed through the descriptor that wrote it (a second open
 * of a file with unwritten pages on a FUSE share waits for all of them, then
 * drops its cache). The destination then stays open only where the job asks.
 */
function finishRange(job: CopyMessage): void {
  if (job.fsync === true) {
    try {
      const held = keptDestination.get(job.dst);
      if (held !== undefined) held.syncData();
      else {
        using file = Deno.openSync(job.dst, { write: true });
        file.syncDataSync();
      }
    } catch (error) {
      throw new SideError("destination", error);
    }
  }
  if (job.keepDestination !== true) releaseDestination();
}

/** Tells the main thread how a range ended when it did not complete. */
function reportFailure(job: CopyMessage, at: Progress, error: unknown): void {
  // The file failed or stops: nothing of it stays open (its temporary is removed next).
  const held = keptDestination.take(job.dst);
  if (held !== undefined) closeDestination(held, false);
  if (error instanceof Stopped) {
    post({ type: "cancelled", id: job.id, bytes: at.done });
    return;
  }
  const side = error instanceof SideError ? error.side : "destination";
  const inner = error instanceof SideError ? error.inner : error;
  post({ type: "error", id: job.id, bytes: at.done, ...errorPart(inner), side });
}

/** An error's name, errno code and message, as a message carries them. */
function errorPart(error: unknown): WorkerFailure {
  const code = (error as { code?: unknown })?.code;
  return {
    name: error instanceof Error ? error.name : "Error",
    ...(typeof code === "string" ? { code } : {}),
    message: error instanceof Error ? error.message : String(error),
  };
}

/**
 * A range shared by several destinations: the worker that fills the slab
 * reads the range into it at most {@linkcode FILL_LEAD_BYTES} ahead of its
 * own writes (the bytes are still in the CPU's cache when it writes them),
 * and raises the fill counter after every buffer; every other worker
 * writes its destination from the slab as it fills. Once another worker
 * has caught up and waits (its destination is faster than the filler's),
 * the filler reads the rest of the range before its next write: a slow
 * destination that happened to reach a range first does not set the pace
 * of the fast ones. Where the filler stopped (the source failed, its
 * destination failed, a cancel), a writer reads the rest from the source
 * itself.
 */
function slabRange(job: CopyMessage): void {
  if (keptSource.get(job.src) === undefined) release();
  const slab = new Slab(job.slab!.buffer);
  const at: Progress = { done: 0, offloaded: 0 };
  const filler = job.slab!.fill ? new SlabFiller(job, slab) : undefined;
  try {
    const dst = openDestination(job);
    let written = false;
    try {
      writeFromSlab(job, slab, dst, at, filler);
      written = true;
    } finally {
      // Where the filler stopped, streamRange below takes the file and writes the rest.
      settleDestination(job, dst, written);
    }
    if (at.done < job.length) {
      streamRange(job, at, true, (_done, want) => buffer.subarray(0, want));
    }
    finishRange(job);
    post({ type: "done", id: job.id, bytes: at.done, offloadedBytes: 0, ...keptPart() });
  } catch (error) {
    reportFailure(job, at, error);
  } finally {
    filler?.close();
  }
}

/** How far a slab's filler reads ahead of its own writes. */
const FILL_LEAD_BYTES = 4 * 1024 * 1024;

/** Reads a range into a slab, buffer by buffer, raising its fill counter. */
class SlabFiller {
  #src: RangeFile | undefined;
  #filled = 0;
  constructor(readonly job: CopyMessage, readonly slab: Slab) {}

  /** Reads until `target` bytes are in the slab (or the range is). */
  fillTo(target: number): void {
    const { job, slab } = this;
    try {
      this.#src ??= openSource(job.src);
    } catch (error) {
      throw new SideError("source", error);
    }
    while (this.#filled < Math.min(target, job.length)) {
      if (control!.cancelled) throw new Stopped();
      const end = Math.min(job.length, this.#filled + buffer.length);
      let got: number;
      try {
        got = this.#src.read(slab.data.subarray(this.#filled, end), job.offset + this.#filled);
      } catch (error) {
        throw new SideError("source", error);
      }
      if (got === 0) throw earlyEnd(job, this.#filled);
      this.#filled += got;
      slab.filledTo(this.#filled, this.#filled === job.length);
    }
  }

  /** Keeps the source open for the next range where asked; the other writers read what is missing themselves. */
  close(): void {
    const complete = this.#filled === this.job.length;
    if (!complete) this.slab.abandon();
    if (complete && this.job.keepSource && this.#src !== undefined) {
      keptSource.hold(this.job.src, this.#src);
    } else this.#src?.close();
  }
}

/**
 * Writes the slab's bytes to the destination as they are filled (by
 * `filler`, when this worker fills it); stops where the filler stopped
 * (`at.done` short of the range).
 */
function writeFromSlab(
  job: CopyMessage,
  slab: Slab,
  dst: RangeFile,
  at: Progress,
  filler: SlabFiller | undefined,
): void {
  while (at.done < job.length) {
    if (control!.cancelled) throw new Stopped();
    filler?.fillTo(slab.waited ? job.length : at.done + FILL_LEAD_BYTES);
    const filled = slab.filled;
    if (filled <= at.done) {
      if (slab.state === SLAB_STATE.abandoned) return;
      slab.wait(filled, SLAB_WAIT_MS);
      continue;
    }
    const end = Math.min(filled, at.done + buffer.length);
    pace(end - at.done);
    try {
      for (let put = at.done; put < end;) {
        put += dst.write(slab.data.subarray(put, end), job.offset + put);
      }
    } catch (error) {
      throw new SideError("destination", error);
    }
    control!.addBytes(slot, end - at.done);
    at.done = end;
  }
}

/** This worker's hasher for an algorithm, made on first use and reused. */
async function hasherFor(algorithm: HashAlgorithm): Promise<Hasher> {
  let hasher = hashers.get(algorithm);
  if (hasher === undefined) {
    const { createHasher } = await import("../integrity/hash.ts");
    hasher = hashers.get(algorithm) ?? await createHasher(algorithm);
    hashers.set(algorithm, hasher);
  }
  return hasher;
}

/**
 * A hashed range: read it whole into memory (writing it out as it comes when
 * copying), then wait for the hash state of the range before it, continue
 * it, and hand on the new state. Ranges of one file are hashed in order this
 * way while their I/O runs in parallel.
 */
async function hashedRange(job: CopyMessage): Promise<void> {
  const hash = job.hash!;
  const at: Progress = { done: 0, offloaded: 0 };
  try {
    if (hash.start !== undefined) {
      // The state is known: hash each piece as it is read, with the reused buffer.
      const hasher = await hasherFor(hash.algorithm);
      if (hash.start.state === null) hasher.reset();
      else hasher.load(hash.start.state);
      streamRange(
        job,
        at,
        hash.mode === "copy",
        (_done, want) => buffer.subarray(0, want),
        (piece) => hasher.update(piece),
      );
      if (hash.mode === "copy") finishRange(job);
      return postHashed(job, at, hasher);
    }
    if (rangeBuffer.length < job.length) rangeBuffer = alignedBytes(job.length);
    streamRange(
      job,
      at,
      hash.mode === "copy",
      (done, want) => rangeBuffer.subarray(done, done + want),
    );
    post({ type: "need-state", id: job.id });
    // The hasher is made while the state is on its way: a worker's first
    // hasher costs a module load (and for hash-wasm a compile), which would
    // otherwise hold up every later range of the file, hashed in order.
    const [reply, hasher] = await Promise.all([
      new Promise<StateMessage>((resolve) => stateWaiters.set(job.id, resolve)),
      hasherFor(hash.algorithm),
    ]);
    if (reply.abort) throw new Stopped();
    if (hash.mode === "copy") finishRange(job);
    if (reply.state === null) hasher.reset();
    else hasher.load(reply.state);
    hasher.update(rangeBuffer.subarray(0, job.length));
    postHashed(job, at, hasher);
  } catch (error) {
    reportFailure(job, at, error);
  }
}

/** Reports a hashed range done, with the state after it (and the digest after a file's last). */
function postHashed(job: CopyMessage, at: Progress, hasher: Hasher): void {
  post({
    type: "done",
    id: job.id,
    bytes: at.done,
    offloadedBytes: 0,
    state: hasher.save(),
    ...(job.hash!.last ? { digest: hasher.digest() } : {}),
    ...keptPart(),
  });
}

/**
 * Reads the rest of the range (from `at.done`) buffer by buffer, checking the
 * cancel flag before each; each piece is read into `target(done, want)` and,
 * when `write` is set, written to `dst` and counted in the control block;
 * `onRead` sees each piece as read. Copies and a file's first hashed range use
 * the reused buffer; later hashed ranges keep the whole range in memory.
 */
function streamRange(
  job: CopyMessage,
  at: Progress,
  write: boolean,
  target: (done: number, want: number) => Uint8Array,
  onRead?: (piece: Uint8Array) => void,
): void {
  let src: RangeFile | undefined;
  let dst: RangeFile | undefined;
  let completed = false;
  try {
    try {
      src = openSource(job.src);
    } catch (error) {
      throw new SideError("source", error);
    }
    if (write) dst = openDestination(job);
    // A file with holes: only its data is read and written; the holes of the
    // pre-sized destination stay holes. `data` is the stretch of data the
    // position is in or before (`null`: only a hole is left).
    const holes = write && job.sparse === true && src.dataAt !== undefined;
    let data: { start: number; end: number } | null | undefined;
    while (at.done < job.length) {
      if (control!.cancelled) throw new Stopped();
      let position = job.offset + at.done;
      if (holes && (data === undefined || (data !== null && position >= data.end))) {
        try {
          data = src.dataAt!(position);
        } catch (error) {
          throw new SideError("source", error);
        }
      }
      if (holes && (data === null || data!.start > position)) {
        const skipTo = Math.min(data === null ? Infinity : data!.start, job.offset + job.length);
        control!.addBytes(slot, skipTo - position);
        at.done += skipTo - position;
        position = skipTo;
        if (at.done >= job.length) break;
      }
      const room = holes ? data!.end - position : Infinity;
      const piece = target(at.done, Math.min(buffer.length, job.length - at.done, room));
      if (write) pace(piece.length);
      let got: number;
      try {
        got = src.read(piece, position);
      } catch (error) {
        throw new SideError("source", error);
      }
      if (got === 0) throw earlyEnd(job, at.done);
      onRead?.(piece.subarray(0, got));
      if (dst !== undefined) {
        try {
          for (let put = 0; put < got;) {
            put += dst.write(piece.subarray(put, got), position + put);
          }
        } catch (error) {
          throw new SideError("destination", error);
        }
        control!.addBytes(slot, got);
      }
      at.done += got;
    }
    completed = true;
  } finally {
    if (completed && job.keepSource && src !== undefined) keptSource.hold(job.src, src);
    else src?.close();
    if (dst !== undefined) settleDestination(job, dst, completed);
  }
}

self.onmessage = (event: MessageEvent<ToWorker>): void => {
  const message = event.data;
  switch (message.type) {
    case "init":
      control = new ControlBlock(message.control);
      limit = new RateLimit(message.limit);
      slot = message.slot;
      buffer = alignedBytes(message.bufferBytes);
      post({ type: "ready" });
      break;
    case "copy":
      if (message.hash) void hashedRange(message);
      else if (message.slab) slabRange(message);
      else copyRange(message);
      break;
    case "release": {
      release();
      let failure: ReleasedMessage["failure"];
      try {
        releaseDestination();
      } catch (error) {
        failure = errorPart((error as SideError).inner);
      }
      if (message.ack) post({ type: "released", ...(failure === undefined ? {} : { failure }) });
      break;
    }
    case "state":
      stateWaiters.get(message.id)?.(message);
      stateWaiters.delete(message.id);
      break;
  }
};
