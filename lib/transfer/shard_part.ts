/**
 * A shard's part of a file split across shards (`lib/farm/shard.ts`): its
 * ranges written into the temporary all the file's shards share, each
 * journaled as it completes; ranges an earlier run journaled are not
 * written again. Nothing is published: `ferry finalize` checks, publishes
 * and records the file once every range is journaled. The temporary is
 * never removed by a shard (a failure or cancel keeps the other shards'
 * ranges).
 *
 * @module
 */

import { dirname } from "node:path";
import { isCovered } from "../ledger/shared_ranges.ts";
import { copyPart } from "./copiers.ts";
import type { FileJob } from "./file_job.ts";
import type { Chunk } from "../plan/plan_item.ts";

/**
 * Writes this shard's ranges of a split file and reports it `staged`.
 *
 * @param job The file (its plan item has `part`).
 */
export async function writePart(job: FileJob): Promise<void> {
  const { run, file } = job;
  const part = file.part!;
  await run.dirs.ensure(dirname(file.dst));
  const source = await Deno.stat(file.src);
  if (source.size !== file.size || (source.mtime?.getTime() ?? null) !== file.mtimeMs) {
    return job.fail("the source changed since it was planned", undefined, "source-changed");
  }
  const written = run.sharedRanges.get(part.tmp);
  const kept = part.ranges.filter((range) => isCovered(written, range));
  const todo = part.ranges.filter((range) => !isCovered(written, range));
  try {
    using handle = await Deno.open(part.tmp, { write: true, create: true, mode: 0o600 });
    // Every shard makes it the file's size; none ever shortens it.
    if ((await handle.stat()).size < file.size) await handle.truncate(file.size);
  } catch (error) {
    return job.failWith("cannot write the destination", error);
  }
  // The ranges kept stay journaled by the runs that wrote them (finalize reads every journal).
  run.journal?.partial(file, part.tmp);
  const keptBytes = kept.reduce((sum, range) => sum + range.length, 0);
  job.countBytes(keptBytes);
  job.resumedBytes = keptBytes;
  if ((await copyPart(job, part.tmp, joined(todo, part.step))) === "stopped") return;
  job.finish("staged");
}

/** Adjacent ranges joined into ranges of at most `step` bytes: fewer, larger writes. */
function joined(ranges: readonly Chunk[], step: number): Chunk[] {
  const out: Chunk[] = [];
  for (const range of ranges) {
    const last = out.at(-1);
    if (
      last !== undefined && last.offset + last.length === range.offset &&
      last.length + range.length <= step
    ) {
      out[out.length - 1] = { offset: last.offset, length: last.length + range.length };
    } else out.push(range);
  }
  return out;
}
