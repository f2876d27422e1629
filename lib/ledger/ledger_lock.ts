/**
 * The ledger's own lock, `<ledger>/prune.lock`: a run holds it shared while
 * it makes its batch folder, journal lock and journal; pruning holds it
 * exclusive. Without it a run pruning the ledger could see a batch folder a
 * run starting beside it had just made, with no journal in it yet, and
 * remove it — the starting run then failed, or kept a journal nobody could
 * tell was live, whose temporaries a third run would take over while they
 * were being written.
 *
 * @module
 */

import { join } from "node:path";

/**
 * Holds the ledger's lock, shared by runs starting or exclusive for pruning.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger folder.
 *
 * @param ledger The ledger folder (exists).
 * @param mode `"start"` waits for a prune to end and shares the lock with
 * other starting runs; `"prune"` takes it alone, only if it is free.
 * @returns The held lock, to close when done; `null` when `"prune"` found it
 * taken. Where the storage takes no locks, a start holds none and a prune is
 * refused (`null`): nothing is pruned rather than something live.
 *
 * @example
 * ```ts
 * import { holdLedger } from "./ledger_lock.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * const start = holdLedger(ledger, "start");
 * console.log(holdLedger(ledger, "prune")); // null: a run is starting
 * start?.close();
 * const prune = holdLedger(ledger, "prune");
 * console.log(prune !== null); // true
 * prune?.close();
 * await Deno.remove(ledger, { recursive: true });
 * ```
 */
export function holdLedger(ledger: string, mode: "start" | "prune"): Deno.FsFile | null {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(join(ledger, "prune.lock"), {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  } catch {
    return null;
  }
  try {
    if (mode === "start") {
      file.lockSync(false);
      return file;
    }
    if (file.tryLockSync(true)) return file;
  } catch { /* no locks on this storage */ }
  file.close();
  return null;
}
