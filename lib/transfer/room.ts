/**
 * Room on a nearly full destination: a file that cannot fit in what is free
 * now fails before its first byte is written, and a large file's blocks are
 * reserved before its ranges are copied (with FFI).
 *
 * @module
 */

import { dirname } from "node:path";
import { freeBytesAt } from "../fs/free_space.ts";
import { formatBytes } from "../size.ts";
import type { FileJob } from "./file_job.ts";

/**
 * Whether a file fits on its destination, when that destination is tight;
 * fails the file when it does not.
 *
 * @param job The file.
 * @returns `false` when the file failed for want of room; `true` at once (no
 * promise) where no room needs checking.
 */
export function roomFor(job: FileJob): true | Promise<boolean> {
  const { run, file } = job;
  if (run.tight.size === 0 || file.size === 0 || file.action === "symlink") return true;
  return roomAtDestination(job);
}

/** {@linkcode roomFor} where the destination's file system is tight: its free space asked. */
async function roomAtDestination(job: FileJob): Promise<boolean> {
  const { run, file } = job;
  const dir = dirname(file.dst);
  if (!run.tight.has(await run.devOf(dir))) return true;
  const free = await freeBytesAt(dir);
  if (free === null || free >= file.size) return true;
  failNoRoom(job, free);
  return false;
}

/**
 * Reserves a large file's blocks on a tight destination.
 *
 * @param job The file.
 * @param tmp Its temporary.
 * @returns `false` when the file failed for want of room.
 */
export async function preallocate(job: FileJob, tmp: string): Promise<boolean> {
  const { run, file } = job;
  if (run.tight.size === 0 || !run.tight.has(await run.devOf(dirname(tmp)))) return true;
  const kernel = run.kernel();
  if (kernel === null || await kernel.allocate(tmp, file.size)) return true;
  const free = await freeBytesAt(dirname(tmp));
  if (free === null || free >= file.size) return true; // the file system cannot preallocate
  failNoRoom(job, free);
  return false;
}

function failNoRoom(job: FileJob, freeBytes: number): void {
  job.fail(
    `no space left on the destination: the file needs ${formatBytes(job.file.size)} and ` +
      `${formatBytes(freeBytes)} are free; nothing of it was written`,
    undefined,
    "no-space",
  );
}
