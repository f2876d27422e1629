/**
 * Sets of frame numbers as artists and render farms write them:
 * `1001-1100`, `1001-1100x2` (every second frame), `1,5,10-20`, negative
 * frames (`-10--1`, `-5-5`). Kept as sorted, disjoint runs of consecutive
 * frames, so that a million frames cost a few numbers and a hole is a gap
 * between two runs.
 *
 * @module
 */

import { NotationError } from "../errors.ts";

/** A frame set that cannot be read. */
export class FrameSetError extends NotationError {
  /**
   * @param text The frame set as given.
   * @param why What is wrong with it.
   */
  constructor(text: string, why: string) {
    super("frame set", text, why);
    this.name = "FrameSetError";
  }
}

/** The most frames one range may name: a typo like `1-1000000000x1` stays cheap to refuse. */
export const MAX_FRAMES = 10_000_000;

/** A run of consecutive frames, `first` to `last` inclusive. */
export interface FrameRun {
  /** Its first frame. */
  readonly first: number;
  /** Its last frame. */
  readonly last: number;
}

/**
 * An immutable set of whole frame numbers.
 *
 * @example
 * ```ts
 * import { FrameSet } from "./frame_set.ts";
 *
 * const set = FrameSet.parse("1001-1010x3,1020");
 * console.log([...set]); // [ 1001, 1004, 1007, 1010, 1020 ]
 * console.log(set.toString()); // "1001-1010x3,1020"
 * console.log(FrameSet.parse("1-10").minus(FrameSet.parse("4-5")).toString()); // "1-3,6-10"
 * ```
 */
export class FrameSet implements Iterable<number> {
  /** The runs, sorted, disjoint and not touching. */
  readonly runs: readonly FrameRun[];

  private constructor(runs: readonly FrameRun[]) {
    this.runs = Object.freeze(runs);
  }

  /** The empty set. */
  static readonly EMPTY: FrameSet = new FrameSet([]);

  /**
   * Reads a frame set: comma-separated frames and ranges, a range `A-B`
   * with an optional step `xN` (`1001-1100x2`); negative frames are written
   * with their minus (`-10--1`); a range may run downwards (`10-1` is `1-10`).
   * Spaces around commas are allowed.
   *
   * @param text The frame set.
   * @returns The set.
   * @throws {FrameSetError} For text that is not a frame set, saying what is wrong.
   */
  static parse(text: string): FrameSet {
    const parts = text.split(",").map((p) => p.trim());
    if (text.trim() === "") throw new FrameSetError(text, "it is empty");
    const frames: number[] = [];
    const runs: FrameRun[] = [];
    for (const part of parts) {
      if (part === "") throw new FrameSetError(text, "an empty item between commas");
      const match = /^(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?$/.exec(part);
      if (match === null) {
        const hint = /[:y]/.test(part)
          ? " (fileseq's ':' and 'y' steps are not supported: give the frames, or 'A-BxN')"
          : /x/.test(part)
          ? " (a step goes after a range: 'A-BxN')"
          : "";
        throw new FrameSetError(text, `'${part}' is not a frame or a range${hint}`);
      }
      const a = Number(match[1]);
      if (match[2] === undefined) {
        frames.push(a);
        continue;
      }
      const b = Number(match[2]);
      const step = match[3] === undefined ? 1 : Number(match[3]);
      if (step < 1) throw new FrameSetError(text, `the step of '${part}' must be 1 or more`);
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) {
        throw new FrameSetError(text, `'${part}' is out of range`);
      }
      if ((hi - lo) / step + 1 > MAX_FRAMES) {
        throw new FrameSetError(text, `'${part}' names more than ${MAX_FRAMES} frames`);
      }
      if (step === 1) runs.push({ first: lo, last: hi });
      else for (let f = lo; f <= hi; f += step) frames.push(f);
    }
    for (const f of frames) {
      if (!Number.isSafeInteger(f)) throw new FrameSetError(text, `'${f}' is out of range`);
      runs.push({ first: f, last: f });
    }
    return FrameSet.ofRuns(runs);
  }

  /**
   * The set of some frames.
   *
   * @param frames Whole numbers, in any order, repeats allowed.
   * @returns The set.
   */
  static of(frames: Iterable<number>): FrameSet {
    return FrameSet.ofRuns([...frames].map((f) => ({ first: f, last: f })));
  }

  /** Sorts and merges runs (overlapping or touching). */
  private static ofRuns(runs: FrameRun[]): FrameSet {
    runs.sort((a, b) => a.first - b.first);
    const merged: FrameRun[] = [];
    for (const run of runs) {
      const last = merged.at(-1);
      if (last !== undefined && run.first <= last.last + 1) {
        if (run.last > last.last) merged[merged.length - 1] = { first: last.first, last: run.last };
      } else merged.push({ first: run.first, last: run.last });
    }
    return new FrameSet(merged);
  }

  /** How many frames. */
  get size(): number {
    return this.runs.reduce((n, r) => n + r.last - r.first + 1, 0);
  }

  /** The first frame (`undefined` when empty). */
  get first(): number | undefined {
    return this.runs[0]?.first;
  }

  /** The last frame (`undefined` when empty). */
  get last(): number | undefined {
    return this.runs.at(-1)?.last;
  }

  /**
   * Whether a frame is in the set.
   *
   * @param frame The frame.
   * @returns `true` when it is.
   */
  has(frame: number): boolean {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const run = this.runs[mid]!;
      if (frame < run.first) hi = mid - 1;
      else if (frame > run.last) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /**
   * The frames of this set not in another.
   *
   * @param other The frames to take away.
   * @returns The difference.
   */
  minus(other: FrameSet): FrameSet {
    const out: FrameRun[] = [];
    let j = 0;
    for (const run of this.runs) {
      let first = run.first;
      while (j < other.runs.length && other.runs[j]!.last < first) j++;
      let k = j;
      while (k < other.runs.length && other.runs[k]!.first <= run.last) {
        const cut = other.runs[k]!;
        if (cut.first > first) out.push({ first, last: cut.first - 1 });
        first = Math.max(first, cut.last + 1);
        k++;
      }
      if (first <= run.last) out.push({ first, last: run.last });
    }
    return new FrameSet(out);
  }

  /**
   * The frames in both sets.
   *
   * @param other The other set.
   * @returns The intersection.
   */
  and(other: FrameSet): FrameSet {
    return this.minus(this.minus(other));
  }

  /**
   * The frames of either set.
   *
   * @param other The other set.
   * @returns The union.
   */
  or(other: FrameSet): FrameSet {
    return FrameSet.ofRuns([...this.runs, ...other.runs]);
  }

  /**
   * The frames between this set's first and last that it lacks: its holes.
   *
   * @returns The holes (empty for an empty or gapless set).
   */
  holes(): FrameSet {
    const out: FrameRun[] = [];
    for (let i = 1; i < this.runs.length; i++) {
      out.push({ first: this.runs[i - 1]!.last + 1, last: this.runs[i]!.first - 1 });
    }
    return new FrameSet(out);
  }

  /** Every frame, in order. */
  *[Symbol.iterator](): Iterator<number> {
    for (const run of this.runs) for (let f = run.first; f <= run.last; f++) yield f;
  }

  /**
   * The set written back: runs as `A-B`, single frames alone, and a run of
   * evenly spaced single frames (three or more) as `A-BxN`.
   *
   * @returns The text, `""` for the empty set.
   */
  toString(): string {
    const parts: string[] = [];
    const runs = this.runs;
    for (let i = 0; i < runs.length;) {
      const run = runs[i]!;
      if (run.first !== run.last) {
        parts.push(`${run.first}-${run.last}`);
        i++;
        continue;
      }
      // Evenly spaced single frames: 1001, 1003, 1005 → 1001-1005x2.
      let j = i + 1;
      const step = runs[j] !== undefined && runs[j]!.first === runs[j]!.last
        ? runs[j]!.first - run.first
        : 0;
      while (
        step > 1 && runs[j] !== undefined && runs[j]!.first === runs[j]!.last &&
        runs[j]!.first - runs[j - 1]!.first === step
      ) j++;
      if (j - i >= 3) {
        parts.push(`${run.first}-${runs[j - 1]!.first}x${step}`);
        i = j;
      } else {
        parts.push(String(run.first));
        i++;
      }
    }
    return parts.join(",");
  }
}
