/**
 * The small-file worker: copies and publishes small local files with libc
 * (`lib/fs/local_copy.ts`) on a thread of its own, so that the main thread
 * plans and accounts for the next files meanwhile. Each message is a batch;
 * the answer is one outcome per file, in order. Started by
 * `lib/transfer/local_copier.ts`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { ErrnoError } from "../fs/libc.ts";
import { LocalCopy, type LocalCopyRequest, type LocalPublishOutcome } from "../fs/local_copy.ts";

/** One file: its copy into `request.tmp`, then the publish to `dst`. */
export interface LocalJob {
  /** The copy. */
  request: LocalCopyRequest;
  /** The final name. */
  dst: string;
  /** Whether what is at `dst` is replaced. */
  overwrite: boolean;
}

/**
 * How one file ended in the worker: the publish's outcome itself when it
 * went well (a string clones for less than an object, once per file), or
 * what failed.
 */
export type LocalJobOutcome =
  | LocalPublishOutcome
  | {
    ok: false;
    /** The message of what was thrown. */
    message: string;
    /** For an {@linkcode ErrnoError}: what it was made of. */
    errno?: { call: string; errno: number; path: string | undefined };
    /** A failure code carried by the error (`"source-changed"`). */
    failure?: string;
  };

const local = LocalCopy.open();

self.onmessage = (event: MessageEvent<LocalJob[]>) => {
  const outcomes = event.data.map(run);
  self.postMessage(outcomes);
};

function run(job: LocalJob): LocalJobOutcome {
  if (local === null) return { ok: false, message: "libc cannot be loaded in the worker" };
  try {
    local.copy(job.request);
    return local.publish(job.request.tmp, job.dst, job.overwrite);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const failure = (error as { failure?: string }).failure;
    const errno = error instanceof ErrnoError
      ? { call: error.call, errno: error.errno, path: error.path }
      : undefined;
    return { ok: false, message, ...(errno && { errno }), ...(failure && { failure }) };
  }
}
