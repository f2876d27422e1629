/**
 * Telling a killed run's temporary files from a running one's. A run holds
 * an exclusive lock on a small lease file, `.ferry-run.<run id>.lease`, in
 * each folder it writes temporaries into, and names its temporaries with its
 * run id. The kernel drops the lock when the process ends, however it ends
 * (kill -9 included), so a later run that can take the lock knows the owner
 * is gone; on NFS the lock is the server's, so this holds across machines.
 *
 * @module
 */

import { join } from "node:path";

/** This process's run id: 16 hex digits. */
export const RUN_ID: string = Array.from(
  crypto.getRandomValues(new Uint8Array(8)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

const LEASE = /^\.ferry-run\.([0-9a-f]{16})\.lease$/;

/**
 * The lease file name of a run.
 *
 * @param runId The run id.
 * @returns `.ferry-run.<run id>.lease`.
 */
export function leaseName(runId: string): string {
  return `.ferry-run.${runId}.lease`;
}

/**
 * The run id in a lease file's name.
 *
 * @param name A file name.
 * @returns The run id, or `null` when it is no lease file.
 *
 * @example
 * ```ts
 * import { leaseName, leaseRunOf, RUN_ID } from "./temp_lease.ts";
 *
 * console.log(leaseRunOf(leaseName(RUN_ID)) === RUN_ID); // true
 * ```
 */
export function leaseRunOf(name: string): string | null {
  return LEASE.exec(name)?.[1] ?? null;
}

/** Whether a run's lease in a folder shows it still going. */
export type LeaseState = "gone" | "running";

/**
 * Whether the run that holds `runId`'s lease in `dir` is still going: its
 * lock is held. A lease file that is missing, or whose lock can be taken,
 * means the run has ended.
 *
 * Requires `--allow-read` and `--allow-write` on `dir`.
 *
 * @param dir The folder.
 * @param runId The run id.
 * @returns `"running"` or `"gone"`.
 */
export async function leaseState(dir: string, runId: string): Promise<LeaseState> {
  if (runId === RUN_ID) return "running";
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(dir, leaseName(runId)), { read: true, write: true });
  } catch (error) {
    // A run creates its lease before its first temporary and removes it after its last one.
    if (error instanceof Deno.errors.NotFound) return "gone";
    return "running"; // cannot look: assume the worst, touch nothing
  }
  try {
    return (await file.tryLock(true)) ? "gone" : "running";
  } catch {
    return "running";
  } finally {
    file.close();
  }
}

/**
 * This run's leases, one per folder it writes temporaries into.
 *
 * @example
 * ```ts
 * import { Leases } from "./temp_lease.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const leases = new Leases();
 * console.log(await leases.hold(dir)); // true
 * await leases.releaseAll();
 * await Deno.remove(dir);
 * ```
 */
export class Leases {
  #held = new Map<string, Promise<Deno.FsFile | null>>();

  /**
   * Holds this run's lease in `dir` (once per folder).
   *
   * @param dir An existing folder.
   * @returns Whether the lease is held; without it the run's temporaries there
   * are named without its run id, so that no other run ever removes them.
   */
  async hold(dir: string): Promise<boolean> {
    let lease = this.#held.get(dir);
    if (lease === undefined) {
      lease = (async () => {
        const path = join(dir, leaseName(RUN_ID));
        let file: Deno.FsFile;
        try {
          file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
        } catch {
          return null; // a folder that takes no lease file: temporaries there stay anonymous
        }
        if (await file.tryLock(true).catch(() => false)) return file;
        // No lock on this file system: an unlocked lease would read as a dead run's.
        file.close();
        await Deno.remove(path).catch(() => {});
        return null;
      })();
      this.#held.set(dir, lease);
    }
    return (await lease) !== null;
  }

  /** Releases every lease and removes the lease files (after the run's temporaries are gone). */
  async releaseAll(): Promise<void> {
    for (const [dir, lease] of this.#held) {
      const file = await lease;
      if (file === null) continue;
      file.close();
      await Deno.remove(join(dir, leaseName(RUN_ID))).catch(() => {});
    }
    this.#held.clear();
  }
}
