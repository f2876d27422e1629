/**
 * A sequence to copy or move: the frames a pattern (and `frames`) selects
 * among those on disk, what is missing or empty, and one `{src, dst}`
 * mapping per frame, renumbered (`renumber`: the first selected frame
 * becomes this one, the spacing kept; `offset`: every frame moves by this
 * many) and renamed (`rename`: a new name and padding) on the way.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { absolutePath } from "../fs/absolute_path.ts";
import { InputError } from "../errors.ts";
import type { Mapping } from "../plan/plan_item.ts";
import { FrameSet } from "./frame_set.ts";
import { listSequences } from "./listing.ts";
import {
  displayPattern,
  frameName,
  parseSequence,
  type SequencePattern,
  SequencePatternError,
} from "./pattern.ts";

/** Options of {@linkcode selectSequence}. */
export interface SequenceOptions {
  /** Only these frames (`1001-1100x2`); with a pattern that names frames, both apply. */
  frames?: string;
  /** The first selected frame becomes this frame number; the spacing is kept. */
  renumber?: number;
  /** Every frame number moves by this many. */
  offset?: number;
  /** A new name for the frames, a pattern without a folder (`sh010_v2.%04d.exr`). */
  rename?: string;
}

/** Where the frames go: into a folder, or named by a destination pattern. */
export type SequenceTarget = { folder: string } | { pattern: string };

/** The frames of a sequence selected for a copy or a move. */
export interface SequenceSelection {
  /** The source pattern, as shown: `plates/sh010.####.exr`. */
  readonly source: string;
  /** The destination pattern, as shown. */
  readonly target: string;
  /** The frames asked for: the pattern's and `frames`, else the first to the last there is. */
  readonly wanted: FrameSet;
  /** The frames there are of those. */
  readonly selected: FrameSet;
  /** The frames asked for that are not there. */
  readonly missing: FrameSet;
  /** The selected frames that are empty files. */
  readonly empty: FrameSet;
  /** One mapping per selected frame, in frame order. */
  readonly mappings: readonly Mapping[];
  /** Each destination path's source frame. */
  readonly frameOf: ReadonlyMap<string, number>;
}

/**
 * Whether a path names a frame sequence: it holds a frame token, and no
 * file is there under that very name (a file is itself, whatever its name).
 *
 * Requires `--allow-read` on the path.
 *
 * @param path A path as given.
 * @returns `true` for a sequence pattern.
 * @throws {SequencePatternError} For a pattern that cannot be read, where no file has that name.
 *
 * @example
 * ```ts
 * import { namesSequence } from "./selection.ts";
 *
 * console.log(await namesSequence("/nowhere/sh010.####.exr"), await namesSequence("/etc/hosts")); // true false
 * ```
 */
export async function namesSequence(path: string): Promise<boolean> {
  const there = (): Promise<boolean> => Deno.lstat(path).then(() => true, () => false);
  let pattern: SequencePattern | null;
  try {
    pattern = parseSequence(path);
  } catch (error) {
    if (await there()) return false;
    throw error;
  }
  return pattern !== null && !(await there());
}

/**
 * The pattern a concrete frame's path belongs to (`--sequence`): its last
 * number is the frame, written with its own width.
 *
 * @param path A frame's path, e.g. `plates/sh010.1001.exr`.
 * @returns The pattern, e.g. `plates/sh010.####.exr`, or `null` when the name has no number.
 */
export function sequenceOfFrame(path: string): string | null {
  const name = basename(path);
  const match = /(\d+)(\D*)$/.exec(name);
  if (match === null) return null;
  const head = name.slice(0, match.index);
  const digits = match[1]!;
  const padding = digits.startsWith("0") || digits.length >= 2 ? digits.length : 1;
  return join(dirname(path), displayPattern(head, padding, match[2]!));
}

/**
 * Selects a sequence's frames and maps each to its destination.
 *
 * Requires `--allow-read` on the sequence's folder.
 *
 * @param src The source pattern (`plates/sh010.####.exr`, `plates/sh010.1001-1100#.exr`).
 * @param target A folder the frames go into, or a destination pattern.
 * @param options Frames, renumbering, renaming.
 * @returns The selection.
 * @throws {InputError} For a pattern or frame set that cannot be read, a folder that
 * cannot be listed, a selection without frames, or options that do not go together.
 *
 * @example
 * ```ts
 * import { selectSequence } from "./selection.ts";
 *
 * const dir = await Deno.makeTempDir();
 * for (const f of [1001, 1002, 1004]) await Deno.writeTextFile(`${dir}/sh010.${f}.exr`, "px");
 * const picked = await selectSequence(`${dir}/sh010.####.exr`, { folder: `${dir}/out` }, { renumber: 1 });
 * console.log(picked.missing.toString(), picked.mappings.at(-1)!.dst.endsWith("sh010.0004.exr")); // "1003" true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function selectSequence(
  src: string,
  target: SequenceTarget,
  options: SequenceOptions = {},
): Promise<SequenceSelection> {
  const pattern = readPattern(src, "source");
  if (options.renumber !== undefined && options.offset !== undefined) {
    throw new InputError("--renumber and --offset exclude each other: give one");
  }
  if ("pattern" in target && options.rename !== undefined) {
    throw new InputError(
      "--rename goes with a destination folder; the destination pattern names the frames already",
    );
  }
  const [listed] = await listSequences(absolutePath(src));
  const present = listed?.kind === "sequence" ? listed.frames : FrameSet.EMPTY;
  let wanted = pattern.frames ?? null;
  if (options.frames !== undefined) {
    let asked: FrameSet;
    try {
      asked = FrameSet.parse(options.frames);
    } catch (error) {
      throw new InputError((error as Error).message, { path: src, cause: error });
    }
    wanted = wanted === null ? asked : wanted.and(asked);
  }
  if (wanted === null) {
    const { first, last } = present;
    wanted = first === undefined ? FrameSet.EMPTY : FrameSet.parse(`${first}-${last}`);
  }
  const selected = present.and(wanted);
  const shown = `${pattern.dir}${displayPattern(pattern.head, pattern.padding, pattern.tail)}`;
  if (selected.size === 0) {
    throw new InputError(
      `Source '${shown}': no frame of ${wanted.size > 0 ? wanted.toString() : "it"} is there` +
        (present.size > 0 ? ` (there are ${present})` : ""),
      { path: src },
    );
  }
  const to = destinationPattern(target, pattern, options.rename);
  const first = selected.first!;
  const renumbered = (frame: number): number =>
    options.renumber !== undefined
      ? options.renumber + (frame - first)
      : frame + (options.offset ?? 0);
  const mappings: Mapping[] = [];
  const frameOf = new Map<string, number>();
  for (const frame of selected) {
    const dst = absolutePath(frameName(to, renumbered(frame)));
    if (frameOf.has(dst)) {
      throw new InputError(
        `Frames ${frameOf.get(dst)} and ${frame} would both be written to '${dst}'`,
        {
          path: dst,
        },
      );
    }
    frameOf.set(dst, frame);
    mappings.push({ src: absolutePath(frameName(pattern, frame)), dst });
  }
  const empty = listed?.kind === "sequence" ? listed.empty.and(selected) : FrameSet.EMPTY;
  return {
    source: shown,
    target: `${to.dir}${displayPattern(to.head, to.padding, to.tail)}`,
    wanted,
    selected,
    missing: wanted.minus(present),
    empty,
    mappings,
    frameOf,
  };
}

/** A pattern given on one side, read (an error names the side). */
function readPattern(text: string, side: "source" | "destination"): SequencePattern {
  let pattern: SequencePattern | null;
  try {
    pattern = parseSequence(text);
  } catch (error) {
    throw new InputError(
      `${error instanceof SequencePatternError ? error.message : error} (${side})`,
      {
        path: text,
        cause: error,
      },
    );
  }
  if (pattern === null) {
    throw new InputError(
      `The ${side} '${text}' is not a sequence pattern (give a frame token such as ####)`,
      {
        path: text,
      },
    );
  }
  return pattern;
}

/** How the frames are named where they go. */
function destinationPattern(
  target: SequenceTarget,
  source: SequencePattern,
  rename: string | undefined,
): SequencePattern {
  if ("pattern" in target) {
    const to = readPattern(target.pattern, "destination");
    return { ...to, dir: to.dir === "" ? "./" : to.dir };
  }
  const dir = target.folder.endsWith("/") ? target.folder : `${target.folder}/`;
  if (rename === undefined) return { ...source, dir };
  if (rename.includes("/")) throw new InputError(`--rename '${rename}' is a name: give no folder`);
  return { ...readPattern(rename, "destination"), dir };
}
