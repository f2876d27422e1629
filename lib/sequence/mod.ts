/**
 * Frame sequences, usable without the copy engine: the pattern grammar
 * (`parseSequence`, `frameName`, `frameOf`), frame sets and their
 * arithmetic (`FrameSet`), sequences found among names (`findSequences`),
 * a folder listed with its sequences collapsed (`listSequences`), and the
 * frames a copy selects (`selectSequence`).
 *
 * ```ts
 * import { FrameSet, findSequences, parseSequence } from "./mod.ts";
 *
 * const p = parseSequence("plates/sh010.1001-1100#.exr")!;
 * const found = findSequences(["sh010.1001.exr", "sh010.1002.exr", "sh010.1005.exr"]);
 * console.log(p.frames!.minus(found.sequences[0]!.frames).size); // 97
 * console.log(FrameSet.parse("1001-1100x2").size); // 50
 * ```
 *
 * @module
 */

export { type FrameRun, FrameSet, FrameSetError, MAX_FRAMES } from "./frame_set.ts";
export {
  displayPattern,
  frameName,
  frameOf,
  padFrame,
  parseSequence,
  type SequencePattern,
  SequencePatternError,
  UDIM_TILES,
} from "./pattern.ts";
export { findSequences, type FoundNames, type FoundSequence } from "./find.ts";
export { type Listed, type ListedEntry, type ListedSequence, listSequences } from "./listing.ts";
export {
  namesSequence,
  selectSequence,
  sequenceOfFrame,
  type SequenceOptions,
  type SequenceSelection,
  type SequenceTarget,
} from "./selection.ts";
