/**
 * The chunk worker pool: spawns module Web Workers lazily (only as many as
 * there are queued ranges, up to `maxWorkers`), hands each idle worker the
 * next range from a FIFO queue, and shuts them down.
 *
 * @module
 */

import type { ControlBlock } from "./control.ts";
import { RateLimit } from "./rate_limit.ts";
import { HashChain } from "../integrity/hash_chain.ts";
import type { Chunk } from "../plan/plan_item.ts";
import type {
  CancelledMessage,
  CopyMessage,
  DoneMessage,
  ErrorMessage,
  FromWorker,
  ReleasedMessage,
  ToWorker,
} from "./messages.ts";

/** How a range ended. */
export type ChunkOutcome = DoneMessage | CancelledMessage | ErrorMessage;

/** A range to copy, without the message fields the pool fills in. */
export type ChunkJob = Omit<CopyMessage, "type" | "id">;

const WORKER_URL = new URL("./copy_worker.ts", import.meta.url);

/** How all the ranges of one file ended (see {@linkcode WorkerPool.runRanges}). */
export interface RangesOutcome {
  /** The first range that failed, if any. */
  failure?: ErrorMessage;
  /** Whether every range completed. */
  complete: boolean;
  /** The whole file's digest, for hashed ranges that all completed. */
  digest?: string;
}

/** How {@linkcode WorkerPool.runRanges} runs a file's ranges. */
export interface RangesOptions {
  /** The jobs carry `hash`: the ranges are hashed in file order. */
  hashed: boolean;
  /** Called as each range ends. */
  onOutcome?: (chunk: Chunk, outcome: ChunkOutcome) => void;
  /** The hash state the first range continues (the bytes before it were hashed by a killed run). */
  startState?: Uint8Array;
  /**
   * The ranges run one after another, each on the worker that wrote the one
   * before, which keeps the files open (default `false`: side by side).
   */
  oneAtATime?: boolean;
}

/** Answers a hashed range's request for the hash state of the range before it. */
export type NeedState = () => Promise<{ state: Uint8Array | null; abort: boolean }>;

interface Queued {
  job: ChunkJob | (() => ChunkJob);
  tag: number;
  needState: NeedState | undefined;
  ended: ((outcome: ChunkOutcome) => void) | undefined;
  resolve: (outcome: ChunkOutcome) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  index: number;
  ready: boolean;
  current: (Queued & { id: number }) | undefined;
  /** Called when the worker confirms it closed its files (see {@linkcode WorkerPool.close}). */
  onReleased: ((message: ReleasedMessage) => void) | undefined;
  /** The worker keeps the current range's source open for the next range of the same file. */
  keepsSource: boolean;
}

/**
 * A lazily grown pool of chunk workers sharing one control block.
 *
 * @example Copying one range with a worker
 * ```ts
 * import { ControlBlock } from "./control.ts";
 * import { WorkerPool } from "./pool.ts";
 *
 * const src = await Deno.makeTempFile();
 * await Deno.writeFile(src, new Uint8Array(4096).fill(7));
 * const dst = await Deno.makeTempFile();
 * await Deno.truncate(dst, 4096);
 * const pool = new WorkerPool(new ControlBlock(2), { bufferBytes: 1024 });
 * const outcome = await pool.run({
 *   src, dst, offset: 0, length: 4096,
 *   offload: false, offloadRequired: false, offloadStepBytes: 1 << 20,
 * }, 0);
 * pool.terminate();
 * console.log(outcome.type); // "done"
 * await Deno.remove(src);
 * await Deno.remove(dst);
 * ```
 */
export class WorkerPool {
  #control: ControlBlock;
  #bufferBytes: number;
  #limit: RateLimit;
  #slots: Slot[] = [];
  #queue: Queued[] = [];
  #nextId = 1;
  #broken: Error | undefined;
  #spawnTimer: ReturnType<typeof setTimeout> | undefined;
  #streams: number;
  /** Tags (files) whose ranges run one at a time (see `oneAtATime` of {@linkcode WorkerPool.runRanges}). */
  #serial = new Set<number>();
  /** Ranges being queued together: the pump waits until all are in. */
  #queueing = false;

  /**
   * Creates an empty pool; workers start when ranges are queued.
   *
   * @param control The control block; its worker count is the pool's maximum size.
   * @param options The size of each worker's reused buffer, and the batch's bandwidth limit.
   */
  constructor(control: ControlBlock, options: { bufferBytes: number; limit?: RateLimit }) {
    this.#control = control;
    this.#bufferBytes = options.bufferBytes;
    this.#limit = options.limit ?? new RateLimit();
    this.#streams = control.workers;
  }

  /**
   * Ranges copied at once (adaptive concurrency sets it while the batch runs):
   * from 1 to the control block's worker count, which it is at first. Fewer
   * leave workers idle (started ones stay for when it grows again); more
   * start workers as ranges come.
   */
  get streams(): number {
    return this.#streams;
  }

  set streams(count: number) {
    this.#streams = Math.max(1, Math.min(this.#control.workers, Math.floor(count)));
    this.#pump();
  }

  /**
   * Ranges with this tag being copied now.
   *
   * @param tag The tag given to {@linkcode WorkerPool.run}.
   * @returns How many workers hold one of its ranges.
   */
  running(tag: number): number {
    return this.#slots.filter((s) => s.current?.tag === tag).length;
  }

  /** Number of workers started so far. */
  get started(): number {
    return this.#slots.length;
  }

  /**
   * Whether the streams are in effect: as many workers are ready as the
   * streams allow, or no queued range waits for one.
   */
  get settled(): boolean {
    if (this.#startable() === 0 || this.#broken !== undefined) return true;
    return this.#slots.filter((s) => s.ready).length >= this.#streams;
  }

  /**
   * Queues a range and resolves with its outcome. Rejects only when the
   * worker itself crashed or could not start.
   *
   * @param job The range, or a function that gives it when a worker takes it
   *   (so settings learnt from earlier ranges, such as a failed offload, apply).
   * @param tag A number that groups ranges (the file), for {@linkcode WorkerPool.dropQueued}.
   * @param needState For a hashed range: gives the hash state of the range before it.
   * @param ended Called as its worker reports the range ended, before it takes the next
   *   range (the outcome is also what the promise resolves with, a moment later).
   * @returns How the range ended.
   */
  run(
    job: ChunkJob | (() => ChunkJob),
    tag: number,
    needState?: NeedState,
    ended?: (outcome: ChunkOutcome) => void,
  ): Promise<ChunkOutcome> {
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, tag, needState, ended, resolve, reject });
      if (!this.#queueing) this.#pump();
    });
  }

  /**
   * Runs all the ranges of one file. Hashed ranges are read in parallel and
   * hashed in file order: each continues the hash state the range before it
   * ended with, and the last gives the digest. After the first error the
   * file's queued ranges are dropped.
   *
   * @param tag A number for this file, unique among the files in flight.
   * @param chunks The file's ranges, in order.
   * @param job The job for a range, made when a worker takes it.
   * @param options `hashed` when the jobs carry `hash`; `onOutcome` is called
   *   as each range ends; `startState`: the hash state the first range
   *   continues (the bytes before it were hashed by a killed run);
   *   `oneAtATime`: the ranges run one after another, each on the worker
   *   that wrote the one before, which keeps the files open (a destination
   *   on a share: a client takes one file's writes one at a time, so a
   *   second writer into it adds round trips and contention, not speed;
   *   other files' ranges take the other streams).
   * @returns The first failure, whether every range completed, and the digest.
   *
   * @example Hashing a file in two ranges read side by side
   * ```ts
   * import { ControlBlock } from "./control.ts";
   * import { WorkerPool } from "./pool.ts";
   *
   * const path = await Deno.makeTempFile();
   * await Deno.writeTextFile(path, "hello world\n");
   * const pool = new WorkerPool(new ControlBlock(2), { bufferBytes: 4096 });
   * const ranges = [{ offset: 0, length: 6 }, { offset: 6, length: 6 }];
   * const run = await pool.runRanges(1, ranges, (range, last) => ({
   *   src: path, dst: path, ...range,
   *   offload: false, offloadRequired: false, offloadStepBytes: 0,
   *   hash: { algorithm: "xxh64", mode: "read", last },
   * }), { hashed: true });
   * await pool.close();
   * console.log(run.digest); // "5215e13b207d6d8c"
   * await Deno.remove(path);
   * ```
   */
  async runRanges(
    tag: number,
    chunks: readonly Chunk[],
    job: (chunk: Chunk, last: boolean) => ChunkJob,
    options: RangesOptions,
  ): Promise<RangesOutcome> {
    if (options.oneAtATime === true) this.#serial.add(tag);
    try {
      return await this.#runRanges(tag, chunks, job, options);
    } finally {
      this.#serial.delete(tag);
    }
  }

  async #runRanges(
    tag: number,
    chunks: readonly Chunk[],
    job: (chunk: Chunk, last: boolean) => ChunkJob,
    options: RangesOptions,
  ): Promise<RangesOutcome> {
    const chain = new HashChain(options.startState ?? null);
    let failure: ErrorMessage | undefined;
    let digest: string | undefined;
    let done = 0;
    // Every range is queued before a worker takes the first: a worker keeps
    // the file's source and destination open only when it sees the next
    // range queued (an idle worker used to take the first range alone, and
    // closed and opened the file again for the second: on a share a close
    // waits for the server to hold what was written).
    this.#queueing = true;
    const all = Promise.all(chunks.map(async (chunk, index) => {
      const outcome = await this.run(
        () => {
          const made = job(chunk, index === chunks.length - 1);
          // Where the state before the range is known as it is handed out (the
          // first range; a range whose predecessor is hashed), its worker
          // hashes as it reads.
          const state = chain.knownBefore(index);
          if (made.hash === undefined || state === undefined) return made;
          return { ...made, hash: { ...made.hash, start: { state } } };
        },
        tag,
        options.hashed && index > 0 ? () => chain.stateBefore(index) : undefined,
        // Recorded before the worker takes the next range, which then starts with it.
        (ended) => {
          if (ended.type === "done" && ended.state !== undefined) chain.done(index, ended.state);
        },
      );
      options.onOutcome?.(chunk, outcome);
      if (outcome.type === "done") {
        done++;
        if (outcome.digest !== undefined) digest = outcome.digest;
        return;
      }
      chain.break();
      if (outcome.type === "error" && failure === undefined) {
        failure = outcome;
        this.dropQueued(tag);
      }
    }));
    this.#queueing = false;
    this.#pump();
    await all;
    return {
      ...(failure === undefined ? {} : { failure }),
      complete: done === chunks.length,
      ...(digest === undefined ? {} : { digest }),
    };
  }

  /**
   * Removes the queued (not yet started) ranges with this tag; they resolve as cancelled.
   *
   * @param tag The tag given to {@linkcode WorkerPool.run}.
   */
  dropQueued(tag: number): void {
    const keep: Queued[] = [];
    for (const item of this.#queue) {
      if (item.tag === tag) item.resolve({ type: "cancelled", id: 0, bytes: 0 });
      else keep.push(item);
    }
    this.#queue = keep;
  }

  /**
   * Shuts the pool down when its work is over: asks every worker to close the
   * files it still holds (a source kept open for a next range; libc
   * descriptors would outlive a terminated worker), waits for the answers
   * (at most `timeoutMs`), then terminates the workers.
   *
   * @param timeoutMs How long to wait for the workers' answers.
   */
  async close(timeoutMs = 1000): Promise<void> {
    const answers = this.#slots.filter((slot) => slot.ready).map((slot) =>
      new Promise<void>((resolve) => {
        slot.onReleased = () => resolve();
        slot.worker.postMessage({ type: "release", ack: true } satisfies ToWorker);
      })
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(answers),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    this.terminate();
  }

  /** Stops every worker at once; queued and running ranges resolve as cancelled. */
  terminate(): void {
    clearTimeout(this.#spawnTimer);
    this.#spawnTimer = undefined;
    for (const slot of this.#slots) {
      slot.worker.terminate();
      slot.current?.resolve({ type: "cancelled", id: slot.current.id, bytes: 0 });
      slot.current = undefined;
    }
    for (const item of this.#queue) item.resolve({ type: "cancelled", id: 0, bytes: 0 });
    this.#queue = [];
    this.#slots = [];
  }

  /**
   * Starts a worker before a range is queued for it, where a range is about
   * to come and the pool has none: the worker's start (20–40 ms) overlaps
   * what this thread does until then. Nothing where a worker is there or
   * starting.
   */
  warm(): void {
    if (this.#slots.length > 0 || this.#broken !== undefined || this.#spawnTimer !== undefined) {
      return;
    }
    const free = this.#freeIndexes();
    if (free.length > 0) this.#spawn(free[0]!);
  }

  #pump(): void {
    if (this.#dropIfCancelled()) return;
    let busy = this.#busy();
    for (const slot of this.#slots) {
      if (busy >= this.#streams) return;
      if (slot.ready && slot.current === undefined) {
        const index = this.#nextStartable();
        if (index < 0) return;
        this.#dispatch(slot, index);
        busy++;
      }
    }
    // Start a worker for a queued range that no starting worker will take.
    // `new Worker` blocks this thread for ~20 ms, so workers start one per
    // event-loop turn: the first one copies while the next ones start.
    if (this.#spawnTimer !== undefined) return;
    const free = this.#freeIndexes();
    const starting = this.#slots.filter((s) => !s.ready).length;
    if (this.#startable() > starting && free.length > 0 && busy + starting < this.#streams) {
      this.#spawn(free[0]!);
      this.#spawnTimer = setTimeout(() => {
        this.#spawnTimer = undefined;
        this.#pump();
      }, 0);
    }
  }

  /** After a cancel, queued ranges end as cancelled without reaching a worker. */
  #dropIfCancelled(): boolean {
    if (!this.#control.cancelled) return false;
    const queued = this.#queue;
    this.#queue = [];
    for (const item of queued) item.resolve({ type: "cancelled", id: 0, bytes: 0 });
    return true;
  }

  /** Counter slots not used by a live worker (a crashed worker's slot is reused). */
  #freeIndexes(): number[] {
    const used = new Set(this.#slots.map((s) => s.index));
    const free: number[] = [];
    for (let i = 0; i < this.#control.workers; i++) if (!used.has(i)) free.push(i);
    return free;
  }

  /** Hands the slot the queued range at `index` (the head by default). */
  #dispatch(slot: Slot, index = 0): void {
    const [item] = this.#queue.splice(index, 1) as [Queued];
    const id = this.#nextId++;
    slot.current = { ...item, id };
    slot.keepsSource = this.#queue.some((next) => next.tag === item.tag);
    const message: ToWorker = {
      type: "copy",
      id,
      ...(typeof item.job === "function" ? item.job() : item.job),
      ...(slot.keepsSource ? { keepSource: true, keepDestination: true } : {}),
    };
    slot.worker.postMessage(message);
  }

  /** Whether a queued range of this tag waits for another of its file's ranges to end. */
  #waits(tag: number): boolean {
    return this.#serial.has(tag) && this.running(tag) > 0;
  }

  /** The queue's first range a free worker may take now, or -1. */
  #nextStartable(): number {
    return this.#queue.findIndex((item) => !this.#waits(item.tag));
  }

  /** Queued ranges that could start now: a file whose ranges run one at a time counts once. */
  #startable(): number {
    let count = 0;
    const seen = new Set<number>();
    for (const item of this.#queue) {
      if (!this.#serial.has(item.tag)) count++;
      else if (!seen.has(item.tag)) {
        seen.add(item.tag);
        if (!this.#waits(item.tag)) count++;
      }
    }
    return count;
  }

  /** Ranges being copied. */
  #busy(): number {
    return this.#slots.filter((s) => s.current !== undefined).length;
  }

  #spawn(index: number): void {
    // A worker whose module cannot be read dies with Deno's own "Uncaught"
    // report on stderr: say it in plain words instead, and start none.
    if (Deno.permissions.querySync({ name: "read", path: WORKER_URL }).state !== "granted") {
      const error = new Error(
        `ferry cannot load its copy worker '${WORKER_URL.pathname}': it was not granted read ` +
          `access to it (add ferry's folder to --allow-read)`,
      );
      this.#broken = error;
      for (const item of this.#queue) item.reject(error);
      this.#queue = [];
      return;
    }
    const worker = new Worker(WORKER_URL, { type: "module" });
    const slot: Slot = {
      worker,
      index,
      ready: false,
      current: undefined,
      onReleased: undefined,
      keepsSource: false,
    };
    this.#slots.push(slot);
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.#onMessage(slot, event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#onCrash(slot, new Error(`A copy worker failed: ${event.message}`));
    };
    const init: ToWorker = {
      type: "init",
      slot: index,
      control: this.#control.buffer,
      bufferBytes: this.#bufferBytes,
      limit: this.#limit.buffer,
    };
    worker.postMessage(init);
  }

  #onMessage(slot: Slot, message: FromWorker): void {
    if (message.type === "need-state") {
      const current = slot.current;
      const ask = current?.needState ?? (() => Promise.resolve({ state: null, abort: true }));
      void ask().then(({ state, abort }) => {
        const reply: ToWorker = { type: "state", id: message.id, state, abort };
        if (slot.current?.id === message.id) slot.worker.postMessage(reply);
      });
      return;
    }
    if (message.type === "released") {
      const onReleased = slot.onReleased;
      slot.onReleased = undefined;
      onReleased?.(message);
      return;
    }
    if (message.type === "ready") {
      slot.ready = true;
    } else {
      const current = slot.current;
      if (current === undefined) return;
      current.ended?.(message);
      if (message.type === "done" && message.keptDestination === true) {
        this.#settleKept(slot, current, message);
        return;
      }
      slot.current = undefined;
      current.resolve(message);
    }
    this.#next(slot);
  }

  /**
   * A range ended with its destination still open on the worker: the worker
   * writes on with it where the file's next range is queued, else closes it
   * before the range counts as done (a file is published only once every
   * descriptor written through is closed, and a failed close fails the range).
   */
  #settleKept(slot: Slot, current: Queued & { id: number }, done: DoneMessage): void {
    const next = this.#queue.findIndex((item) => item.tag === current.tag);
    if (next >= 0 && !this.#control.cancelled && this.#busy() <= this.#streams) {
      slot.current = undefined;
      current.resolve(done);
      this.#dispatch(slot, next);
      return;
    }
    slot.onReleased = (released) => {
      slot.current = undefined;
      current.resolve(
        released.failure === undefined ? done : {
          type: "error",
          id: done.id,
          bytes: done.bytes,
          ...released.failure,
          side: "destination",
        },
      );
      this.#next(slot);
    };
    slot.keepsSource = false;
    slot.worker.postMessage({ type: "release", ack: true } satisfies ToWorker);
  }

  /** The slot is free: give it the next range while the streams allow, else let its files go. */
  #next(slot: Slot): void {
    this.#dropIfCancelled();
    const index = this.#busy() < this.#streams ? this.#nextStartable() : -1;
    if (index >= 0) {
      this.#dispatch(slot, index);
    } else if (slot.keepsSource) {
      // Idle: no source stays open behind the engine's back (a move removes
      // sources once they are verified; an open file would linger on a share).
      slot.keepsSource = false;
      slot.worker.postMessage({ type: "release" } satisfies ToWorker);
    }
  }

  #onCrash(slot: Slot, error: Error): void {
    slot.worker.terminate();
    this.#slots = this.#slots.filter((s) => s !== slot);
    slot.current?.reject(error);
    if (!slot.ready && !this.#slots.some((s) => s.ready)) {
      this.#broken = error;
      for (const item of this.#queue) item.reject(error);
      this.#queue = [];
    } else {
      this.#pump();
    }
  }
}
