/**
 * What `ferry ls` shows of a folder or a sequence pattern: frame sequences
 * collapsed, with their frames, the frames missing between the first and
 * the last (or from the frames a pattern names), the frames that are empty
 * files, and the bytes; other files and folders as they are. One listing
 * of the folder (one `readdir`), then one `stat` per file, sixteen at once
 * (on a share each is a round trip; sixteen in flight hide most of them).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { forEachLimit } from "../concurrency.ts";
import { InputError } from "../errors.ts";
import { STAT_CONCURRENCY } from "../plan/walk.ts";
import { findSequences } from "./find.ts";
import { FrameSet } from "./frame_set.ts";
import { displayPattern, frameOf, parseSequence } from "./pattern.ts";

/** A frame sequence in a listing. */
export interface ListedSequence {
  /** Always `"sequence"`. */
  readonly kind: "sequence";
  /** Its folder. */
  readonly dir: string;
  /** Its display pattern, e.g. `sh010.####.exr`. */
  readonly pattern: string;
  /** The frames there are. */
  readonly frames: FrameSet;
  /** The frames missing: between its first and last, or of the frames the pattern named. */
  readonly missing: FrameSet;
  /** The frames that are empty files. */
  readonly empty: FrameSet;
  /** Its files' bytes. */
  readonly bytes: number;
}

/** A file that is not a frame of a sequence, or a folder. */
export interface ListedEntry {
  /** A file, a folder, or a link (listed as a link, not followed). */
  readonly kind: "file" | "dir" | "link";
  /** Its path. */
  readonly path: string;
  /** Its bytes (files). */
  readonly bytes: number;
}

/** One line of a listing. */
export type Listed = ListedSequence | ListedEntry;

/**
 * Lists a folder with its sequences collapsed, or one sequence given by a
 * pattern (`plates/sh010.####.exr`, `plates/sh010.1001-1100#.exr`).
 *
 * Requires `--allow-read` on the folder.
 *
 * @param path A folder, or a sequence pattern.
 * @returns The sequences first, then the other files and folders, sorted.
 * @throws {InputError} When the folder cannot be read (or the pattern's folder).
 * @throws {SequencePatternError} For a pattern that cannot be read.
 *
 * @example
 * ```ts
 * import { listSequences } from "./listing.ts";
 *
 * const dir = await Deno.makeTempDir();
 * for (const f of [1001, 1002, 1004]) await Deno.writeTextFile(`${dir}/a.${f}.exr`, "px");
 * const [seq] = await listSequences(dir);
 * if (seq?.kind === "sequence") console.log(seq.pattern, seq.missing.toString()); // "a.####.exr" "1003"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listSequences(path: string): Promise<Listed[]> {
  const pattern = parseSequence(path);
  const dir = pattern === null ? path : pattern.dir === "" ? "." : dirname(path);
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "it does not exist"
      : error instanceof Deno.errors.NotADirectory
      ? "it is not a folder"
      : (error as Error).message;
    throw new InputError(`Cannot list '${dir}': ${why}`, { path: dir, cause: error });
  }
  const sizes = new Map<string, number>();
  const files = entries.filter((e) => e.isFile).map((e) => e.name);
  await forEachLimit(files, STAT_CONCURRENCY, async (name) => {
    sizes.set(name, (await Deno.lstat(join(dir, name)).catch(() => null))?.size ?? 0);
  });
  const sequenceOf = (
    shown: string,
    frames: FrameSet,
    names: ReadonlyMap<number, string>,
    wanted?: FrameSet,
  ): ListedSequence => {
    let bytes = 0;
    const empty: number[] = [];
    for (const [frame, name] of names) {
      const size = sizes.get(name) ?? 0;
      bytes += size;
      if (size === 0) empty.push(frame);
    }
    return {
      kind: "sequence",
      dir,
      pattern: shown,
      frames,
      missing: wanted === undefined ? frames.holes() : wanted.minus(frames),
      empty: FrameSet.of(empty),
      bytes,
    };
  };
  if (pattern !== null) {
    const names = new Map<number, string>();
    for (const name of files) {
      const frame = frameOf(pattern, name);
      if (frame !== null && (pattern.frames === undefined || pattern.frames.has(frame))) {
        names.set(frame, name);
      }
    }
    const shown = pattern.udim
      ? basename(path)
      : displayPattern(pattern.head, pattern.padding, pattern.tail);
    return [sequenceOf(shown, FrameSet.of(names.keys()), names, pattern.frames)];
  }
  const found = findSequences(files);
  const listed: Listed[] = found.sequences.map((s) => sequenceOf(s.pattern, s.frames, s.names));
  const rest: ListedEntry[] = [
    ...found.others.map((name): ListedEntry => ({
      kind: "file",
      path: join(dir, name),
      bytes: sizes.get(name) ?? 0,
    })),
    ...entries.filter((e) => !e.isFile).map((e): ListedEntry => ({
      kind: e.isDirectory ? "dir" : "link",
      path: join(dir, e.name),
      bytes: 0,
    })),
  ];
  rest.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return [...listed, ...rest];
}
