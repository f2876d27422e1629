/**
 * cp's rules for naming destinations: a source copied into an existing
 * folder goes inside it, `SRC/` means a folder's contents (rsync), `-T`
 * names the copy's own path, a trailing `/` on the target makes a folder.
 *
 * @module
 */

import { basename, join } from "node:path";
import { absolutePath } from "../lib/fs/absolute_path.ts";
import { InputError } from "../lib/errors.ts";
import type { Mapping } from "../lib/plan/plan_item.ts";
import { type SequenceFlags, UsageError } from "./args.ts";
import { parseSequence } from "../lib/sequence/pattern.ts";
import {
  namesSequence,
  selectSequence,
  sequenceOfFrame,
  type SequenceOptions,
  type SequenceSelection,
} from "../lib/sequence/selection.ts";

/**
 * The mappings of `ferry copy SRC... DST`.
 *
 * @param operands The sources and the target, last.
 * @param noTarget `-T`: the target is the copy's own path.
 * @returns The mappings.
 */
export async function cpMappings(
  operands: string[],
  noTarget: boolean,
  flags?: SequenceFlags,
  found?: SequenceSelection[],
): Promise<Mapping[]> {
  if (operands.length < 2) {
    throw new UsageError(
      operands.length === 0
        ? "Missing source and destination"
        : `Missing destination after '${operands[0]}'`,
    );
  }
  const target = operands[operands.length - 1]!;
  const sources = operands.slice(0, -1);
  const patterns = await Promise.all(sources.map((src) => sequenceSource(src, flags)));
  if (patterns.some((p) => p !== null)) {
    return await sequenceMappings(sources, patterns, target, flags, found ?? []);
  }
  if (await namesSequence(target).catch(() => false)) {
    throw new UsageError(
      `The destination '${target}' is a frame sequence pattern: it goes with a sequence source ('sh010.####.exr')`,
    );
  }
  if (flags !== undefined) {
    const given = (["frames", "renumber", "offset", "rename"] as const).filter((f) =>
      flags[f] !== undefined
    );
    if (given.length > 0) {
      throw new UsageError(
        `--${
          given[0]
        } goes with a frame sequence source ('sh010.####.exr', or a frame with --sequence)`,
      );
    }
  }
  const info = await Deno.stat(target).catch(() => null);
  if (noTarget) {
    // cp -T: the destination is the path the copy gets, whatever is there.
    if (sources.length > 1) throw new UsageError("-T takes one source and its destination");
    return [{ src: sources[0]!, dst: target }];
  }
  if (target.endsWith("/") && info !== null && !info.isDirectory) {
    throw new InputError(`Destination '${target}' is not a directory (it ends with '/')`, {
      path: target,
    });
  }
  // A destination named with a trailing '/' is a folder: made if missing.
  const intoFolder = info?.isDirectory === true || target.endsWith("/");
  const mappings: Mapping[] = [];
  for (const src of sources) {
    // rsync's rule: 'SRC/' of a folder means its contents, so the copy of SRC is the target itself.
    const contents = /\/$/.test(src) &&
      await Deno.stat(src).then((i) => i.isDirectory, () => false);
    if (contents) mappings.push({ src, dst: target });
    else if (intoFolder) mappings.push({ src, dst: join(target, basename(absolutePath(src))) });
    else if (sources.length > 1) {
      throw new InputError(
        `Target '${target}' is not an existing directory (several sources need one as destination)`,
        { path: target },
      );
    } else mappings.push({ src, dst: target });
  }
  return mappings;
}

/**
 * The sequence pattern a source names: a pattern that is not itself a file's
 * name, or with `--sequence` the sequence of the frame it names.
 */
async function sequenceSource(
  src: string,
  flags: SequenceFlags | undefined,
): Promise<string | null> {
  if (flags?.sequence) {
    const pattern = sequenceOfFrame(src);
    if (pattern === null) {
      throw new InputError(
        `Source '${src}': --sequence needs a frame's path (its name ends in a number)`,
        {
          path: src,
        },
      );
    }
    return pattern;
  }
  try {
    return (await namesSequence(src)) ? src : null;
  } catch (error) {
    throw new InputError((error as Error).message, { path: src, cause: error });
  }
}

/** Every frame of the sequence sources (others as cp takes them) into the target. */
async function sequenceMappings(
  sources: string[],
  patterns: (string | null)[],
  target: string,
  flags: SequenceFlags | undefined,
  found: SequenceSelection[],
): Promise<Mapping[]> {
  const options: SequenceOptions = {
    ...(flags?.frames === undefined ? {} : { frames: flags.frames }),
    ...(flags?.renumber === undefined ? {} : { renumber: flags.renumber }),
    ...(flags?.offset === undefined ? {} : { offset: flags.offset }),
    ...(flags?.rename === undefined ? {} : { rename: flags.rename }),
  };
  let targetPattern = false;
  try {
    targetPattern = sources.length === 1 && parseSequence(target) !== null;
  } catch (error) {
    throw new InputError((error as Error).message, { path: target, cause: error });
  }
  const mappings: Mapping[] = [];
  for (const [i, src] of sources.entries()) {
    const pattern = patterns[i];
    if (pattern === null || pattern === undefined) {
      mappings.push({ src, dst: join(target, basename(absolutePath(src))) });
      continue;
    }
    const selection = await selectSequence(
      pattern,
      targetPattern ? { pattern: target } : { folder: target },
      options,
    );
    found.push(selection);
    mappings.push(...selection.mappings);
  }
  return mappings;
}
