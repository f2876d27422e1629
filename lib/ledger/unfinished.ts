/**
 * Which batch a command continues: the fingerprint of its mappings and
 * settings, and the unfinished batch (interrupted, cancelled, or with
 * failures) the ledger names for it.
 *
 * @module
 */

import type { PlanHeader } from "../plan/plan_item.ts";
import { batchDir, journalLive, journalsIn, openMarker, sha256Hex } from "./ledger_dir.ts";

/**
 * The fingerprint of a batch: the hex SHA-256 of its mappings and of the
 * settings that decide what it writes (not the batch id, nor how many
 * workers). The same command run again has the same fingerprint.
 *
 * @param header The plan's header.
 * @returns 64 hex digits.
 *
 * @example
 * ```ts
 * import { batchFingerprint } from "./unfinished.ts";
 * import { planBatch } from "../plan/planner.ts";
 *
 * const src = await Deno.makeTempFile();
 * const a = await planBatch([{ src, dst: `${src}.copy` }], { maxWorkers: 2 });
 * const b = await planBatch([{ src, dst: `${src}.copy` }], { maxWorkers: 8 });
 * console.log(await batchFingerprint(a.header) === await batchFingerprint(b.header)); // true
 * await Deno.remove(src);
 * ```
 */
export async function batchFingerprint(header: PlanHeader): Promise<string> {
  const { operation, existing, verify, hash, mhl, preserveOwner } = header.settings;
  const text = JSON.stringify([
    header.mappings,
    operation,
    existing,
    verify,
    hash,
    mhl,
    preserveOwner,
  ]);
  return await sha256Hex(text);
}

/**
 * The unfinished batch (interrupted, cancelled or with failures) of the
 * same mappings and settings, if the ledger has one and none of its runs is
 * still going.
 *
 * @param ledger The ledger folder.
 * @param header The new plan's header.
 * @returns Its batch id, or `null`.
 */
export async function unfinishedBatch(ledger: string, header: PlanHeader): Promise<string | null> {
  let id: string;
  try {
    id = Deno.readTextFileSync(openMarker(ledger, await batchFingerprint(header))).trim();
  } catch {
    return null;
  }
  if (id === "") return null;
  // One still running (the same command in another terminal) is not continued: that is a new batch.
  const live = journalsIn(await batchDir(ledger, id)).some((journal) => journalLive(journal));
  return live ? null : id;
}
