/**
 * The temporary files of a running batch: this run's own (named with its
 * run id under a lease in their folder, removed on failure and cancel), and
 * those killed runs left behind (removed when their run is gone). A share
 * refuses to remove a file still open anywhere (`EBUSY`, see `busy.ts`): a
 * killed run's leftover it holds is tried again at the end of the run, all
 * of them at once, while this run's own are waited for where they are.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { describeError } from "../errors.ts";
import { BUSY_WAIT_MS, isBusy, whileBusy } from "../fs/busy.ts";
import { isTempName, removeIfPresent, tempPathFor, tempRunOf } from "../fs/publish.ts";
import { leaseRunOf, Leases, leaseState } from "../fs/temp_lease.ts";
import type { TemporaryReport } from "./result.ts";
import { OnceCache } from "../once_cache.ts";

/** This run's temporaries and leases, and what it found of other runs'. */
export class Temporaries {
  /** Stray temporaries found, and this run's own that could not be removed. */
  readonly report: TemporaryReport = { reclaimed: [], leftAlone: [], notRemoved: [] };
  /** A shard's run: the temporaries of runs still going are the other shards', not reported. */
  quietLive = false;
  /**
   * A shard's run (and finalize): the runs of the batch known from their
   * journals to have ended. Only their temporaries are reclaimed, whatever
   * the leases say: a farm's storage may not share file locks between
   * machines, and then a lease cannot tell a live shard on another node
   * from a dead one.
   */
  endedRuns: ReadonlySet<string> | undefined;
  #leases: Leases;
  /** This run's temporaries not yet published or removed, each with its folder. */
  #mine = new Map<string, string>();
  #runs = new OnceCache<string, "gone" | "running">();
  /** Killed runs' leftovers the share held open when first tried (see {@linkcode Temporaries.settleBusy}). */
  #busy: { path: string; bytes: number; temp: boolean }[] = [];

  /**
   * @param devOf A folder's device number, asked once per folder (see {@linkcode Leases}).
   */
  constructor(devOf?: (dir: string) => Promise<number>) {
    this.#leases = new Leases(devOf);
  }

  /**
   * A new temporary name next to a destination, under this run's lease of
   * the folder (the folder exists).
   *
   * @param dst The destination path.
   * @returns The temporary's path; it is tracked until published or removed.
   */
  async stage(dst: string): Promise<string> {
    const dir = dirname(dst);
    const tmp = tempPathFor(dst, await this.#leases.hold(dir));
    this.#mine.set(tmp, dir);
    return tmp;
  }

  /**
   * {@linkcode Temporaries.stage} without a wait, where the folder's lease
   * is settled already.
   *
   * @param dst The destination path.
   * @param dir Its folder.
   * @returns The temporary's path, or `undefined` where `stage` is to be asked.
   */
  stageNow(dst: string, dir: string = dirname(dst)): string | undefined {
    const leased = this.#leases.holdNow(dir);
    if (leased === undefined) return undefined;
    const tmp = tempPathFor(dst, leased);
    this.#mine.set(tmp, dir);
    return tmp;
  }

  /**
   * Whether a temporary is still this run's to remove (not published, not discarded).
   *
   * @param tmp The temporary.
   * @returns `true` until {@linkcode Temporaries.published} or {@linkcode Temporaries.discard}.
   */
  holds(tmp: string): boolean {
    return this.#mine.has(tmp);
  }

  /** The temporary got its final name: no longer this run's to remove. */
  published(tmp: string): void {
    const dir = this.#mine.get(tmp);
    if (dir === undefined) return;
    this.#mine.delete(tmp);
    this.#leases.release(dir);
  }

  /** Removes a temporary of this run if it is still there. */
  async discard(tmp: string): Promise<void> {
    const dir = this.#mine.get(tmp);
    if (dir === undefined) return;
    this.#mine.delete(tmp);
    try {
      await whileBusy(() => removeIfPresent(tmp));
    } catch (error) {
      this.report.notRemoved.push({ path: tmp, reason: describeError(error) });
    }
    this.#leases.release(dir);
  }

  /** Removes every temporary of this run that is left (after a cancel). */
  async discardAll(): Promise<void> {
    for (const tmp of [...this.#mine.keys()]) await this.discard(tmp);
  }

  /** Ends this run's leases; every temporary of it is gone by then. */
  async releaseLeases(): Promise<void> {
    await this.#leases.releaseAll();
  }

  /**
   * Removes a temporary (or lease) that a killed run left in a destination
   * folder, never one whose run may still be going. A run's temporaries go
   * before its lease: the plan lists them first.
   *
   * @param path The stray's path.
   */
  async reclaim(path: string): Promise<void> {
    const temp = isTempName(path);
    const run = temp ? tempRunOf(path) : leaseRunOf(basename(path));
    if (run === null) {
      this.report.leftAlone.push(path); // a run without a lease: never another's to remove
      return;
    }
    const key = `${dirname(path)}\0${run}`;
    const state = this.#runs.get(
      key,
      () =>
        this.endedRuns === undefined
          ? leaseState(dirname(path), run)
          : Promise.resolve(this.endedRuns.has(run) ? "gone" : "running"),
    );
    if ((await state) === "running") {
      if (temp && !this.quietLive) this.report.leftAlone.push(path);
      return;
    }
    let bytes: number;
    try {
      bytes = (await Deno.lstat(path)).size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      this.report.notRemoved.push({ path, reason: describeError(error) });
      return;
    }
    await this.removeLeftover(path, bytes, temp);
  }

  /**
   * Removes a killed run's temporary (or lease) whose run is known to be
   * gone, now, or at {@linkcode Temporaries.settleBusy} where the share
   * still holds it open.
   *
   * @param path The leftover.
   * @param bytes Its size, for the report.
   * @param temp Whether it is a temporary (reported) rather than a lease.
   */
  async removeLeftover(path: string, bytes: number, temp = true): Promise<void> {
    try {
      await removeIfPresent(path);
    } catch (error) {
      if (isBusy(error)) this.#busy.push({ path, bytes, temp });
      else this.report.notRemoved.push({ path, reason: describeError(error) });
      return;
    }
    if (temp) this.report.reclaimed.push({ path, bytes });
  }

  /**
   * Tries the leftovers the share held open again, all at once, for up to
   * `waitMs`; those still held are reported as not removed (the next run
   * into their folder removes them).
   *
   * @param waitMs The longest wait (default {@linkcode BUSY_WAIT_MS}).
   */
  async settleBusy(waitMs: number = BUSY_WAIT_MS): Promise<void> {
    await Promise.all(
      this.#busy.splice(0).map(async ({ path, bytes, temp }) => {
        try {
          await whileBusy(() => removeIfPresent(path), waitMs);
          if (temp) this.report.reclaimed.push({ path, bytes });
        } catch (error) {
          const later = isBusy(error) ? "; a later run into this folder removes it" : "";
          this.report.notRemoved.push({ path, reason: describeError(error) + later });
        }
      }),
    );
  }
}
