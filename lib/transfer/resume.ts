/**
 * Continuing a large file where a killed run of the same batch left it: its
 * temporary is taken over (renamed to this run's name, under this run's
 * lease) when the source has the size and time it had then, and only the
 * ranges the journal does not show as written are copied. Anything else
 * about it — a hashed copy (the hash must see every byte in order), another
 * copier, a changed source, a temporary of another size — and it is
 * removed and the file copied from its start.
 *
 * @module
 */

import { removeIfPresent } from "../fs/publish.ts";
import type { Chunk } from "../plan/plan_item.ts";
import type { FileJob } from "./file_job.ts";

/**
 * Takes over a killed run's temporary of this file, if there is one that fits.
 *
 * @param job The file.
 * @param tmp This run's temporary name for it (not created yet).
 * @returns The ranges still to copy into `tmp`, or `null` to copy the file whole.
 */
export async function takeOver(job: FileJob, tmp: string): Promise<readonly Chunk[] | null> {
  const { run, file } = job;
  const earlier = run.resumable.get(file.dst);
  if (earlier === undefined) return null;
  run.resumable.delete(file.dst);
  const fits = file.copier === "ranges" && run.settings.hash === null &&
    earlier.size === file.size && earlier.mtimeMs === file.mtimeMs;
  const info = await Deno.lstat(earlier.tmp).catch(() => null);
  if (info === null) return null;
  if (fits && info.isFile && info.size === file.size) {
    await Deno.rename(earlier.tmp, tmp);
    const kept = file.chunks.filter((c) =>
      earlier.done.some((d) => d.offset <= c.offset && c.offset + c.length <= d.offset + d.length)
    );
    const rest = file.chunks.filter((c) => !kept.includes(c));
    run.journal?.partial(file, tmp, kept);
    const bytes = kept.reduce((sum, c) => sum + c.length, 0);
    job.countBytes(bytes);
    job.resumedBytes = bytes;
    return rest;
  }
  await removeIfPresent(earlier.tmp);
  run.temporaries.report.reclaimed.push({ path: earlier.tmp, bytes: info.size });
  return null;
}
