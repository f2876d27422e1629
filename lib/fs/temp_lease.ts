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
import { isBusy } from "./busy.ts";

/** This process's run id: 16 hex digits. */
export const RUN_ID: string = Array.from(
  crypto.getRandomValues(new Uint8Array(8)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

/** A lease being taken: locked under this name, then renamed to its own. */
const UNLOCKED_SUFFIX = ".new";
const LEASE = /^\.ferry-run\.([0-9a-f]{16})\.lease(?:\.new)?$/;

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
 * The run id in a lease file's name, or in that of a lease being taken
 * (`<lease>.new`, which a run killed at that moment leaves behind).
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
 * Leases kept while no temporary of this run is in their folder: beyond
 * these, idle leases are ended, oldest first, so that a tree of thousands of
 * folders does not hold a descriptor for each (1024 is a common limit).
 */
export const IDLE_LEASES = 64;

/** One folder's lease, and this run's temporaries in that folder. */
interface Held {
  lease: Promise<Deno.FsFile | null>;
  users: number;
  /** Whether the lease is held, once taking it has ended. */
  taken?: boolean;
}

/**
 * This run's leases, one per folder it has temporaries in: taken with the
 * first temporary there, ended when the run ends or, while no temporary of
 * the run is in the folder, when more than {@linkcode IDLE_LEASES} are held.
 *
 * @example
 * ```ts
 * import { Leases } from "./temp_lease.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const leases = new Leases();
 * console.log(await leases.hold(dir)); // true
 * leases.release(dir); // the temporary there is gone
 * await leases.releaseAll();
 * await Deno.remove(dir);
 * ```
 */
export class Leases {
  #held = new Map<string, Held>();
  #ending = new Map<string, Promise<void>>();
  /** Devices that refused to rename a locked lease (SMB: EBUSY); there it is made under its name. */
  #refusing = new Set<number>();
  #devOf: (dir: string) => Promise<number>;

  /**
   * @param devOf A folder's device number (a run passes its own, asked once
   *   per folder); asked only once a device has refused to rename a lease.
   */
  constructor(
    devOf: (dir: string) => Promise<number> = (dir) => Deno.stat(dir).then((i) => i.dev),
  ) {
    this.#devOf = devOf;
  }

  /**
   * Holds this run's lease in `dir` for one more temporary there; each call
   * is matched by one {@linkcode release}.
   *
   * @param dir An existing folder.
   * @returns Whether the lease is held; without it the run's temporaries there
   * are named without its run id, so that no other run ever removes them.
   */
  async hold(dir: string): Promise<boolean> {
    let held = this.#held.get(dir);
    if (held === undefined) {
      await this.#ending.get(dir); // the folder's previous lease file is being removed
      held = this.#held.get(dir);
      if (held === undefined) this.#held.set(dir, held = this.#newHeld(dir));
    }
    held.users++;
    return (await held.lease) !== null;
  }

  /**
   * {@linkcode Leases.hold} without a wait, where the folder's lease has
   * been taken (or refused) already.
   *
   * @param dir An existing folder.
   * @returns As `hold`, or `undefined` (and nothing held) where `hold` is to be asked.
   */
  holdNow(dir: string): boolean | undefined {
    const held = this.#held.get(dir);
    if (held?.taken === undefined) return undefined;
    held.users++;
    return held.taken;
  }

  /**
   * One temporary of this run in `dir` is gone (published or removed).
   *
   * @param dir Its folder.
   */
  release(dir: string): void {
    const held = this.#held.get(dir);
    if (held === undefined) return;
    held.users--;
    for (const [folder, idle] of this.#held) {
      if (this.#held.size <= IDLE_LEASES) break;
      if (idle.users > 0) continue;
      this.#held.delete(folder);
      const ending = endLease(folder, idle.lease).finally(() => {
        if (this.#ending.get(folder) === ending) this.#ending.delete(folder);
      });
      this.#ending.set(folder, ending);
    }
  }

  /** Releases every lease and removes the lease files (after the run's temporaries are gone). */
  async releaseAll(): Promise<void> {
    await Promise.all(this.#ending.values());
    for (const [dir, held] of this.#held) await endLease(dir, held.lease);
    this.#held.clear();
  }

  /** A folder's lease being taken, which says when it has been. */
  #newHeld(dir: string): Held {
    const held: Held = { lease: this.#take(dir), users: 0 };
    held.lease.then((lease) => held.taken = lease !== null, () => {});
    return held;
  }

  /** Creates and locks this run's lease file in a folder (`null`: the folder takes none). */
  async #take(dir: string): Promise<Deno.FsFile | null> {
    const path = join(dir, leaseName(RUN_ID));
    // Locked under another name, then renamed: another run never sees this
    // lease unlocked (it would take it for a dead run's and remove it). SMB
    // refuses to rename an open file (EBUSY): there the lease is made under
    // its name and locked at once, as close as it gets, and on that device
    // the next folders' leases are too (the refused try cost four round
    // trips, ~25 ms on the SMB bed).
    if (!(await this.#refuses(dir))) {
      const unlocked = `${path}${UNLOCKED_SUFFIX}`;
      const locked = await lockedFile(unlocked);
      if (locked !== null) {
        try {
          await Deno.rename(unlocked, path);
          return locked;
        } catch (error) {
          locked.close();
          await Deno.remove(unlocked).catch(() => {});
          if (isBusy(error)) {
            const dev = await this.#deviceOf(dir);
            if (dev !== undefined) this.#refusing.add(dev);
          }
        }
      }
    }
    return await lockedFile(path);
  }

  /** Whether the folder's device refused to rename a locked lease (not asked before one has). */
  async #refuses(dir: string): Promise<boolean> {
    if (this.#refusing.size === 0) return false;
    const dev = await this.#deviceOf(dir);
    return dev !== undefined && this.#refusing.has(dev);
  }

  /** The folder's device, or `undefined` where it cannot be told (the lease is then renamed as anywhere). */
  #deviceOf(dir: string): Promise<number | undefined> {
    return this.#devOf(dir).catch(() => undefined);
  }
}

/**
 * Creates a file and locks it; `null` when it cannot be made or locked (no
 * lock on this file system: an unlocked lease would read as a dead run's).
 */
async function lockedFile(path: string): Promise<Deno.FsFile | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
  } catch {
    return null; // a folder that takes no lease file: temporaries there stay anonymous
  }
  if (await file.tryLock(true).catch(() => false)) return file;
  file.close();
  await Deno.remove(path).catch(() => {});
  return null;
}

/** Closes a lease and removes its file. */
async function endLease(dir: string, lease: Promise<Deno.FsFile | null>): Promise<void> {
  const file = await lease;
  if (file === null) return;
  file.close();
  await Deno.remove(join(dir, leaseName(RUN_ID))).catch(() => {});
}
