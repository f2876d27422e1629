/**
 * When a starting run prunes the ledger: at most once an hour. A prune lists
 * every batch folder and looks at every journal in it, which costs in
 * proportion to the ledger (a month of farm jobs is thousands of folders,
 * and a home folder on a share makes each look a round trip: seen, 300
 * batches on the NFS test bed added 3.3 s to every run). The time of the
 * last prune is the modification time of `<ledger>/pruned`, which a prune
 * writes once it holds the ledger's lock: one `stat` tells whether another
 * is due.
 *
 * @module
 */

import { prunedMark } from "./ledger_dir.ts";
import { pruneLedger } from "./status.ts";

/** A ledger is pruned at most this often (ms): batches past the retention may stay this much longer. */
export const PRUNE_EVERY_MS = 3_600_000;

/**
 * Prunes the ledger ({@linkcode pruneLedger}) unless it was pruned less than
 * {@linkcode PRUNE_EVERY_MS} ago. A mark dated in the future (a clock ahead
 * on another machine sharing the ledger) does not hold the prune back.
 *
 * @param ledger The ledger folder.
 * @param days The retention in days.
 * @param nowMs The time now, in ms since the epoch.
 * @returns The batch folders removed, or `null` when no prune was due.
 *
 * @example
 * ```ts
 * import { pruneWhenDue } from "./prune_due.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * console.log(pruneWhenDue(ledger, 30)); // []: never pruned, so due
 * console.log(pruneWhenDue(ledger, 30)); // null: pruned a moment ago
 * await Deno.remove(ledger, { recursive: true });
 * ```
 */
export function pruneWhenDue(ledger: string, days: number, nowMs = Date.now()): string[] | null {
  let lastMs: number | undefined;
  try {
    lastMs = Deno.statSync(prunedMark(ledger)).mtime?.getTime();
  } catch { /* never pruned, or unreadable: due */ }
  if (lastMs !== undefined && lastMs <= nowMs && nowMs - lastMs < PRUNE_EVERY_MS) return null;
  return pruneLedger(ledger, days);
}
