/**
 * Small local files copied and published off the main thread. The first
 * files of a batch are copied in this thread (`lib/fs/local_copy.ts`); from
 * the {@linkcode WORKER_AFTER}th on, a worker (`lib/workers/local_worker.ts`)
 * makes the libc calls while this thread plans, checks and accounts for the
 * next files. On this machine the calls are about 55 % of such a copy and
 * the rest of ferry's work about 45 % (`deno task bench:floor`): side by
 * side on two cores, a run of many small files takes the longer of the two
 * instead of their sum.
 *
 * Files go to the worker in batches: while `IN_FLIGHT` (8) batches
 * are in its hands, the files that come meanwhile wait and go together as
 * the next, so a message carries many files when the worker is busy and one
 * when it is idle.
 *
 * @module
 */

import { ErrnoError } from "../fs/libc.ts";
import type { LocalCopy, LocalPublishOutcome } from "../fs/local_copy.ts";
import type { LocalJob, LocalJobOutcome } from "../workers/local_worker.ts";

/** Files copied in this thread before the worker starts (a worker takes ~20 ms to start). */
export const WORKER_AFTER = 256;
/** Batches in the worker's hands at once (2 and 4 left it waiting for this thread). */
const IN_FLIGHT = 8;
/** Files in one batch at most. */
const BATCH = 32;
/**
 * Small files in flight once the worker runs, so that batches are full and
 * queued for it (with the default 16, it waited for this thread half the
 * time and the copy took longer than without a worker).
 */
export const LOCAL_IN_FLIGHT = IN_FLIGHT * BATCH;

const WORKER_URL = new URL("../workers/local_worker.ts", import.meta.url);

interface Pending {
  job: LocalJob;
  resolve: (outcome: LocalPublishOutcome) => void;
  reject: (error: unknown) => void;
}

/** Copies and publishes small local files, in this thread at first, then on a worker. */
export class LocalCopier {
  #local: LocalCopy;
  #worker: Worker | undefined;
  #broken = false;
  #copied = 0;
  #waiting: Pending[] = [];
  #sent: Pending[][] = [];
  #flushing = false;

  #onWorker: () => void;

  /**
   * Wraps the binding of this thread.
   *
   * @param local libc's calls, for the first files and where no worker can start.
   * @param onWorker Called when the worker starts (the caller lets
   * {@linkcode LOCAL_IN_FLIGHT} files be in flight then).
   */
  constructor(local: LocalCopy, onWorker: () => void = () => {}) {
    this.#local = local;
    this.#onWorker = onWorker;
  }

  /**
   * Copies a small file into its temporary and publishes it.
   *
   * @param job The file.
   * @returns How the publish went; the temporary is left for the caller to
   * remove when it is not `"published"` or when this rejects.
   * @throws {ErrnoError} When a call fails (its `path` says which side), or
   * an error with `failure: "source-changed"`.
   */
  copyAndPublish(job: LocalJob): Promise<LocalPublishOutcome> {
    if (this.#copied++ < WORKER_AFTER || this.#broken) return this.#here(job);
    this.#worker ??= this.#start();
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        queueMicrotask(() => {
          this.#flushing = false;
          this.#flush();
        });
      }
    });
  }

  /**
   * Stops the worker and unloads libc. Every file has been answered for by
   * then; one that was not would reject.
   */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#fail(new Error("stopped"));
    this.#local.close();
  }

  #here(job: LocalJob): Promise<LocalPublishOutcome> {
    try {
      this.#local.copy(job.request);
      return Promise.resolve(this.#local.publish(job.request.tmp, job.dst, job.overwrite));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL, { type: "module" });
    this.#onWorker();
    worker.onmessage = (event: MessageEvent<LocalJobOutcome[]>) => {
      const batch = this.#sent.shift() ?? [];
      // The next batch goes before this one's files are finished here, so
      // that the worker copies while this thread works.
      this.#flush();
      event.data.forEach((outcome, i) => settle(batch[i]!, outcome));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#broken = true;
      this.#worker = undefined;
      this.#fail(new Error(`the small-file worker failed: ${event.message}`));
    };
    return worker;
  }

  #flush(): void {
    while (
      this.#worker !== undefined && this.#sent.length < IN_FLIGHT && this.#waiting.length > 0
    ) {
      const batch = this.#waiting.splice(0, BATCH);
      this.#sent.push(batch);
      this.#worker.postMessage(batch.map((pending) => pending.job));
    }
  }

  #fail(error: Error): void {
    for (const pending of [...this.#sent.flat(), ...this.#waiting]) pending.reject(error);
    this.#sent = [];
    this.#waiting = [];
  }
}

/** Resolves or rejects one file as the worker said, rebuilding its error. */
function settle(pending: Pending, outcome: LocalJobOutcome): void {
  if (typeof outcome === "string") return pending.resolve(outcome);
  const error = outcome.errno !== undefined
    ? new ErrnoError(outcome.errno.call, outcome.errno.errno, outcome.errno.path)
    : new Error(outcome.message);
  if (outcome.failure !== undefined) Object.assign(error, { failure: outcome.failure });
  pending.reject(error);
}
