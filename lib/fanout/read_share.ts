/**
 * What the batches of one offload share: each source file read once. The
 * batches (one per destination, "seats") run side by side; the first to
 * reach a range of a file reads it into a slab (`lib/workers/slab.ts`),
 * every other writes it from there. The slabs are hashed here, in file
 * order, once, and every seat takes that digest. A slab stays until every
 * seat has written it (or passed its file), or until the memory cap makes
 * room for the range the fastest seat reads next: then a seat that fell
 * further behind than the cap reads what it missed from the source again
 * (and `--verify source`, on by default for offloads, checks those bytes as
 * it checks all). So a slow destination holds the others back by nothing but
 * CPU and the source's speed.
 *
 * @module
 */

import { createHasher, type HashAlgorithm, type Hasher } from "../integrity/hash.ts";
import type { Chunk, PlannedFile } from "../plan/plan_item.ts";
import { Slab, SLAB_STATE } from "../workers/slab.ts";
import type { SlabJob } from "../workers/messages.ts";
import type { SpaceNeed } from "../fs/free_space.ts";

/** The largest range read into a slab (a slab's counters are 32-bit). */
const MAX_SLAB_BYTES = 1024 * 1024 * 1024;

/**
 * Memory of freed slabs kept for the next ones of the same size:
 * memory the kernel hands out afresh is zeroed page by page, which cost
 * more than the copy itself here (248 MiB: 159 ms fresh, 65 ms reused).
 */
const SPARE_BYTES = 256 * 1024 * 1024;

/** A range of a file in shared memory. */
interface Held {
  entry: Entry;
  offset: number;
  slab: Slab;
  /** Hashed already (or nothing to hash): it may be dropped. */
  hashed: boolean;
  /** Seats whose write of it ended. */
  used: Set<number>;
  /** Seats that took it (their worker holds it). */
  claimed: Set<number>;
  /** The seat whose worker fills it. */
  filler: number;
}

/** One source file as the seats see it. */
interface Entry {
  key: string;
  size: number;
  slabs: Map<number, Held>;
  /** Ranges whose slab was dropped for the cap: seats read them again. */
  dropped: Set<number>;
  /** Seats that have ended this file. */
  passed: Set<number>;
  hash: EntryHash | undefined;
}

/** The in-order hash of an entry's slabs. */
interface EntryHash {
  /** The hash state after the bytes before `next` (`null`: none yet). */
  state: Uint8Array | null;
  /** The next offset to hash. */
  next: number;
  /** Hashing runs one slab at a time. */
  busy: Promise<void>;
  digest: Promise<string | undefined>;
  settle: (digest: string | undefined) => void;
  broken: boolean;
}

/** Counts of what the share did. */
export interface ShareStats {
  /** Bytes read from the sources into slabs. */
  bytesRead: number;
  /** Bytes of slabs dropped for the cap before every seat had them. */
  bytesDropped: number;
  /** The most bytes held at once. */
  peakBytes: number;
  /** Seats that fell further behind than the cap (a range dropped before they took it), in the order they did. */
  lateSeats: number[];
}

/**
 * The reads several batches share.
 *
 * @example
 * ```ts
 * import { ReadShare } from "./read_share.ts";
 *
 * const share = new ReadShare(2, { lagBytes: 64 * 2 ** 20, algorithm: "xxh64" });
 * console.log(share.seats, share.stats.bytesRead); // 2 0
 * ```
 */
export class ReadShare {
  /** The number of batches sharing it. */
  readonly seats: number;
  /** What it did. */
  readonly stats: ShareStats = { bytesRead: 0, bytesDropped: 0, peakBytes: 0, lateSeats: [] };
  #lagBytes: number;
  #algorithm: HashAlgorithm | null;
  #entries = new Map<string, Entry>();
  /** Held ranges in the order they were read: the oldest go first. */
  #held: Held[] = [];
  #bytes = 0;
  #left = new Set<number>();
  /** Freed slab memory by size, for the next slab of that size (see {@linkcode SPARE_BYTES}). */
  #spare = new Map<number, SharedArrayBuffer[]>();
  #spareBytes = 0;
  /** One hasher for every file: each file's state is loaded, fed and saved with no await between. */
  #hasher: Promise<Hasher> | undefined;

  /**
   * A share for `seats` batches.
   *
   * @param seats How many batches share it.
   * @param options `lagBytes`: the memory cap; `algorithm`: the batches' hash, or `null`.
   */
  constructor(seats: number, options: { lagBytes: number; algorithm: HashAlgorithm | null }) {
    this.seats = seats;
    this.#lagBytes = options.lagBytes;
    this.#algorithm = options.algorithm;
  }

  /**
   * The slab a seat's worker uses for one range of a file: the first seat
   * to ask fills it, the others write from it. `undefined` where it was
   * dropped for the cap, or cannot be shared: the seat reads the source itself.
   *
   * @param file The seat's plan item.
   * @param chunk The range.
   * @param seat The seat.
   * @returns The slab job, or `undefined`.
   */
  slab(file: PlannedFile, chunk: Chunk, seat: number): SlabJob | undefined {
    const entry = this.#entry(file);
    const held = entry.slabs.get(chunk.offset);
    if (held !== undefined) {
      if (held.slab.data.length === chunk.length) {
        held.claimed.add(seat);
        return { buffer: held.slab.buffer, fill: false };
      }
      this.#breakHash(entry);
      return undefined;
    }
    if (entry.dropped.has(chunk.offset)) return undefined;
    if (chunk.length > MAX_SLAB_BYTES) {
      this.#breakHash(entry);
      return undefined;
    }
    this.#makeRoom(chunk.length);
    const made: Held = {
      entry,
      offset: chunk.offset,
      slab: this.#newSlab(chunk.length),
      hashed: this.#algorithm === null,
      used: new Set(),
      claimed: new Set([seat]),
      filler: seat,
    };
    entry.slabs.set(chunk.offset, made);
    this.#held.push(made);
    this.#add(chunk.length);
    this.stats.bytesRead += chunk.length;
    return { buffer: made.slab.buffer, fill: true };
  }

  /**
   * A seat's range ended (however): where its slab is full, the file's hash
   * goes on; where its filler gave up, the file's digest cannot come from here.
   *
   * @param file The seat's plan item.
   * @param chunk The range.
   * @param seat The seat.
   */
  settle(file: PlannedFile, chunk: Chunk, seat: number): void {
    const entry = this.#entries.get(keyOf(file));
    const held = entry?.slabs.get(chunk.offset);
    if (entry === undefined || held === undefined) return;
    held.used.add(seat);
    // A filler that ended before the slab was full (its worker stopped at
    // once, by a kill) cannot say so itself: the writers waiting on it read
    // the rest from the source.
    if (seat === held.filler && held.slab.state === SLAB_STATE.filling) held.slab.abandon();
    if (held.slab.state === SLAB_STATE.abandoned) this.#breakHash(entry);
    else if (held.slab.state === SLAB_STATE.full) this.#hashOn(entry);
    this.#releaseIfUsed(held);
  }

  /** Frees a range once it is hashed and every seat has written it (or is past its file). */
  #releaseIfUsed(held: Held): void {
    if (!held.hashed || this.#awaited(held.used, held.entry)) return;
    // Kept in the entry's map as gone: a seat still to come reads it from the source.
    held.entry.slabs.delete(held.offset);
    held.entry.dropped.add(held.offset);
    this.#release(held, true);
  }

  /**
   * The source's digest, hashed once from the slabs in order; `undefined`
   * when it could not be (a range was not shared): the seat hashes it itself.
   *
   * @param file The seat's plan item.
   * @returns The digest, once every range has been read.
   */
  digest(file: PlannedFile): Promise<string | undefined> {
    const entry = this.#entry(file);
    return this.#hashOf(entry)?.digest ?? Promise.resolve(undefined);
  }

  /**
   * A seat has ended a file (copied, skipped, failed): once every seat has,
   * its memory is freed.
   *
   * @param file The seat's plan item.
   * @param seat The seat.
   */
  passed(file: PlannedFile, seat: number): void {
    const entry = this.#entry(file);
    entry.passed.add(seat);
    this.#freeIfDone(entry);
  }

  /**
   * The free-space check of destinations that share a file system: waits
   * until every seat has said what it writes (or left), and gives this
   * seat's needs with what all seats write on each of its file systems.
   *
   * @param seat The seat.
   * @param needs What it writes per destination file system.
   * @returns Its needs, counting every seat's bytes there.
   */
  spaceTogether(seat: number, needs: SpaceNeed[]): Promise<SpaceNeed[]> {
    this.#needs.set(seat, needs);
    const answer = new Promise<SpaceNeed[]>((resolve) => this.#spaceWaiters.set(seat, resolve));
    this.#answerSpace();
    return answer;
  }

  #needs = new Map<number, SpaceNeed[]>();
  #spaceWaiters = new Map<number, (needs: SpaceNeed[]) => void>();

  #answerSpace(): void {
    if (this.#awaited(new Set(this.#needs.keys()))) return;
    const total = new Map<number, number>();
    for (const needs of this.#needs.values()) {
      for (const need of needs) total.set(need.dev, (total.get(need.dev) ?? 0) + need.needBytes);
    }
    for (const [seat, resolve] of this.#spaceWaiters) {
      resolve(this.#needs.get(seat)!.map((need) => ({ ...need, needBytes: total.get(need.dev)! })));
    }
    this.#spaceWaiters.clear();
  }

  /**
   * A seat's batch has ended: nothing waits for it any more.
   *
   * @param seat The seat.
   */
  leave(seat: number): void {
    this.#left.add(seat);
    this.#answerSpace();
    for (const entry of [...this.#entries.values()]) this.#freeIfDone(entry);
  }

  #entry(file: PlannedFile): Entry {
    const key = keyOf(file);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = {
        key,
        size: file.size,
        slabs: new Map(),
        dropped: new Set(),
        passed: new Set(),
        hash: undefined,
      };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #freeIfDone(entry: Entry): void {
    for (const held of [...entry.slabs.values()]) this.#releaseIfUsed(held);
    if (this.#awaited(entry.passed)) return;
    // Every seat is past it: its digest was taken by whoever needed it.
    this.#entries.delete(entry.key);
    for (const held of entry.slabs.values()) this.#release(held, true);
  }

  /** A slab for a range of `length` bytes, in reused memory where some is spare. */
  #newSlab(length: number): Slab {
    const spare = this.#take(Slab.bytesFor(length));
    if (spare === undefined) return Slab.create(length);
    const slab = new Slab(spare);
    slab.reset();
    return slab;
  }

  /** Spare memory of exactly `bytes`, if there is some. */
  #take(bytes: number): SharedArrayBuffer | undefined {
    const buffer = this.#spare.get(bytes)?.pop();
    if (buffer !== undefined) this.#spareBytes -= bytes;
    return buffer;
  }

  /** Keeps memory no worker and no seat holds any more, for the next of its size. */
  #keep(buffer: SharedArrayBuffer): void {
    if (this.#spareBytes + buffer.byteLength > SPARE_BYTES) return;
    this.#spareBytes += buffer.byteLength;
    const list = this.#spare.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#spare.set(buffer.byteLength, list);
  }

  #add(bytes: number): void {
    this.#bytes += bytes;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.#bytes);
  }

  /** Whether some seat is still to come (see `#comes`). */
  #awaited(seen: ReadonlySet<number>, entry?: Entry): boolean {
    for (let seat = 0; seat < this.seats; seat++) if (this.#comes(seat, seen, entry)) return true;
    return false;
  }

  /**
   * Whether `seat` is still to come: not among `seen`, not left, and (for a
   * file's range) not past `entry`.
   */
  #comes(seat: number, seen: ReadonlySet<number>, entry?: Entry): boolean {
    return !seen.has(seat) && !this.#left.has(seat) && !entry?.passed.has(seat);
  }

  /**
   * Keeps what is held for destinations behind the others under the cap,
   * `bytes` more included: the oldest ranges a seat has not taken yet (and
   * that are hashed) are dropped; that seat reads them from the source.
   * Ranges every live seat has taken are in flight, not behind: they do
   * not count.
   */
  #makeRoom(bytes: number): void {
    const behind = (held: Held): boolean => this.#awaited(held.claimed, held.entry);
    let lag = 0;
    for (const held of this.#held) if (behind(held)) lag += held.slab.data.length;
    let index = 0;
    while (lag + bytes > this.#lagBytes && index < this.#held.length) {
      const held = this.#held[index]!;
      if (!behind(held) || !held.hashed || held.slab.state !== SLAB_STATE.full) {
        index++;
        continue;
      }
      lag -= held.slab.data.length;
      this.stats.bytesDropped += held.slab.data.length;
      // The seats it was dropped before fell behind the cap.
      for (let seat = 0; seat < this.seats; seat++) {
        if (!this.#comes(seat, held.claimed, held.entry)) continue;
        if (!this.stats.lateSeats.includes(seat)) this.stats.lateSeats.push(seat);
      }
      held.entry.slabs.delete(held.offset);
      held.entry.dropped.add(held.offset);
      this.#release(held);
    }
  }

  /**
   * Stops holding a range. `recycle`: every seat's write of it has ended,
   * so its memory can hold the next range (a range dropped for the cap may
   * still be written by a worker: its memory is left to the collector).
   */
  #release(held: Held, recycle = false): void {
    const at = this.#held.indexOf(held);
    if (at < 0) return;
    this.#held.splice(at, 1);
    this.#bytes -= held.slab.data.length;
    if (recycle) this.#keep(held.slab.buffer);
  }

  #hashOf(entry: Entry): EntryHash | undefined {
    const algorithm = this.#algorithm;
    if (algorithm === null) return undefined;
    if (entry.hash === undefined) {
      let settle: (digest: string | undefined) => void = () => {};
      const digest = new Promise<string | undefined>((resolve) => (settle = resolve));
      this.#hasher ??= createHasher(algorithm);
      entry.hash = {
        state: null,
        next: 0,
        busy: Promise.resolve(),
        digest,
        settle,
        broken: false,
      };
      if (entry.size === 0) void this.#hasher.then((h) => (h.reset(), settle(h.digest())));
    }
    return entry.hash;
  }

  #breakHash(entry: Entry): void {
    const hash = this.#hashOf(entry);
    if (hash === undefined || hash.broken) return;
    hash.broken = true;
    hash.settle(undefined);
    // Nothing waits to be hashed any more.
    for (const held of entry.slabs.values()) held.hashed = true;
  }

  /** Hashes the entry's full slabs that come next in file order. */
  #hashOn(entry: Entry): void {
    const hash = this.#hashOf(entry);
    if (hash === undefined) return;
    const shared = this.#hasher!;
    hash.busy = hash.busy.then(async () => {
      const hasher = await shared;
      for (;;) {
        if (hash.broken) return;
        const held = entry.slabs.get(hash.next);
        if (held === undefined || held.slab.state !== SLAB_STATE.full) return;
        if (hash.state === null) hasher.reset();
        else hasher.load(hash.state);
        hasher.update(held.slab.data);
        held.hashed = true;
        hash.next += held.slab.data.length;
        this.#releaseIfUsed(held);
        if (hash.next >= entry.size) return hash.settle(hasher.digest());
        hash.state = hasher.save();
        // One slab per turn: the event loop keeps feeding the workers meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    });
  }
}

/** A source file's identity: its path, size and time (what a rerun checks too). */
function keyOf(file: PlannedFile): string {
  return `${file.src}\0${file.size}\0${file.mtimeMs}`;
}
