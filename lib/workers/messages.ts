/**
 * The messages between the main thread and the chunk workers, defined once
 * for both sides. Every message is an object tagged with `type`.
 *
 * @module
 */

import type { HashAlgorithm } from "../integrity/hash.ts";

/** Main → worker: set-up, once after the worker starts. */
export interface InitMessage {
  type: "init";
  /** The worker's slot in the control block. */
  slot: number;
  /** The control block's shared memory. */
  control: SharedArrayBuffer;
  /** The size of the worker's reused copy buffer. */
  bufferBytes: number;
  /** The batch's bandwidth limit (`rate_limit.ts`). */
  limit: SharedArrayBuffer;
}

/** Main → worker: copy one byte range from `src` into the existing file `dst`. */
export interface CopyMessage {
  type: "copy";
  /** Identifies the reply. */
  id: number;
  /** Source path. */
  src: string;
  /** Destination path (the temporary file, created at its full size unless `create`). */
  dst: string;
  /**
   * The worker creates the destination (`O_EXCL`, with this mode: see
   * `temporaryMode`) when it first opens it: a file copied as one range from
   * its start, whose temporary the main thread did not make (each open and
   * close of a file on a share costs round trips).
   */
  create?: number;
  /** First byte of the range. */
  offset: number;
  /** Length of the range. */
  length: number;
  /** Try `copy_file_range` first (see lib/offload.ts); read/write when the kernel refuses. */
  offload: boolean;
  /** With `offload: "always"`: fail instead of falling back to read/write. */
  offloadRequired: boolean;
  /** Bytes per copy_file_range call; the cancel flag is checked between calls. */
  offloadStepBytes: number;
  /**
   * Hash the range's bytes in order with the file's other ranges: the worker
   * asks for the state of the range before it ({@linkcode NeedStateMessage}),
   * continues it, and returns the new state (and, for the last range, the digest).
   */
  hash?: HashJob;
  /**
   * More ranges of this source are queued right behind this one: keep the
   * source open for them. Every open of a file on a network share costs a
   * round trip and may drop the client's cached pages of the whole file
   * (the testbed's FUSE share does, on every open), so a big file is opened
   * once per worker instead of once per range. Closed on the next job for
   * another source, on {@linkcode ReleaseMessage}, or after a failure.
   */
  keepSource?: boolean;
  /**
   * More ranges of this destination are queued: keep it open after the range
   * (the done message then says {@linkcode DoneMessage.keptDestination}).
   * On a share with a write-back cache every close waits until the server
   * holds the whole file, so closing after every range stops the writes each
   * time. The pool gives this worker the file's next range, or has it close
   * the file ({@linkcode ReleaseMessage} with `ack`) before it reports the
   * range done.
   */
  keepDestination?: boolean;
  /**
   * The source has holes: read only its data (`SEEK_DATA`/`SEEK_HOLE`, with
   * FFI) and leave the holes of the pre-sized destination unwritten.
   */
  sparse?: boolean;
  /**
   * Flush the destination's data to storage (`fdatasync`) before the range
   * is reported done (`--fsync`): a range journaled as written is then on
   * the storage, and a run after a power cut can continue from it.
   */
  fsync?: boolean;
  /**
   * The range is shared with other destinations through a slab (see
   * `slab.ts`): with `fill`, read it whole into the slab first, then write
   * it from there; otherwise write it from the slab as another worker fills
   * it (reading the rest from the source where that worker stopped).
   */
  slab?: SlabJob;
}

/** The slab part of a job. */
export interface SlabJob {
  /** The slab's shared memory. */
  buffer: SharedArrayBuffer;
  /** This worker reads the range into it. */
  fill: boolean;
}

/** Main → worker: close the files kept open for queued ranges. */
export interface ReleaseMessage {
  type: "release";
  /** Answer with {@linkcode ReleasedMessage} (a kept destination, or the pool shutting down). */
  ack?: boolean;
}

/** The hashing part of a job. */
export interface HashJob {
  /** The algorithm. */
  algorithm: HashAlgorithm;
  /** `"copy"`: copy and hash the source's bytes; `"read"`: only read `src` and hash it. */
  mode: "copy" | "read";
  /** This is the file's last range: return the digest. */
  last: boolean;
  /**
   * The state before this range, where it is known when the range is handed
   * out (a file's first range: `null`, or the state a killed run reached).
   * The worker then hashes each piece as it reads it, while it is in the
   * CPU's cache, and asks for no state; without it the range is held in
   * memory until the range before it is hashed.
   */
  start?: { state: Uint8Array | null };
}

/** Main → worker: the hash state to continue (null: start afresh), or stop. */
export interface StateMessage {
  type: "state";
  id: number;
  /** The state after the previous range, `null` for the first range. */
  state: Uint8Array | null;
  /** The chain broke (an earlier range failed or the batch was cancelled). */
  abort: boolean;
}

/** Everything the main thread sends. */
export type ToWorker = InitMessage | CopyMessage | StateMessage | ReleaseMessage;

/** Worker → main: ready for work. */
export interface ReadyMessage {
  type: "ready";
}

/** Worker → main: the range was copied completely. */
export interface DoneMessage {
  type: "done";
  id: number;
  /** Bytes written; always equal to the range length. */
  bytes: number;
  /** Bytes copied by `copy_file_range` rather than read/write. */
  offloadedBytes: number;
  /** The errno name that made the worker fall back to read/write, if it did. */
  fallback?: string;
  /** For hashed ranges: the hash state after this range. */
  state?: Uint8Array;
  /** For the last hashed range: the file's digest. */
  digest?: string;
  /** The worker keeps the destination open (the job said `keepDestination`). */
  keptDestination?: true;
}

/** Worker → main: the range is copied and waits for the hash state of the range before it. */
export interface NeedStateMessage {
  type: "need-state";
  id: number;
}

/** Worker → main: the range stopped because the batch was cancelled. */
export interface CancelledMessage {
  type: "cancelled";
  id: number;
  /** Bytes written before the stop. */
  bytes: number;
}

/** An error as a worker reports it. */
export interface WorkerFailure {
  /** The Deno error class name, e.g. `"PermissionDenied"`. */
  name: string;
  /** The errno code, e.g. `"ENOSPC"`, when there is one. */
  code?: string;
  /** The error message. */
  message: string;
}

/** Worker → main: the range failed. */
export interface ErrorMessage extends WorkerFailure {
  type: "error";
  id: number;
  /** Bytes written before the failure. */
  bytes: number;
  /** Which side failed. */
  side: "source" | "destination";
}

/**
 * The error a worker reported, rebuilt on this side with its name and errno
 * `code`, so that `describeError` words it like a local one.
 *
 * @param failure The worker's error message.
 * @returns An `Error` with `name`, `code` and `message`.
 *
 * @example
 * ```ts
 * import { errorFromWorker } from "./messages.ts";
 *
 * const error = errorFromWorker({
 *   type: "error", id: 1, bytes: 0, name: "Error", code: "ENOSPC",
 *   message: "write failed", side: "destination",
 * });
 * console.log((error as Error & { code?: string }).code); // "ENOSPC"
 * ```
 */
export function errorFromWorker(failure: ErrorMessage): Error {
  return Object.assign(new Error(failure.message), { name: failure.name, code: failure.code });
}

/** Worker → main: every file the worker had open is closed (answer to a release with `ack`). */
export interface ReleasedMessage {
  type: "released";
  /** The kept destination's close failed: its last range is not on the storage. */
  failure?: WorkerFailure;
}

/** Everything a worker sends. */
export type FromWorker =
  | ReadyMessage
  | ReleasedMessage
  | DoneMessage
  | CancelledMessage
  | ErrorMessage
  | NeedStateMessage;
