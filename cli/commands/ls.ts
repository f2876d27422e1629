/**
 * `ferry ls PATH…`: folders with their frame sequences collapsed (frames,
 * count, bytes, missing and empty frames), or one sequence by its pattern.
 *
 * @module
 */

import { basename } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { FrameSetError } from "../../lib/sequence/frame_set.ts";
import { type Listed, listSequences } from "../../lib/sequence/listing.ts";
import { SequencePatternError } from "../../lib/sequence/pattern.ts";
import { formatBytes, formatCount } from "../../lib/size.ts";
import { EXIT } from "../exit.ts";
import { jsonLine } from "../reporter.ts";
import type { Context } from "./transfer.ts";

/**
 * Lists each operand (the current folder without one).
 *
 * @param context The arguments and the reporter.
 * @returns 0, or 2 for a path that cannot be listed or a pattern that cannot be read.
 */
export async function lsCommand(context: Context): Promise<number> {
  const { parsed, reporter } = context;
  const paths = parsed.operands.length === 0 ? ["."] : parsed.operands;
  for (const [i, path] of paths.entries()) {
    let listed: Listed[];
    try {
      listed = await listSequences(path);
    } catch (error) {
      if (error instanceof SequencePatternError || error instanceof FrameSetError) {
        throw new InputError(error.message, { path, cause: error });
      }
      throw error;
    }
    if (parsed.json) {
      for (const entry of listed) reporter.line(jsonLine(eventOf(entry)));
      continue;
    }
    if (paths.length > 1) reporter.line(`${i > 0 ? "\n" : ""}${path}:`);
    for (const entry of listed) reporter.line(lineOf(entry));
  }
  return EXIT.ok;
}

/** One entry in plain words. */
function lineOf(entry: Listed): string {
  if (entry.kind !== "sequence") {
    const name = basename(entry.path);
    return entry.kind === "dir"
      ? `${name}/`
      : entry.kind === "link"
      ? `${name}@`
      : `${name}  (${formatBytes(entry.bytes)})`;
  }
  const range = entry.frames.first === undefined
    ? "no frames"
    : `${entry.frames.first}-${entry.frames.last}`;
  const parts = [
    entry.pattern,
    range,
    `(${formatCount(entry.frames.size, "frame")}, ${formatBytes(entry.bytes)})`,
  ];
  if (entry.missing.size > 0) parts.push(`missing ${entry.missing}`);
  if (entry.empty.size > 0) parts.push(`empty ${entry.empty}`);
  return parts.join("  ");
}

/** One entry as a JSON event. */
function eventOf(entry: Listed): Record<string, unknown> {
  if (entry.kind !== "sequence") {
    return {
      event: entry.kind,
      path: entry.path,
      ...(entry.kind === "file" ? { bytes: entry.bytes } : {}),
    };
  }
  return {
    event: "sequence",
    dir: entry.dir,
    pattern: entry.pattern,
    frames: entry.frames.toString(),
    count: entry.frames.size,
    first: entry.frames.first ?? null,
    last: entry.frames.last ?? null,
    bytes: entry.bytes,
    missing: entry.missing.toString(),
    missing_count: entry.missing.size,
    empty: entry.empty.toString(),
  };
}
