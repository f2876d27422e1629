/**
 * One file's transfer, as the plan item says: stage a temporary next to the
 * destination, copy the bytes with the planned copier, check the size (and
 * with `verify: "source"` the content), give it the source's mode, owner
 * and times, flush it (with `fsync`), publish it under its final name, and
 * for a move remove the source. A rename on one file system skips all of
 * that; where the kernel refuses it, the file is copied instead.
 *
 * @module
 */

import { dirname } from "node:path";
import { describeError } from "../errors.ts";
import { ErrnoError } from "../fs/libc.ts";
import { SYNC_FILE_OPS, turn, turnDue } from "../fs/file_ops.ts";
import { flushToStorage, publish, type PublishOutcome, removeIfPresent } from "../fs/publish.ts";
import { hashBytes, hashFile } from "../integrity/hash.ts";
import { dropFromCache } from "../fs/page_cache.ts";
import type { PlannedFile } from "../plan/plan_item.ts";
import { backupPathFor, keepReplaced } from "./backup.ts";
import { copyBytes, copyLocal, copyRest, hashRanges } from "./copiers.ts";
import { takeOver } from "./resume.ts";
import { writePart } from "./shard_part.ts";
import { DirectoryError } from "./directories.ts";
import { finishMove, sameAsSource } from "./existing_destination.ts";
import { ALREADY_THERE_REASON, isCompleteCopy } from "../plan/existing.ts";
import { FileJob } from "./file_job.ts";
import { roomFor } from "./room.ts";
import type { Run } from "./run.ts";

/**
 * Transfers one file of the plan and reports its outcome (a file the cancel
 * stopped ends as `cancelled`).
 *
 * @param run The running batch.
 * @param file The plan item.
 * @param pair The pair of storage it moves between (`storage_pairs.ts`), for adaptive concurrency.
 */
export async function transferFile(run: Run, file: PlannedFile, pair?: string): Promise<void> {
  const job = new FileJob(run, file);
  if (pair !== undefined) run.concurrency?.begin(pair);
  try {
    if (file.action !== "copy" && (await settledApart(job))) return;
    if (run.cancelled) return;
    const failedParent = run.dirs.failedParentOf(file.dst);
    if (failedParent !== undefined) return job.fail(failedParent);
    run.accounting.begin(file);
    try {
      if (file.part !== undefined) await writePart(job);
      else if (file.action !== "rename" || !(await rename(job))) await copyAndPublish(job);
    } catch (error) {
      if (!run.cancelled) job.fail(sideOf(error, file), error);
    } finally {
      run.accounting.end(file);
    }
  } finally {
    if (!job.ended) job.finish("cancelled");
    run.share?.reads.passed(file, run.share.seat);
    if (pair !== undefined) run.concurrency?.end(pair);
  }
}

/**
 * The actions that may settle a file without a copy: `skip`, `fail`,
 * `finish-move`, and `compare` when the destination holds the same bytes.
 *
 * @returns Whether the file is settled.
 */
async function settledApart(job: FileJob): Promise<boolean> {
  const { file } = job;
  switch (file.action) {
    case "skip":
      job.finish("skipped", file.reason);
      return true;
    case "fail":
      job.fail(file.reason ?? "cannot be copied", undefined, file.code ?? "io");
      return true;
    case "finish-move":
      await finishMove(job);
      return true;
    case "compare":
      return await sameAsSource(job);
  }
  return false;
}

/**
 * A file's failure in plain words, saying which side it was: Deno's message
 * ends with the path it was working on.
 */
function sideOf(error: unknown, file: PlannedFile): string {
  const words = describeError(error);
  if (error instanceof DirectoryError) return words;
  const path = error instanceof ErrnoError
    ? error.path
    : error instanceof Error
    ? /'([^']+)'(?:[^']*)$/.exec(error.message)?.[1]
    : undefined;
  if (path === undefined) return words;
  return path === file.src
    ? `cannot read the source: ${words}`
    : `cannot write the destination: ${words}`;
}

/**
 * Same file system: a rename (hard link + unlink unless overwriting, so
 * nothing is clobbered). Returns `false` when the kernel refuses it across
 * mount points: the file is copied then.
 */
async function rename(job: FileJob): Promise<boolean> {
  const { run, file } = job;
  try {
    await run.dirs.ensure(dirname(file.dst));
    if (!(await keepWhatIsReplaced(job))) return true;
    const outcome = await publish(
      file.src,
      file.dst,
      run.overwrites ? "overwrite" : "error",
      undefined,
      run.links,
    );
    if (outcome === "exists") {
      await existsAtPublish(job);
      return true;
    }
  } catch (error) {
    if ((error as { code?: string }).code !== "EXDEV") throw error;
    job.fallback = "copy";
    return false;
  }
  if (!(await flushDirectoryOf(job, "moved"))) return true;
  job.countBytes(file.size);
  await hashMoved(job);
  job.renamed = true;
  job.finish("moved");
  return true;
}

/** A renamed file's bytes never passed through ferry: hash it where it now is, when asked to. */
async function hashMoved(job: FileJob): Promise<void> {
  const algorithm = job.run.settings.hash;
  if (algorithm === null || job.file.linkTarget !== undefined) return;
  job.sourceDigest = await hashFile(job.file.dst, algorithm);
}

/**
 * With `backupDir`, when the copy replaces what is at its destination: keeps
 * that file aside for `undo`. Fails the file and returns `false` when it
 * cannot be kept (nothing is replaced then).
 */
async function keepWhatIsReplaced(job: FileJob): Promise<boolean> {
  const { run, file } = job;
  const { backupDir, batchId } = run.settings;
  if (backupDir === null || !run.overwrites) return true;
  const backup = backupPathFor(backupDir, batchId, file.dst);
  try {
    job.backup = await keepReplaced(file.dst, backup) ?? undefined;
  } catch (error) {
    job.failWith(
      `the destination was left as it was: it cannot be kept in the backup folder as '${backup}'`,
      error,
    );
    return false;
  }
  job.replaced = job.backup !== undefined;
  return true;
}

/**
 * The destination appeared while the file was copied. Where it is a
 * complete copy of the source (its size and modification time: another
 * run of the same plan or batch published it), the file is already there —
 * for a move, its source is removed once the bytes are checked; otherwise
 * the policy decides.
 */
async function existsAtPublish(job: FileJob): Promise<void> {
  const { file, run } = job;
  if (await isCompleteCopy(file, await Deno.lstat(file.dst).catch(() => null))) {
    if (run.settings.operation === "move") return await finishMove(job);
    return job.finish("skipped", ALREADY_THERE_REASON);
  }
  if (run.settings.existing === "skip") {
    job.finish("skipped", "the destination exists");
  } else {
    job.fail("the destination appeared during the copy and was left alone", undefined, "exists");
  }
}

/**
 * With `fsync`, flushes the folder a file was just published into, so that
 * its name is on storage before the file counts as done. Fails the file and
 * returns `false` when the flush fails.
 */
async function flushDirectoryOf(job: FileJob, done: string): Promise<boolean> {
  if (!job.run.settings.fsync) return true;
  try {
    await flushToStorage(dirname(job.file.dst));
    return true;
  } catch (error) {
    job.failWith(`${done}, but its directory could not be flushed to storage`, error);
    return false;
  }
}

async function copyAndPublish(job: FileJob): Promise<void> {
  const { run, file } = job;
  // What is known already (for the next file of a folder: all of it) is read
  // without a wait; on many small files each wait is a promise per file.
  const dir = dirname(file.dst);
  if (!run.dirs.isMade(dir)) await run.dirs.ensure(dir);
  job.ops = run.opsNow(file, dir) ?? await run.opsFor(file);
  const local = run.localCopy(file, job.ops);
  // The event loop gets its turn now and then (timers, Ctrl-C, and V8's own
  // tasks: without them, 100 000 files to the small-file worker took 600 MiB).
  if (job.ops === SYNC_FILE_OPS && turnDue()) await turn();
  const tmp = run.temporaries.stageNow(file.dst, dir) ?? await run.temporaries.stage(file.dst);
  try {
    const room = roomFor(job);
    if (room !== true && !(await room)) return;
    // libc's calls publish too; a file they published counts, cancel or not.
    let outcome: PublishOutcome | "unsupported" | "retry" = "unsupported";
    if (file.action === "symlink") {
      await Deno.symlink(file.linkTarget!, tmp);
    } else {
      if (local !== null) {
        try {
          outcome = await copyLocal(job, tmp, local);
        } catch (error) {
          outcome = await retryOf(error, tmp);
        }
      }
      if (local === null || outcome === "retry") {
        outcome = "unsupported";
        const rest = await takeOver(job, tmp);
        const copied = rest === null ? await copyBytes(job, tmp) : await copyRest(job, tmp, rest);
        if (copied === "stopped") return;
        const written = await checkSize(job, tmp);
        if (run.settings.verify !== "size" && !(await verifyContent(job, tmp))) return;
        await finalize(job, tmp, copied === "copied-with-mode" || hasModeOf(written, file));
      }
    }
    if (outcome === "unsupported") {
      if (run.cancelled || !(await keepWhatIsReplaced(job))) return;
      outcome = await publish(
        tmp,
        file.dst,
        run.overwrites ? "overwrite" : "error",
        job.ops,
        run.links,
      );
    }
    if (outcome === "exists") return await existsAtPublish(job);
    run.temporaries.published(tmp);
    await afterPublish(job);
  } finally {
    if (run.temporaries.holds(tmp)) await run.temporaries.discard(tmp);
  }
}

/**
 * After a copy is published: its folder flushed (with `fsync`), a move's
 * source removed, and the outcome reported.
 */
function afterPublish(job: FileJob): Promise<void> | undefined {
  const { fsync, operation } = job.run.settings;
  // Nothing to flush or remove: done without a wait.
  if (!fsync && operation !== "move") {
    job.finish("copied");
    return undefined;
  }
  return flushAndFinish(job, operation === "move");
}

/** {@linkcode afterPublish} with a folder to flush or a source to remove. */
async function flushAndFinish(job: FileJob, move: boolean): Promise<void> {
  if (!(await flushDirectoryOf(job, "published"))) return;
  if (move) {
    try {
      await Deno.remove(job.file.src);
    } catch (error) {
      return job.failWith("the copy is complete, but the source could not be removed", error);
    }
  }
  job.finish(move ? "moved" : "copied");
}

/**
 * A libc call of the small-file path failed: its errno is read by a second
 * call after the first returned, and the runtime may have made calls of its
 * own in between (seen: `EAGAIN` reported for a read-only folder's
 * `EACCES`). The file is copied once more through Deno's calls, whose error
 * is the one reported; a source that changed needs no second look.
 */
async function retryOf(error: unknown, tmp: string): Promise<"retry"> {
  if (!(error instanceof ErrnoError)) throw error;
  await removeIfPresent(tmp);
  return "retry";
}

/**
 * Size check of the written file, and a check that the source did not change
 * meanwhile.
 *
 * @returns What the written file's `stat` said.
 */
async function checkSize(job: FileJob, tmp: string): Promise<Deno.FileInfo> {
  const { file, ops } = job;
  const [written, source] = await Promise.all([ops.stat(tmp), ops.stat(file.src)]);
  // A source that changed explains a copy of another size: said first.
  if (source.size !== file.size || (source.mtime?.getTime() ?? null) !== file.mtimeMs) {
    throw Object.assign(new Error("the source changed during the copy"), {
      failure: "source-changed",
    });
  }
  if (written.size !== file.size) {
    throw new Error(`size check failed: expected ${file.size} bytes, the copy has ${written.size}`);
  }
  return written;
}

/**
 * Whether the written file has the source's mode already: created with it
 * (`temporaryMode`) and kept by the umask, so that no `chmod` is needed.
 */
function hasModeOf(written: Deno.FileInfo, file: PlannedFile): boolean {
  return written.mode !== null && (written.mode & 0o7777) === (file.mode & 0o7777);
}

/**
 * Hashes the written temporary (its ranges read by the workers in parallel,
 * hashed in order) and compares it with the source's digest. Fails the file
 * and returns `false` when they differ (or the batch was cancelled).
 */
async function verifyContent(job: FileJob, tmp: string): Promise<boolean> {
  const { run, file } = job;
  const algorithm = run.settings.hash!;
  // From the disk, the array or the server, not from the pages just written.
  if (run.settings.verify === "source") {
    job.readBack = await dropFromCache(tmp).catch((error) => {
      throw new Error(`cannot flush the copy to storage: ${describeError(error)}`, {
        cause: error,
      });
    });
  }
  let written: string | undefined;
  if (file.copier === "whole") {
    written = await hashBytes(algorithm, await Deno.readFile(tmp));
    run.accounting.addChecked(file.size);
  } else written = await hashRanges(job, tmp, "cannot read the copy back");
  if (written === undefined) return false; // cancelled
  if (written !== job.sourceDigest) {
    job.fail(
      `corrupted on transfer: the source's ${algorithm} is ${job.sourceDigest}, the copy's is ${written}`,
      undefined,
      "corrupted",
    );
    return false;
  }
  job.verified = true;
  return true;
}

/**
 * Publishes a file split across shards (`lib/farm/`) whose ranges every
 * shard has written into its shared temporary: its size and source are
 * checked, the source hashed where the batch hashes (and with `verify:
 * "source"` the temporary too, compared), the source's mode, owner and
 * times given, the file published as any copy is (a move then removes its
 * source), and the outcome reported. A temporary already gone because its
 * file was published (an earlier finalize) counts as already there.
 *
 * @param run The finalize's run.
 * @param file The plan item.
 * @param tmp The shared temporary its shards wrote.
 */
export async function publishStaged(run: Run, file: PlannedFile, tmp: string): Promise<void> {
  const job = new FileJob(run, file);
  try {
    if ((await Deno.lstat(tmp).catch(() => null)) === null) {
      if (await isCompleteCopy(file, await Deno.lstat(file.dst).catch(() => null))) {
        return job.finish("skipped", ALREADY_THERE_REASON);
      }
      return job.fail("its shared temporary is gone: run its shards again", undefined, "not-found");
    }
    const written = await checkSize(job, tmp);
    job.countBytes(file.size);
    if (run.settings.hash !== null) {
      job.sourceDigest = await hashRanges(job, file.src, "cannot read the source");
      if (job.sourceDigest === undefined) return;
      if (run.settings.verify !== "size" && !(await verifyContent(job, tmp))) return;
    }
    await finalize(job, tmp, hasModeOf(written, file));
    if (!(await keepWhatIsReplaced(job))) return;
    const outcome = await publish(
      tmp,
      file.dst,
      run.overwrites ? "overwrite" : "error",
      undefined,
      run.links,
    );
    if (outcome === "exists") {
      // As any copy's temporary when the destination is found taken.
      await existsAtPublish(job);
      return await removeIfPresent(tmp);
    }
    await afterPublish(job);
  } catch (error) {
    job.fail(sideOf(error, file), error);
  } finally {
    if (!job.ended) job.finish("cancelled");
  }
}

/**
 * The source's owner (with `preserveOwner`; only root may give files away,
 * and for anyone else chown fails and is let go, as cp -a lets it go), mode
 * and times, and with `fsync` a flush to storage.
 */
async function finalize(job: FileJob, tmp: string, hasMode: boolean): Promise<void> {
  const { run, file, ops } = job;
  const chowns = run.settings.preserveOwner;
  if (chowns && file.uid !== null && file.gid !== null) {
    // Before chmod: chown clears setuid bits.
    await Deno.chown(tmp, file.uid, file.gid).catch(() => {});
  }
  if (!hasMode || chowns) await ops.chmod(tmp, file.mode);
  if (file.mtimeMs !== null) {
    await ops.utime(tmp, new Date(file.atimeMs ?? file.mtimeMs), new Date(file.mtimeMs));
  }
  if (run.settings.fsync) {
    await flushToStorage(tmp).catch((error) => {
      throw new Error(`cannot flush the copy to storage: ${describeError(error)}`, {
        cause: error,
      });
    });
  }
}
