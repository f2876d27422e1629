/**
 * Continuing a large file where a killed run of the same batch left it: its
 * temporary is taken over (renamed to this run's name, under this run's
 * lease) when the source has the size and time it had then, and only the
 * ranges the journal does not show as written are copied. A hashed copy
 * continues after the longest run of written ranges from the file's start
 * whose hash state the journal kept (the hash must see every byte in
 * order), and copies at least its last range (whose worker gives the
 * digest). A kernel copy (one range on one file system, journaled in
 * pieces) continues after what was written from the file's start. Anything
 * else — another copier, a changed source, a temporary of another size,
 * nothing kept — and the temporary is removed and the file copied from its
 * start. A temporary the share still holds open (the killed run's handle,
 * not yet closed: see `busy.ts`) is waited for before it is taken over; one
 * held longer, or one to remove, is left to the end of the run and the
 * file copied from its start beside it: a leftover never fails the file.
 *
 * @module
 */

import { isBusy, whileBusy } from "../fs/busy.ts";
import type { JournaledChunk } from "../ledger/journal.ts";
import type { Chunk } from "../plan/plan_item.ts";
import type { FileJob } from "./file_job.ts";

/** What is left of a file taken over. */
export interface Rest {
  /** The ranges still to copy. */
  ranges: readonly Chunk[];
  /** For a hashed copy: the state the first of them continues. */
  hashState?: Uint8Array;
}

/**
 * Takes over a killed run's temporary of this file, if there is one that fits.
 *
 * @param job The file.
 * @param tmp This run's temporary name for it (not created yet).
 * @returns What is left to copy into `tmp`, or `null` to copy the file whole.
 */
export async function takeOver(job: FileJob, tmp: string): Promise<Rest | null> {
  const { run, file } = job;
  const earlier = run.resumable.get(file.dst);
  if (earlier === undefined) return null;
  run.resumable.delete(file.dst);
  const info = await Deno.lstat(earlier.tmp).catch(() => null);
  if (info === null) return null;
  const fits = (file.copier === "ranges" || file.copier === "kernel") &&
    earlier.size === file.size && earlier.mtimeMs === file.mtimeMs && info.isFile &&
    info.size === file.size;
  const kept = !fits
    ? []
    : file.copier === "kernel"
    ? prefixOf(earlier.done)
    : keptOf(file.chunks, earlier.done, run.settings.hash !== null);
  if (kept.length === 0) {
    await run.temporaries.removeLeftover(earlier.tmp, info.size);
    return null;
  }
  try {
    await whileBusy(() => Deno.rename(earlier.tmp, tmp));
  } catch (error) {
    if (!isBusy(error)) throw error;
    await run.temporaries.removeLeftover(earlier.tmp, info.size);
    return null;
  }
  const ranges = file.copier === "kernel"
    ? [{ offset: kept[0]!.length, length: file.size - kept[0]!.length }].filter((r) => r.length > 0)
    : file.chunks.filter((c) => !kept.some((k) => k.offset === c.offset));
  run.journal?.partial(file, tmp, kept);
  const bytes = kept.reduce((sum, c) => sum + c.length, 0);
  job.countBytes(bytes);
  job.resumedBytes = bytes;
  const hashState = kept.at(-1)?.hashState;
  return run.settings.hash === null || hashState === undefined ? { ranges } : { ranges, hashState };
}

/**
 * A kernel copy's pieces, written one after another: what is written from
 * the file's start on without a gap, as one range (none when nothing is).
 */
function prefixOf(done: readonly JournaledChunk[]): JournaledChunk[] {
  let end = 0;
  for (const piece of [...done].sort((a, b) => a.offset - b.offset)) {
    if (piece.offset > end) break;
    end = Math.max(end, piece.offset + piece.length);
  }
  return end === 0 ? [] : [{ offset: 0, length: end }];
}

/**
 * The plan's ranges a temporary already holds: each one within a written
 * range; for a hashed copy only those from the file's start on, up to the
 * last one with a hash state, and never the file's last range.
 */
function keptOf(
  chunks: readonly Chunk[],
  done: readonly JournaledChunk[],
  hashed: boolean,
): JournaledChunk[] {
  const within = (c: Chunk): JournaledChunk | undefined =>
    done.find((d) => d.offset <= c.offset && c.offset + c.length <= d.offset + d.length);
  if (!hashed) return chunks.filter((c) => within(c) !== undefined);
  const prefix: JournaledChunk[] = [];
  for (const chunk of chunks.slice(0, -1)) {
    const written = within(chunk);
    // A state is that of the exact range: the plan's ranges must be the journal's.
    if (written?.hashState === undefined || written.offset !== chunk.offset) break;
    if (written.length !== chunk.length) break;
    prefix.push({ offset: chunk.offset, length: chunk.length, hashState: written.hashState });
  }
  return prefix;
}
