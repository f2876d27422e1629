/**
 * Hashing many files side by side, for `ferry hash`, `ferry verify` and the
 * read-back of verified copies. Files larger than one buffer are read by the
 * chunk workers (with `--allow-ffi`, libc reads with the sequential
 * read-ahead hint): on a share in ranges read side by side and hashed in file
 * order, on a local file system each by one worker that hashes as it reads;
 * smaller ones are read whole on the main thread, where a round trip through
 * a worker would cost more than the read. The workers at once adapt as a
 * copy's streams do.
 *
 * @module
 */

import { ControlBlock } from "../workers/control.ts";
import { type HashAlgorithm, hashBytes, hashFile } from "./hash.ts";
import { DEFAULTS } from "../options.ts";
import { HASH_CHUNK_BYTES, splitRanges } from "../plan/chunks.ts";
import type { Chunk } from "../plan/plan_item.ts";
import { MIB } from "../size.ts";
import { type ChunkJob, WorkerPool } from "../workers/pool.ts";
import { errorFromWorker } from "../workers/messages.ts";
import { ConcurrencyTuner, FILE_WORK_BYTES } from "../transfer/concurrency_tuner.ts";
import { TuningLoop } from "../transfer/tuning_loop.ts";
import { LocalFolders } from "../fs/file_ops.ts";
import { alignedBytes } from "../fs/aligned_bytes.ts";
import { dirname } from "node:path";

/**
 * Files hashed at once by `ferry hash` and `ferry verify`: on a share each
 * file costs round trips, and large files share the workers anyway.
 */
export const DEFAULT_HASH_CONCURRENCY = 16;

/** Options for {@linkcode FileHasher}. */
export interface FileHasherOptions {
  /**
   * Workers reading the ranges of large files. Given, it is fixed; by
   * default the number adapts as for a copy (`concurrency: "adaptive"`):
   * 2 at first, more while the rate of hashing rises with them, up to 8.
   * @default {adaptive, up to 8}
   */
  workers?: number;
  /**
   * Files up to this size are read whole on the main thread; it is also
   * each worker's read size.
   * @default {1 MiB}
   */
  bufferBytes?: number;
}

/**
 * The job that reads one range of a file and continues its hash.
 *
 * @param path The file.
 * @param algorithm The hash algorithm.
 * @param chunk The range.
 * @param last Whether it is the file's last range (its worker gives the digest).
 * @returns The job for {@linkcode WorkerPool.run}.
 *
 * @example
 * ```ts
 * import { hashedReadJob } from "./file_hasher.ts";
 *
 * const job = hashedReadJob("/shots/a.exr", "xxh64", { offset: 0, length: 10 }, true);
 * console.log(job.hash?.mode); // "read"
 * ```
 */
export function hashedReadJob(
  path: string,
  algorithm: HashAlgorithm,
  chunk: Chunk,
  last: boolean,
): ChunkJob {
  return {
    src: path,
    dst: path,
    offset: chunk.offset,
    length: chunk.length,
    offload: false,
    offloadRequired: false,
    offloadStepBytes: 0,
    hash: { algorithm, mode: "read", last },
  };
}

/**
 * Hashes files, many at once: call {@linkcode FileHasher.hash} from several
 * lanes, then close it (or use `await using`). Workers start only for files
 * larger than one buffer.
 *
 * Requires `--allow-read` on the files and on ferry's `workers/` module.
 *
 * @example Hashing a file (call it from many lanes to hash many at once)
 * ```ts
 * import { FileHasher } from "./file_hasher.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hello world\n");
 * await using hasher = new FileHasher();
 * console.log(await hasher.hash(`${dir}/a.txt`, "xxh64")); // "5215e13b207d6d8c"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileHasher implements AsyncDisposable {
  #control: ControlBlock;
  #bufferBytes: number;
  #pool: WorkerPool | undefined;
  #nextTag = 0;
  #bytesHashed = 0;
  #filesHashed = 0;
  #fixed: boolean;
  #loop: TuningLoop | undefined;
  #folders = new LocalFolders();
  /** The last of the files hashed on this thread, one after another (one core). */
  #here: Promise<unknown> = Promise.resolve();
  #hereBuffer: Uint8Array | undefined;

  /** Bytes hashed so far, over every file (large files count range by range, 8 MiB at a time). */
  get bytesHashed(): number {
    return this.#bytesHashed;
  }

  /**
   * Creates a hasher; no worker starts until a large file is hashed.
   *
   * @param options Workers and buffer size.
   */
  constructor(options: FileHasherOptions = {}) {
    this.#control = new ControlBlock(options.workers ?? DEFAULTS.maxWorkers);
    this.#bufferBytes = options.bufferBytes ?? MIB;
    this.#fixed = options.workers !== undefined;
  }

  /** The pool, started with the first large file (and, adaptive, the loop that tunes it). */
  #startPool(): WorkerPool {
    const pool = new WorkerPool(this.#control, { bufferBytes: this.#bufferBytes });
    if (!this.#fixed) {
      const tuner = new ConcurrencyTuner({ max: this.#control.workers });
      pool.streams = tuner.streams;
      this.#loop = new TuningLoop(
        tuner,
        () => this.#bytesHashed + this.#filesHashed * FILE_WORK_BYTES,
        (decision) => pool.streams = decision.streams,
        () => pool.settled,
      );
      this.#loop.start();
    }
    return pool;
  }

  /**
   * Hashes one file by reading it.
   *
   * @param path The file (symbolic links are followed).
   * @param algorithm The algorithm.
   * @param size Its size, when the caller has just looked (saves a stat).
   * @returns The digest, as the standard tool prints it.
   * @throws {Error} When the file cannot be read; Deno's errors, or one with
   *   the errno name as `code` from a worker.
   */
  async hash(path: string, algorithm: HashAlgorithm, size?: number): Promise<string> {
    size ??= (await Deno.stat(path)).size;
    if (size <= this.#bufferBytes) {
      const digest = await hashBytes(algorithm, await Deno.readFile(path));
      this.#bytesHashed += size;
      this.#filesHashed++;
      return digest;
    }
    // On a local file system one worker reads the file in order, hashing as
    // it reads (as xxhsum does; the kernel reads ahead); on a share its
    // ranges are read side by side, each request's latency hidden by the others.
    const local = await this.#folders.isLocal(dirname(path));
    // With one core a worker has nothing to overlap with and only costs its
    // start (~0.1 s): local files are read here, one at a time, as xxhsum does.
    if (local && !this.#fixed && navigator.hardwareConcurrency === 1) {
      const onRead = (bytes: number) => void (this.#bytesHashed += bytes);
      const digest = this.#here.then(() =>
        hashFile(path, algorithm, {
          buffer: this.#hereBuffer ??= alignedBytes(this.#bufferBytes),
          onRead,
        })
      );
      this.#here = digest.catch(() => {});
      const done = await digest;
      this.#filesHashed++;
      return done;
    }
    this.#pool ??= this.#startPool();
    const chunks = local ? [{ offset: 0, length: size }] : splitRanges(size, HASH_CHUNK_BYTES);
    const run = await this.#pool.runRanges(
      this.#nextTag++,
      chunks,
      (chunk, last) => hashedReadJob(path, algorithm, chunk, last),
      {
        hashed: true,
        onOutcome: (_chunk, outcome) => {
          if (outcome.type === "done") this.#bytesHashed += outcome.bytes;
        },
      },
    );
    if (run.failure !== undefined) throw errorFromWorker(run.failure);
    if (!run.complete || run.digest === undefined) throw new Error("the read was stopped");
    this.#filesHashed++;
    return run.digest;
  }

  /** Stops the workers, once every hash has ended. */
  async close(): Promise<void> {
    this.#loop?.stop();
    this.#loop = undefined;
    await this.#pool?.close();
    this.#pool = undefined;
  }

  /** Same as {@linkcode FileHasher.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
