/**
 * The destination folders of a running batch: made (parents first) as the
 * plan reaches them, remembered for the clean-up after a cancel, and given
 * their source's mode, owner and time after their files (deepest first, as
 * cp -a does). A folder that cannot be made fails the files that go into it.
 *
 * @module
 */

import { dirname } from "node:path";
import { describeError } from "../errors.ts";
import { flushToStorage } from "../fs/publish.ts";
import type { PlannedDir } from "../plan/plan_item.ts";
import { OnceCache } from "../once_cache.ts";

/** A destination folder that could not be made: names the folder that failed, not its child. */
export class DirectoryError extends Error {
  /** The folder that could not be made. */
  readonly dir: string;

  /**
   * Creates the error.
   *
   * @param dir The folder.
   * @param cause Why.
   */
  constructor(dir: string, cause: unknown) {
    super(`cannot create the destination folder '${dir}': ${describeError(cause)}`, { cause });
    this.name = "DirectoryError";
    this.dir = dir;
  }
}

/** What a batch needs to know of its settings to handle folders. */
export interface DirectorySettings {
  /** Flush each new folder's name to storage. */
  fsync: boolean;
  /** Give folders their source's owner and group. */
  preserveOwner: boolean;
  /** A move removes each source folder once it is empty. */
  move: boolean;
}

/**
 * What a batch did to a folder, as its journal keeps it for `undo`:
 * `created` a destination folder, `removed` a source folder a move emptied
 * (with its mode and time), `renamed` a source tree to `path` in one rename.
 */
export interface DirectoryChange {
  /** What happened. */
  event: "created" | "removed" | "renamed";
  /** The folder (for `renamed`: where the tree is now). */
  path: string;
  /** For `renamed`: where it was. */
  src?: string;
  /** For `removed`: its permission bits. */
  mode?: number;
  /** For `removed`: its modification time in ms. */
  mtimeMs?: number | null;
}

/** The destination folders of one batch. */
export class DestinationDirs {
  /** Told of every folder the batch creates, removes or moves (the journal). */
  record: ((change: DirectoryChange) => void) | undefined;
  #settings: DirectorySettings;
  #made = new OnceCache<string, void>();
  #created: string[] = [];
  #failed = new Map<string, string>();
  /** The plan's folders, kept for {@linkcode DestinationDirs.finish} (folders only, never files). */
  #planned: PlannedDir[] = [];

  /**
   * Starts with no folder made.
   *
   * @param settings Flush, owner and move settings.
   */
  constructor(settings: DirectorySettings) {
    this.#settings = settings;
  }

  /**
   * A folder of the plan: made now (or found). When it cannot be made, the
   * reason is kept and every file below it fails with it.
   *
   * @param dir The planned folder.
   */
  async make(dir: PlannedDir): Promise<void> {
    this.#planned.push(dir);
    if (this.failedParentOf(dir.dst) !== undefined) return;
    try {
      await this.ensure(dir.dst);
    } catch (error) {
      this.#failed.set(
        dir.dst,
        error instanceof DirectoryError
          ? error.message + (error.dir === dir.dst ? "" : ` (on the way to '${dir.dst}')`)
          : `cannot create the directory '${dir.dst}': ${describeError(error)}`,
      );
    }
  }

  /**
   * A folder another run of the batch created (a shard's, for `ferry
   * finalize`): it gets its source's mode and time in {@linkcode finish}.
   *
   * @param path The folder.
   */
  adopt(path: string): void {
    this.#made.set(path, undefined);
    this.#created.push(path);
  }

  /**
   * Why the folder a path goes into could not be made, if it could not.
   *
   * @param path A destination path.
   * @returns The reason, or `undefined`.
   */
  failedParentOf(path: string): string | undefined {
    if (this.#failed.size === 0) return undefined;
    for (let at = dirname(path); at !== dirname(at); at = dirname(at)) {
      const reason = this.#failed.get(at);
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  /**
   * mkdir -p that remembers what it created, for clean-up after a cancel.
   * It tries the deepest directory first and climbs only on NotFound, so it
   * needs no access above the first existing directory. Each directory is
   * made or checked once per batch, however many files go into it.
   *
   * @param path The folder.
   * @throws {DirectoryError} When it cannot be made.
   */
  ensure(path: string): Promise<void> {
    return this.#made.get(path, () => this.#makeOne(path));
  }

  /**
   * Whether a folder has been made or found already (no wait: a file whose
   * folder is known to be there goes on without one).
   *
   * @param path The folder.
   * @returns `true` once {@linkcode DestinationDirs.ensure} of it has succeeded.
   */
  isMade(path: string): boolean {
    return this.#made.has(path);
  }

  async #makeOne(path: string): Promise<void> {
    try {
      await Deno.mkdir(path);
      this.#created.push(path);
      this.record?.({ event: "created", path });
      // A new directory's own name must reach storage before the files in it count as done.
      if (this.#settings.fsync) await flushToStorage(dirname(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && dirname(path) !== path) {
        await this.ensure(dirname(path));
        return this.#makeOne(path);
      }
      if (error instanceof DirectoryError) throw error;
      if (!(error instanceof Deno.errors.AlreadyExists)) throw new DirectoryError(path, error);
      if (!(await Deno.stat(path)).isDirectory) {
        throw new DirectoryError(path, new Error("it exists and is not a directory"));
      }
    }
  }

  /**
   * After the files: the folders this batch created get their source's mode,
   * owner and time (deepest first); a move removes its source folders that
   * are empty now (a file that failed keeps its folder).
   */
  async finish(): Promise<void> {
    const created = new Set(this.#created);
    for (const dir of this.#planned.reverse()) {
      if (dir.rename) continue;
      if (created.has(dir.dst)) {
        if (this.#settings.preserveOwner && dir.uid !== null && dir.gid !== null) {
          await Deno.chown(dir.dst, dir.uid, dir.gid).catch(() => {});
        }
        await Deno.chmod(dir.dst, dir.mode).catch(() => {});
        if (dir.mtimeMs !== null) {
          const time = new Date(dir.mtimeMs);
          await Deno.utime(dir.dst, time, time).catch(() => {});
        }
      }
      if (!this.#settings.move) continue;
      try {
        await Deno.remove(dir.src); // only if empty
        this.record?.({ event: "removed", path: dir.src, mode: dir.mode, mtimeMs: dir.mtimeMs });
      } catch { /* a file that failed keeps its folder */ }
    }
  }

  /** After a cancel: removes the folders this batch created, if they are empty. */
  async removeCreated(): Promise<void> {
    for (const dir of [...this.#created].reverse()) {
      await Deno.remove(dir).catch(() => {}); // only if empty
    }
  }
}
