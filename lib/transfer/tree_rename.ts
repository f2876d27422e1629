/**
 * A folder moved on one file system with one rename, as the plan says; its
 * files are then reported as they are found at the destination (hashed
 * there when the batch hashes). Where the kernel refuses the rename (across
 * mount points of one file system), the tree is planned now as a copy that
 * removes each source, and its results say so.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { flushToStorage } from "../fs/publish.ts";
import { hashFile } from "../integrity/hash.ts";
import type { PlanItem, PlannedDir, PlannedFile } from "../plan/plan_item.ts";
import { failedFile, planTreeCopy } from "../plan/planner.ts";
import { walkTree } from "../plan/walk.ts";
import { FileJob } from "./file_job.ts";
import type { Run } from "./run.ts";

/** Ids of the items planned at run time, after a refused rename: above every plan's own. */
export const FALLBACK_ID_BASE = 2 ** 48;

/**
 * Moves a tree with one rename, or returns the items to copy it with.
 *
 * @param run The running batch.
 * @param dir The plan's folder, with `rename: true`.
 * @param ids The next id for items planned at run time.
 * @returns `null` when the tree was renamed; otherwise its items.
 */
export async function moveTree(
  run: Run,
  dir: PlannedDir,
  ids: { next: number },
): Promise<AsyncIterable<PlanItem> | null> {
  try {
    await run.dirs.ensure(dirname(dir.dst));
    await Deno.rename(dir.src, dir.dst);
    run.dirs.record?.({ event: "renamed", path: dir.dst, src: dir.src });
    if (run.settings.fsync) await flushToStorage(dirname(dir.dst));
  } catch (error) {
    if ((error as { code?: string }).code === "EXDEV") {
      return planTreeCopy({ src: dir.src, dst: dir.dst }, dir.mapping, run.settings, ids);
    }
    const reason = `cannot move the folder: ${(error as Error).message}`;
    const failed = failedFile(ids.next++, dir.mapping, dir.src, dir.dst, reason, "io");
    run.accounting.planned(failed);
    new FileJob(run, failed).fail(reason, error);
    return null;
  }
  await reportMoved(run, dir);
  return null;
}

/** Reports every file of a renamed tree as moved, found where it now is. */
async function reportMoved(run: Run, dir: PlannedDir): Promise<void> {
  const info = await Deno.stat(dir.dst);
  for await (const walked of walkTree(dir.dst, dir.src, info)) {
    if (walked.type === "failed") continue; // moved with its folder all the same
    for (const entry of walked.entries) {
      const at = entry.src; // where it is now
      const was = join(dir.src, relative(dir.dst, at));
      const file: PlannedFile = Object.freeze({
        kind: "file",
        id: -1,
        mapping: dir.mapping,
        src: was,
        dst: at,
        size: entry.info?.isFile ? entry.info.size : 0,
        mode: (entry.info?.mode ?? 0o644) & 0o7777,
        mtimeMs: entry.info?.mtime?.getTime() ?? null,
        atimeMs: entry.info?.atime?.getTime() ?? null,
        uid: entry.info?.uid ?? null,
        gid: entry.info?.gid ?? null,
        dev: entry.info?.dev ?? 0,
        action: "rename",
        copier: "none",
        chunks: Object.freeze([]),
        offload: false,
        sparse: false,
        ...(entry.linkTarget === undefined ? {} : { linkTarget: entry.linkTarget }),
      });
      run.accounting.planned(file);
      const job = new FileJob(run, file);
      job.countBytes(file.size);
      try {
        const algorithm = run.settings.hash;
        if (algorithm !== null && entry.info?.isFile) {
          job.sourceDigest = await hashFile(at, algorithm);
        }
      } catch (error) {
        job.failWith("moved, but cannot be hashed", error);
        continue;
      }
      job.renamed = true;
      job.finish("moved");
    }
  }
}
