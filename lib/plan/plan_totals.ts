/**
 * The sums over a plan's items that a dry run, the start event and a
 * collected plan report: files, folders, bytes, bytes to copy, parallel
 * ranges, and files that will fail.
 *
 * @module
 */

import type { PlanItem } from "./plan_item.ts";

/** Sums over plan items. */
export interface PlanTotals {
  /** Files. */
  files: number;
  /** Folders. */
  dirs: number;
  /** The files' bytes. */
  bytes: number;
  /** Bytes that will be copied (the rest is renamed, skipped or failed). */
  bytesToCopy: number;
  /** Ranges copied in parallel on the worker pool. */
  chunks: number;
  /** Files planned to fail. */
  failing: number;
}

/**
 * Zero totals.
 *
 * @returns Totals to add items to.
 *
 * @example
 * ```ts
 * import { emptyPlanTotals } from "./plan_totals.ts";
 *
 * console.log(emptyPlanTotals().files); // 0
 * ```
 */
export function emptyPlanTotals(): PlanTotals {
  return { files: 0, dirs: 0, bytes: 0, bytesToCopy: 0, chunks: 0, failing: 0 };
}

/**
 * Adds one item to the totals.
 *
 * @param totals The totals, changed.
 * @param item A plan item.
 *
 * @example
 * ```ts
 * import { addToPlanTotals, emptyPlanTotals } from "./plan_totals.ts";
 *
 * const totals = emptyPlanTotals();
 * addToPlanTotals(totals, { kind: "stray", id: 0, path: "/a/.x.0123456789abcdef.ferry-partial" });
 * console.log(totals.files); // 0
 * ```
 */
export function addToPlanTotals(totals: PlanTotals, item: PlanItem): void {
  if (item.kind === "dir") totals.dirs++;
  if (item.kind !== "file") return;
  totals.files++;
  totals.bytes += item.size;
  if (item.action === "fail") totals.failing++;
  if (item.action === "copy" || item.action === "compare") totals.bytesToCopy += item.size;
  if (item.copier === "ranges") totals.chunks += item.chunks.length;
}
