/**
 * The sequences of a copy or move, as the CLI shows them: before the copy,
 * each one's frames and holes (and `--require-complete` refusing the batch);
 * while it runs, the sequence's pattern in the progress line instead of a
 * frame's name; at the end one line per sequence and its failures
 * collapsed into frame ranges per reason.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { findSequences } from "../lib/sequence/find.ts";
import { InputError } from "../lib/errors.ts";
import { FrameSet } from "../lib/sequence/frame_set.ts";
import type { SequenceSelection } from "../lib/sequence/selection.ts";
import type { FileResult } from "../lib/transfer/result.ts";
import type { Mapping } from "../lib/plan/plan_item.ts";
import type { BatchMapping } from "../lib/batch_json.ts";
import { parseSequence } from "../lib/sequence/pattern.ts";
import { namesSequence, selectSequence } from "../lib/sequence/selection.ts";
import type { Parsed } from "./args.ts";
import { cpMappings } from "./destinations.ts";
import type { Reporter } from "./reporter.ts";

/** What the CLI asks of the sequences' completeness. */
export interface Completeness {
  /** `--require-complete`: refuse the batch when frames are missing (or empty). */
  requireComplete: boolean;
  /** `--allow-empty-frames`: empty frames do not count against completeness. */
  allowEmptyFrames: boolean;
}

/** The sequences of one batch and their frames' outcomes. */
export class SequenceTally {
  readonly #selections: readonly SequenceSelection[];
  readonly #bySrc = new Map<string, SequenceSelection>();
  readonly #done = new Map<SequenceSelection, number[]>();
  readonly #failed = new Map<SequenceSelection, Map<string, number[]>>();

  /**
   * @param selections The batch's sequences.
   */
  constructor(selections: readonly SequenceSelection[]) {
    this.#selections = selections;
    for (const s of selections) {
      for (const m of s.mappings) this.#bySrc.set(m.src, s);
    }
  }

  /** Whether the batch has sequences. */
  get any(): boolean {
    return this.#selections.length > 0;
  }

  /**
   * The lines shown before the copy; refuses the batch (nothing touched) when
   * a sequence is incomplete and completeness is required.
   *
   * @param asked What completeness is asked for.
   * @returns One line per sequence.
   * @throws {InputError} With `requireComplete`, for missing (or empty) frames.
   */
  check(asked: Completeness): string[] {
    const lines: string[] = [];
    const holes: string[] = [];
    for (const s of this.#selections) {
      const parts = [
        `ferry: sequence ${s.source} ${
          range(s.wanted)
        }: ${s.selected.size} of ${s.wanted.size} frames`,
      ];
      if (s.missing.size > 0) parts.push(`missing ${s.missing}`);
      if (s.empty.size > 0) parts.push(`empty ${s.empty}`);
      if (s.target !== s.source) parts.push(`-> ${s.target}`);
      lines.push(parts.join("; "));
      const bad = asked.allowEmptyFrames ? s.missing : s.missing.or(s.empty);
      if (bad.size > 0) holes.push(`${s.source} ${bad}`);
    }
    if (asked.requireComplete && holes.length > 0) {
      throw new InputError(
        `--require-complete: ${holes.join("; ")} ${
          holes.length > 1 ? "are" : "is"
        } missing or empty` +
          `${asked.allowEmptyFrames ? " (missing)" : ""}; nothing was copied`,
      );
    }
    return lines;
  }

  /**
   * What the progress line shows for a file in flight: its sequence's
   * pattern, range and frames done (`sh010.####.exr 1001-1100: 40/100
   * frames`), or its name.
   *
   * @param src The file's source path.
   * @returns The label.
   */
  label(src: string): string {
    const s = this.#bySrc.get(src);
    if (s === undefined) return basename(src);
    const done = this.#done.get(s)?.length ?? 0;
    return `${s.source.split("/").pop()} ${range(s.wanted)}: ${done}/${s.selected.size} frames`;
  }

  /**
   * Whether a file is a frame of one of the sequences.
   *
   * @param src Its source path.
   * @returns `true` when it is.
   */
  covers(src: string): boolean {
    return this.#bySrc.has(src);
  }

  /**
   * One file ended.
   *
   * @param file Its outcome.
   */
  file(file: FileResult): void {
    const s = this.#bySrc.get(file.src);
    if (s === undefined) return;
    const frame = s.frameOf.get(file.dst);
    if (frame === undefined) return;
    if (file.status === "failed") {
      let reasons = this.#failed.get(s);
      if (reasons === undefined) this.#failed.set(s, reasons = new Map());
      const why = file.reason ?? "failed";
      listIn(reasons, why).push(frame);
    } else if (file.status !== "cancelled") {
      listIn(this.#done, s).push(frame);
    }
  }

  /**
   * The lines of the summary: one per sequence, then its failures by reason.
   *
   * @param verb `copied` or `moved`.
   * @returns The lines.
   */
  lines(verb: string): string[] {
    const lines: string[] = [];
    for (const s of this.#selections) {
      const done = FrameSet.of(this.#done.get(s) ?? []);
      lines.push(
        `  ${s.source} ${range(s.wanted)}: ${done.size}/${s.selected.size} frames ${verb}` +
          (s.missing.size > 0 ? `, missing ${s.missing}` : ""),
      );
      for (const [why, frames] of this.#failed.get(s) ?? []) {
        lines.push(`  failed: ${s.source} ${FrameSet.of(frames)} (${why})`);
      }
    }
    return lines;
  }

  /**
   * The sequences for the JSON summary.
   *
   * @returns One object per sequence.
   */
  events(): Record<string, unknown>[] {
    return this.#selections.map((s) => ({
      source: s.source,
      target: s.target,
      wanted: s.wanted.toString(),
      selected: s.selected.toString(),
      missing: s.missing.toString(),
      empty: s.empty.toString(),
      done: FrameSet.of(this.#done.get(s) ?? []).toString(),
      failed: FrameSet.of([...(this.#failed.get(s)?.values() ?? [])].flat()).toString(),
    }));
  }
}

/** The list a map holds under a key, made empty the first time (pushed to, never copied). */
function listIn<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (list === undefined) map.set(key, list = []);
  return list;
}

function range(set: FrameSet): string {
  return set.first === undefined
    ? "(no frames)"
    : set.first === set.last
    ? `${set.first}`
    : `${set.first}-${set.last}`;
}

/**
 * A copy's operands as mappings, its frame sequences announced (frames,
 * holes) and checked for completeness before anything is written, and
 * handed to the reporter.
 *
 * @param operands The `SRC... DST` operands.
 * @param parsed The arguments (`-T`, the sequence flags).
 * @param reporter Where the lines go; it shows the sequences as such from then on.
 * @returns The mappings.
 * @throws {InputError} For an unusable sequence, or an incomplete one with `--require-complete`.
 */
export async function sequenceAwareMappings(
  operands: string[],
  parsed: Pick<Parsed, "noTarget" | "sequences">,
  reporter: Reporter,
): Promise<Mapping[]> {
  const found: SequenceSelection[] = [];
  const mappings = await cpMappings(operands, parsed.noTarget, parsed.sequences, found);
  announce(found, parsed, reporter);
  return mappings;
}

/**
 * A batch's sequences announced (frames, holes), checked for completeness
 * and handed to the reporter, which shows them as sequences from then on.
 */
function announce(
  found: readonly SequenceSelection[],
  parsed: Pick<Parsed, "sequences">,
  reporter: Reporter,
): void {
  if (found.length === 0) return;
  const tally = new SequenceTally(found);
  for (const line of tally.check(parsed.sequences)) reporter.note(line);
  reporter.sequences = tally;
}

/**
 * A JSON batch's mappings with its sequences expanded (a mapping whose `src`
 * is a pattern: one mapping per frame, into `dst` as a folder or a
 * pattern), announced and checked as a copy's are.
 *
 * @param mappings The batch's mappings.
 * @param parsed The arguments (`--require-complete`, `--allow-empty-frames`).
 * @param reporter Where the lines go.
 * @returns The mappings, every frame its own.
 * @throws {InputError} For an unusable sequence, or an incomplete one with `--require-complete`.
 */
export async function batchSequenceMappings(
  mappings: readonly BatchMapping[],
  parsed: Pick<Parsed, "sequences">,
  reporter: Reporter,
): Promise<Mapping[]> {
  const found: SequenceSelection[] = [];
  const out: Mapping[] = [];
  for (const [index, m] of mappings.entries()) {
    const { src, dst, ...options } = m;
    let pattern = null;
    try {
      pattern = typeof src === "string" && await namesSequence(src) ? src : null;
    } catch (error) {
      throw new InputError(`Mapping ${index}: ${(error as Error).message}`, {
        index,
        cause: error,
      });
    }
    if (pattern === null) {
      if (Object.keys(options).length > 0) {
        throw new InputError(
          `Mapping ${index}: '${
            Object.keys(options)[0]
          }' goes with a frame sequence 'src' ('sh010.####.exr')`,
          { index },
        );
      }
      out.push({ src, dst });
      continue;
    }
    let target: { pattern: string } | { folder: string };
    try {
      target = parseSequence(dst) !== null ? { pattern: dst } : { folder: dst };
    } catch (error) {
      throw new InputError(`Mapping ${index}: ${(error as Error).message}`, {
        index,
        cause: error,
      });
    }
    const selection = await selectSequence(pattern, target, options);
    found.push(selection);
    out.push(...selection.mappings);
  }
  announce(found, parsed, reporter);
  return out;
}

/**
 * The frame sequences among files' paths (a copy of folders keeps at most
 * {@linkcode FolderSequences.LIMIT} names; `ferry verify` all of them): at
 * the end, each sequence with the frames missing between its first and its
 * last.
 */
export class FolderSequences {
  /** Names a copy keeps at most; past it, no gaps are looked for (`ferry ls` the destination). */
  static readonly LIMIT = 100_000;
  #folders = new Map<string, string[]>();
  #count = 0;
  #limit: number;

  /**
   * @param limit Names kept at most.
   */
  constructor(limit: number = FolderSequences.LIMIT) {
    this.#limit = limit;
  }

  /**
   * A file that is part of the delivery's sequences (delivered, left alone or failed).
   *
   * @param path Its path.
   */
  add(path: string): void {
    if (++this.#count > this.#limit) {
      this.#folders.clear();
      return;
    }
    listIn(this.#folders, dirname(path)).push(basename(path));
  }

  /**
   * Every sequence among the names, with the frames missing between its first and last.
   *
   * @returns One entry per sequence.
   */
  sequences(): { pattern: string; frames: FrameSet; missing: FrameSet }[] {
    const found = [];
    for (const [folder, names] of this.#folders) {
      for (const seq of findSequences(names).sequences) {
        found.push({
          pattern: join(folder, seq.pattern),
          frames: seq.frames,
          missing: seq.frames.holes(),
        });
      }
    }
    return found;
  }

  /**
   * The sequences with holes worth saying (see {@linkcode hasHoles}).
   *
   * @returns One entry per such sequence.
   */
  gaps(): { pattern: string; frames: FrameSet; missing: FrameSet }[] {
    return this.sequences().filter((s) => hasHoles(s.frames, s.missing));
  }
}

/**
 * Whether numbered files are a sequence with holes worth saying in a
 * summary: some frames missing, and no more missing than there are (`take1`,
 * `take10`, `take100` are numbered files, not a sequence missing 97 frames;
 * `ferry ls` shows them all the same).
 *
 * @param frames The frames there are.
 * @param missing The frames missing between the first and the last.
 * @returns `true` to say the holes.
 */
export function hasHoles(frames: FrameSet, missing: FrameSet): boolean {
  return missing.size > 0 && missing.size <= frames.size;
}
