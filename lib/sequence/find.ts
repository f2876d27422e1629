/**
 * Frame sequences among file names: the names that differ only in a frame
 * number, collapsed into one sequence each. The frame is the last number
 * in the name (`sh010_comp_v003.1001.exr` → 1001: `v003` is part of the
 * name, so `v002` and `v003` are different sequences); a `-` right after a
 * `.` or `_` makes it negative. The padding is read from the names: a
 * number written with a leading zero shows its padding (`0001` → 4); names
 * without one all of one width are padded to it (`1001` … `1100` → 4); of
 * several widths without leading zeros (`1`, `10`, `100`), unpadded. A name
 * whose padding disagrees with its neighbours' (`f.001.exr` beside
 * `f.0001.exr`) starts a sequence of its own. A "sequence" of one file is
 * just a file.
 *
 * @module
 */

import { FrameSet } from "./frame_set.ts";
import { displayPattern, padFrame } from "./pattern.ts";

/** A sequence found among names. */
export interface FoundSequence {
  /** The name before the frame number. */
  readonly head: string;
  /** The name after it. */
  readonly tail: string;
  /** Its padding (1: unpadded). */
  readonly padding: number;
  /** Its display pattern, e.g. `sh010.####.exr`. */
  readonly pattern: string;
  /** The frames there are. */
  readonly frames: FrameSet;
  /** Each frame's file name, by frame. */
  readonly names: ReadonlyMap<number, string>;
}

/** What {@linkcode findSequences} found. */
export interface FoundNames {
  /** The sequences (two or more frames each), by display pattern. */
  readonly sequences: readonly FoundSequence[];
  /** The names that are not frames of a sequence, sorted. */
  readonly others: readonly string[];
}

interface Numbered {
  name: string;
  head: string;
  tail: string;
  digits: string;
  frame: number;
}

/**
 * Splits file names into frame sequences and other names.
 *
 * @param names File names (no folders), in any order.
 * @returns The sequences, sorted by pattern, and the other names.
 *
 * @example
 * ```ts
 * import { findSequences } from "./find.ts";
 *
 * const found = findSequences(["a.1001.exr", "a.1002.exr", "a.1004.exr", "notes.txt"]);
 * const [seq] = found.sequences;
 * console.log(seq!.pattern, seq!.frames.toString(), found.others); // "a.####.exr" "1001-1002,1004" [ "notes.txt" ]
 * ```
 */
export function findSequences(names: Iterable<string>): FoundNames {
  const groups = new Map<string, Numbered[]>();
  const others: string[] = [];
  for (const name of names) {
    const numbered = numberOf(name);
    if (numbered === null) {
      others.push(name);
      continue;
    }
    const key = `${numbered.head}\0${numbered.tail}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, group = []);
    group.push(numbered);
  }
  const sequences: FoundSequence[] = [];
  for (const group of groups.values()) {
    for (const [padding, members] of byPadding(group)) {
      if (members.length < 2) {
        others.push(...members.map((m) => m.name));
        continue;
      }
      const { head, tail } = members[0]!;
      const names = new Map(members.map((m) => [m.frame, m.name]));
      sequences.push(Object.freeze({
        head,
        tail,
        padding,
        pattern: displayPattern(head, padding, tail),
        frames: FrameSet.of(names.keys()),
        names,
      }));
    }
  }
  sequences.sort((a, b) => (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
  others.sort();
  return { sequences, others };
}

/** A name's last number: where it is, and the frame it gives. */
function numberOf(name: string): Numbered | null {
  const match = /(\d+)(\D*)$/.exec(name);
  if (match === null) return null;
  let start = match.index;
  let digits = match[1]!;
  // A minus right after a separator makes the frame negative: plate.-001.exr.
  if (name[start - 1] === "-" && (start === 1 || /[._]/.test(name[start - 2]!))) {
    start--;
    digits = `-${digits}`;
  }
  const frame = Number(digits);
  if (!Number.isSafeInteger(frame)) return null;
  return { name, head: name.slice(0, start), tail: match[2]!, digits, frame };
}

/** Whether a number is written with a leading zero (its width is its padding). */
function padded(digits: string): boolean {
  const unsigned = digits.replace(/^-/, "");
  return unsigned.length > 1 && unsigned.startsWith("0");
}

/** A group of names with one head and tail, split by padding. */
function byPadding(group: Numbered[]): Map<number, Numbered[]> {
  const out = new Map<number, Numbered[]>();
  const add = (padding: number, member: Numbered): void => {
    let list = out.get(padding);
    if (list === undefined) out.set(padding, list = []);
    list.push(member);
  };
  const shown = [...new Set(group.filter((m) => padded(m.digits)).map((m) => m.digits.length))];
  if (shown.length === 0) {
    const widths = new Set(group.map((m) => m.digits.length));
    const padding = widths.size === 1 ? [...widths][0]! : 1;
    for (const member of group) add(padding, member);
    return out;
  }
  shown.sort((a, b) => a - b);
  for (const member of group) {
    if (padded(member.digits)) {
      add(member.digits.length, member);
      continue;
    }
    // Without a leading zero: the widest padding it is written with (1234 is `####`, 12345 too).
    const fits = shown.filter((p) => padFrame(member.frame, p) === member.digits);
    add(fits.at(-1) ?? 1, member);
  }
  return out;
}
