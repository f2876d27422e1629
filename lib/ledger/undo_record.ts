/**
 * The record `ferry undo` leaves in a batch's ledger folder
 * (`undo-<ms>.json`: when, and how far), which `ferry status` shows.
 *
 * @module
 */

import { join } from "node:path";
import { batchDir } from "./ledger_dir.ts";
import type { UndoResult } from "./undo.ts";

/** Undo records in a batch's ledger folder are named `undo-<ms>.json`. */
const UNDO_RECORD_PREFIX = "undo-";

/** What the latest `ferry undo` of a batch did. */
export interface UndoRecord {
  /** When, in ms since the epoch. */
  atMs: number;
  /** Files taken back. */
  done: number;
  /** Steps that failed. */
  failed: number;
  /** Files left as they were (changed since, or replaced without a backup). */
  left: number;
}

/**
 * Keeps a record of an undo in the batch's ledger folder
 * (`undo-<ms>.json`), which `ferry status` shows.
 *
 * @param ledger The ledger folder.
 * @param result What the undo did.
 */
export async function recordUndo(ledger: string, result: UndoResult): Promise<void> {
  const now = Date.now();
  await Deno.writeTextFile(
    join(await batchDir(ledger, result.batchId), `${UNDO_RECORD_PREFIX}${now}.json`),
    JSON.stringify({
      undone_ms: now,
      done: result.done.length,
      failed: result.failed.length,
      left: result.left.filter((l) => l.code !== "gone").length,
    }),
    { mode: 0o600 },
  );
}

/**
 * The latest undo record in a batch's ledger folder.
 *
 * @param folder The batch's folder.
 * @returns The record, or `null` when the batch was never undone.
 */
export function latestUndo(folder: string): UndoRecord | null {
  let latest: UndoRecord | null = null;
  for (const entry of Deno.readDirSync(folder)) {
    if (!entry.name.startsWith(UNDO_RECORD_PREFIX) || !entry.name.endsWith(".json")) continue;
    try {
      const record = JSON.parse(Deno.readTextFileSync(join(folder, entry.name)));
      if (latest === null || record.undone_ms > latest.atMs) {
        latest = {
          atMs: record.undone_ms,
          done: record.done,
          failed: record.failed,
          left: record.left,
        };
      }
    } catch { /* torn: ignored */ }
  }
  return latest;
}
