/**
 * A plan held whole in memory: for a dry run, a test, or a script that wants
 * to look at every item. A running batch never holds one; it reads the
 * items as they are produced.
 *
 * @module
 */

import type { TransferSettings } from "../options.ts";
import type {
  Mapping,
  Plan,
  PlanHeader,
  PlannedDir,
  PlannedFile,
  PlannedStray,
} from "./plan_item.ts";
import { planBatch, refusal } from "./planner.ts";
import { addToPlanTotals, emptyPlanTotals } from "./plan_totals.ts";

/** Every item of a plan, by kind, and its totals. */
export interface TransferPlan {
  /** The mappings and settings. */
  header: PlanHeader;
  /** Directories, parents before children. */
  dirs: PlannedDir[];
  /** Files and links, in plan order. */
  files: PlannedFile[];
  /** ferry temporaries and leases found in the destination folders. */
  strays: PlannedStray[];
  /** Sum of the sizes of all files. */
  bytesTotal: number;
  /** Bytes that will be copied (actions `copy` and `compare`). */
  bytesToCopy: number;
  /** Ranges copied in parallel on the worker pool, over all files. */
  chunksTotal: number;
}

/**
 * Reads every item of a plan into memory.
 *
 * @param plan The plan (its items are read).
 * @returns The items by kind, and the totals.
 *
 * @example
 * ```ts
 * import { collectPlan, planBatch } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const plan = await collectPlan(await planBatch([{ src, dst: `${src}.copy` }]));
 * console.log(plan.files.length); // 1
 * await Deno.remove(src);
 * ```
 */
export async function collectPlan(plan: Plan): Promise<TransferPlan> {
  const dirs: PlannedDir[] = [];
  const files: PlannedFile[] = [];
  const strays: PlannedStray[] = [];
  const totals = emptyPlanTotals();
  for await (const item of plan.items) {
    addToPlanTotals(totals, item);
    if (item.kind === "dir") dirs.push(item);
    else if (item.kind === "stray") strays.push(item);
    else files.push(item);
  }
  return {
    header: plan.header,
    dirs,
    files,
    strays,
    bytesTotal: totals.bytes,
    bytesToCopy: totals.bytesToCopy,
    chunksTotal: totals.chunks,
  };
}

/**
 * Plans a batch and reads the whole plan into memory: what a dry run shows.
 * Reads only; writes nothing.
 *
 * @param mappings The `{src, dst}` pairs.
 * @param options The settings.
 * @returns The plan, whole.
 * @throws {OptionError} For a setting that is not valid.
 * @throws {InputError} When a mapping is unusable, or two of them write one path.
 *
 * @example A dry run
 * ```ts
 * import { planTransfer } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/frame.0001.exr`, "pixels");
 * const plan = await planTransfer([{ src, dst: `${src}-copy` }]);
 * console.log(plan.files.length, plan.bytesTotal); // 1 6
 * await Deno.remove(src, { recursive: true });
 * ```
 */
export async function planTransfer(
  mappings: readonly Mapping[],
  options: TransferSettings = {},
): Promise<TransferPlan> {
  const plan = await collectPlan(await planBatch(mappings, options));
  const refused = plan.files.find((f) => f.refuses === true);
  if (refused !== undefined) throw refusal(refused, plan.header.mappings);
  return plan;
}
