/**
 * One grammar for frame-sequence patterns, the tokens artists type in Nuke,
 * RV, Houdini, fileseq and Mari. In a file name, one token stands for the
 * frame number:
 *
 * | token | padding | follows |
 * |---|---|---|
 * | `####` (a run of 2 or more `#`) | one digit per `#` | Nuke, RV |
 * | `#` (alone) | 4 digits | RV, fileseq |
 * | `@`, `@@@@` | one digit per `@` | RV, fileseq |
 * | `%04d`, `%d` | printf's width (none: unpadded) | Nuke, ffmpeg |
 * | `$F4`, `$F` | Houdini's width (none: unpadded) | Houdini |
 * | `<UDIM>` | 4 digits, tiles 1001–1099 | Mari, Nuke, Arnold |
 * | `[1001-1050]` | the width of the first number written | pyseq's display |
 *
 * A frame set may stand right before a `#`/`@` token, after a `.` or `_`
 * (`plate.1001-1100#.exr`, as fileseq writes it). Frames are written as
 * printf writes them: zero-padded to the width, a negative frame's minus
 * counting in the width (`%04d` of -12 is `-012`), a frame wider than the
 * padding written whole (`####` of 12345 is `12345`).
 *
 * @module
 */

import { NotationError } from "../errors.ts";

import { FrameSet, FrameSetError } from "./frame_set.ts";

/** A pattern that cannot be read. */
export class SequencePatternError extends NotationError {
  /**
   * @param pattern The sequence pattern as given.
   * @param why What is wrong with it.
   */
  constructor(pattern: string, why: string) {
    super("sequence pattern", pattern, why);
    this.name = "SequencePatternError";
  }

  /** The sequence pattern as given. */
  get pattern(): string {
    return this.text;
  }
}

/** A frame-sequence pattern, read. */
export interface SequencePattern {
  /** The folder part, with its trailing `/` (`""` for none). */
  readonly dir: string;
  /** The file name before the frame number. */
  readonly head: string;
  /** The file name after the frame number. */
  readonly tail: string;
  /** The frame number's width: zero-padded to at least this many characters (1: unpadded). */
  readonly padding: number;
  /** The token as written: `####`, `%04d`, `$F4`, `<UDIM>`, `@@`, `[1001-1050]`. */
  readonly token: string;
  /** Frames the pattern names itself (`plate.1001-1100#.exr`, `[1001-1050]`, `<UDIM>`). */
  readonly frames?: FrameSet;
  /** Whether it is a `<UDIM>` pattern (tiles 1001–1099). */
  readonly udim: boolean;
}

/** The tiles `<UDIM>` stands for. */
export const UDIM_TILES: FrameSet = FrameSet.parse("1001-1099");

const TOKEN = /<UDIM>|%0?(\d*)d|\$F(\d*)|#+|@+|\[([^\]]+)\]/gi;

/**
 * Reads a sequence pattern (see the module documentation).
 *
 * @param text A path whose file name holds one frame token.
 * @returns The pattern, or `null` when the file name holds no token (a plain path).
 * @throws {SequencePatternError} When it holds more than one token, or a token that cannot be read.
 *
 * @example
 * ```ts
 * import { parseSequence } from "./pattern.ts";
 *
 * const p = parseSequence("plates/sh010.1001-1100#.exr")!;
 * console.log(p.head, p.padding, p.frames?.toString(), p.tail); // "sh010." 4 "1001-1100" ".exr"
 * console.log(parseSequence("plates/sh010.1001.exr")); // null
 * ```
 */
export function parseSequence(text: string): SequencePattern | null {
  const cut = text.lastIndexOf("/");
  const dir = text.slice(0, cut + 1);
  const name = text.slice(cut + 1);
  const tokens = [...name.matchAll(TOKEN)].filter((m) => isToken(m));
  if (tokens.length === 0) return null;
  if (tokens.length > 1) {
    throw new SequencePatternError(
      text,
      `it has ${tokens.length} frame tokens (${
        tokens.map((t) => `'${t[0]}'`).join(", ")
      }); give one`,
    );
  }
  const token = tokens[0]!;
  const written = token[0];
  let head = name.slice(0, token.index);
  const tail = name.slice(token.index! + written.length);
  let padding: number;
  let frames: FrameSet | undefined;
  let udim = false;
  if (/^<UDIM>$/i.test(written)) {
    padding = 4;
    frames = UDIM_TILES;
    udim = true;
  } else if (written.startsWith("%")) {
    padding = Math.max(1, Number(token[1] || "1"));
  } else if (written.startsWith("$")) {
    padding = Math.max(1, Number(token[2] || "1"));
  } else if (written.startsWith("[")) {
    const inside = token[3]!;
    try {
      frames = FrameSet.parse(inside);
    } catch (error) {
      throw new SequencePatternError(text, (error as FrameSetError).message);
    }
    padding = /^-?(\d+)/.exec(inside.trim())![1]!.length;
  } else if (written.startsWith("#")) {
    padding = written.length === 1 ? 4 : written.length;
  } else {
    padding = written.length;
  }
  if (padding > 32) {
    throw new SequencePatternError(text, `a padding of ${padding} digits is too wide`);
  }
  // A frame set right before a # or @ token, after a separator: fileseq's `name.1001-1100#.ext`.
  if (written.startsWith("#") || written.startsWith("@")) {
    const before = /(^|[._])(-?\d+(?:-(?:-?\d+)(?:x\d+)?)?(?:,-?\d+(?:-(?:-?\d+)(?:x\d+)?)?)*)$/
      .exec(head);
    if (before !== null && /[-,]/.test(before[2]!.slice(1))) {
      frames = FrameSet.parse(before[2]!);
      head = head.slice(0, head.length - before[2]!.length);
    }
  }
  return Object.freeze({
    dir,
    head,
    tail,
    padding,
    token: written,
    ...(frames === undefined ? {} : { frames }),
    udim,
  });
}

/** `[…]` counts as a token only when it holds a frame set; `%…d` and `$F…` as written. */
function isToken(match: RegExpMatchArray): boolean {
  if (!match[0].startsWith("[")) return true;
  return /^\s*-?\d+/.test(match[3] ?? "");
}

/**
 * A frame number as the pattern writes it.
 *
 * @param frame The frame.
 * @param padding The width.
 * @returns `padding` 4: `1001` → `1001`, `7` → `0007`, `-12` → `-012`.
 */
export function padFrame(frame: number, padding: number): string {
  const digits = String(Math.abs(frame));
  const width = frame < 0 ? padding - 1 : padding;
  return `${frame < 0 ? "-" : ""}${digits.padStart(width, "0")}`;
}

/**
 * The path of one frame of a pattern.
 *
 * @param pattern The pattern.
 * @param frame The frame.
 * @returns Its path.
 *
 * @example
 * ```ts
 * import { frameName, parseSequence } from "./pattern.ts";
 *
 * console.log(frameName(parseSequence("out/sh010.%04d.exr")!, 7)); // "out/sh010.0007.exr"
 * ```
 */
export function frameName(pattern: SequencePattern, frame: number): string {
  return `${pattern.dir}${pattern.head}${padFrame(frame, pattern.padding)}${pattern.tail}`;
}

/**
 * The frame a file name holds for a pattern, when it is one of its frames:
 * the head and tail as in the pattern, and between them a number written
 * with the pattern's padding (zero-padded to it, or wider without leading
 * zeros).
 *
 * @param pattern The pattern.
 * @param name A file name (no folder).
 * @returns The frame, or `null`.
 */
export function frameOf(pattern: SequencePattern, name: string): number | null {
  const { head, tail, padding } = pattern;
  if (!name.startsWith(head) || !name.endsWith(tail)) return null;
  if (name.length < head.length + tail.length + 1) return null;
  const digits = name.slice(head.length, name.length - tail.length);
  if (!/^-?\d+$/.test(digits)) return null;
  const frame = Number(digits);
  if (!Number.isSafeInteger(frame) || padFrame(frame, padding) !== digits) return null;
  if (pattern.udim && !UDIM_TILES.has(frame)) return null;
  return frame;
}

/**
 * The pattern's display form: `#` runs of its padding (`@` for an unpadded one).
 *
 * @param head The name before the frame.
 * @param padding The padding.
 * @param tail The name after the frame.
 * @returns E.g. `sh010.####.exr`.
 */
export function displayPattern(head: string, padding: number, tail: string): string {
  return `${head}${padding === 1 ? "@" : "#".repeat(padding)}${tail}`;
}
