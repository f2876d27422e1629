/**
 * The two plan actions that look at a destination's bytes before anything
 * is written: `finish-move` (a move an earlier run published and could not
 * finish) and `compare` (the checksum policy).
 *
 * @module
 */

import { flushToStorage } from "../fs/publish.ts";
import { alignedBytes } from "../fs/aligned_bytes.ts";
import { hashFile } from "../integrity/hash.ts";
import { MIB } from "../size.ts";
import type { FileJob } from "./file_job.ts";

/**
 * Whether two files hold the same bytes, read side by side in 1 MiB steps.
 *
 * @param a One file.
 * @param b The other.
 * @returns Whether every byte is equal.
 */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  using left = await Deno.open(a, { read: true });
  using right = await Deno.open(b, { read: true });
  const x = alignedBytes(MIB);
  const y = alignedBytes(MIB);
  for (;;) {
    const [n, m] = await Promise.all([readFull(left, x), readFull(right, y)]);
    if (n !== m) return false;
    if (n === 0) return true;
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) return false;
  }
}

/** Fills `into` from `file` as far as the file goes; returns the bytes read. */
async function readFull(file: Deno.FsFile, into: Uint8Array): Promise<number> {
  let at = 0;
  while (at < into.length) {
    const got = await file.read(into.subarray(at));
    if (got === null) break;
    at += got;
  }
  return at;
}

/**
 * A move that an earlier run published and could not finish (a crash
 * between publishing and removing the source): the destination has the
 * source's size and time, and its bytes (hashed when the batch hashes,
 * compared otherwise: a crash leaves only the few files that were in flight
 * to look at). Then the source is removed and the file counts as moved.
 *
 * @param job The file.
 */
export async function finishMove(job: FileJob): Promise<void> {
  const { file, run } = job;
  if (run.cancelled) return;
  const algorithm = run.settings.hash;
  try {
    const [src, dst] = await Promise.all([Deno.lstat(file.src), Deno.lstat(file.dst)]);
    if (src.dev === dst.dev && src.ino !== null && src.ino === dst.ino) {
      return job.fail(
        "source and destination are one file (hard links); neither is removed",
        undefined,
        "same-file",
      );
    }
    if (algorithm !== null) {
      const [a, b] = await Promise.all([
        hashFile(file.src, algorithm),
        hashFile(file.dst, algorithm),
      ]);
      if (a !== b) {
        return job.fail(
          `the destination has the source's size and time but not its content (${algorithm} ${b}, the source's ${a}); both are left alone`,
          undefined,
          "differs",
        );
      }
      job.sourceDigest = a;
      job.verified = true;
    } else if (!(await sameBytes(file.src, file.dst))) {
      // Size and time can match by chance (two frames of one size written in
      // one second): the source is only removed when the bytes match too.
      return job.fail(
        "the destination has the source's size and time but not its content; both are left alone",
        undefined,
        "differs",
      );
    }
    if (run.settings.fsync) await flushToStorage(file.dst);
    await Deno.remove(file.src);
  } catch (error) {
    return job.failWith("cannot finish the move", error);
  }
  job.countBytes(file.size);
  job.finish("moved", file.reason);
}

/**
 * The checksum policy: a destination with the source's bytes is left alone
 * (a move removes the source); one that differs is replaced.
 *
 * @param job The file.
 * @returns `true` when the file is done (the same bytes, or a failure).
 */
export async function sameAsSource(job: FileJob): Promise<boolean> {
  const { file, run } = job;
  let same: boolean;
  try {
    same = await sameBytes(file.src, file.dst);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false; // gone since planning: copy it
    job.failWith("cannot compare with the destination", error);
    return true;
  }
  if (!same) return false;
  if (run.settings.operation === "move") {
    await finishMove(job);
    return true;
  }
  job.finish("skipped", "already there (the same bytes)");
  return true;
}
