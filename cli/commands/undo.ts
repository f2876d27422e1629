/**
 * `ferry undo BATCH_ID`: takes a batch back where its destinations are
 * still exactly what it wrote, and says first what it cannot take back.
 *
 * @module
 */

import { runUndo } from "../../lib/ledger/undo.ts";
import { recordUndo } from "../../lib/ledger/undo_record.ts";
import {
  planUndo,
  type UndoLeft,
  type UndoPlan,
  type UndoStep,
} from "../../lib/ledger/undo_plan.ts";
import { formatCount } from "../../lib/size.ts";
import { UsageError } from "../args.ts";
import { EXIT } from "../exit.ts";
import { jsonLine } from "../reporter.ts";
import { ledgerOf } from "./ledger.ts";
import type { Context } from "./transfer.ts";

/** What each step does, in plain words. */
const DOES: Record<UndoStep["action"], { would: string; did: string }> = {
  remove: { would: "would remove", did: "removed" },
  restore: { would: "would put back the file it replaced", did: "put back the file it replaced" },
  "move-back": { would: "would move back", did: "moved back" },
};

/**
 * `ferry undo [--dry-run] [--json] BATCH_ID`.
 *
 * @param context The arguments and the reporter.
 * @returns 0 when the whole batch was (or, with `--dry-run`, would be)
 * undone; 1 when some files are left as they are or a step failed; 2 for an
 * unknown or running batch.
 */
export async function undoCommand(context: Context): Promise<number> {
  const { operands, json, dryRun } = context.parsed;
  if (operands.length !== 1) throw new UsageError("ferry undo needs one batch id");
  const ledger = ledgerOf(context);
  const plan = await planUndo(ledger, operands[0]!);
  const { reporter } = context;
  const say = (event: Record<string, unknown>, text: string): void =>
    reporter.line(json ? jsonLine(event) : text);
  // What cannot be taken back is said before anything is touched.
  for (const left of plan.left) say(leftEvent(left), `left: ${left.dst}: ${left.reason}`);
  for (const dst of plan.lost) {
    say(
      { event: "undo_lost", dst },
      `note: the move replaced an earlier file at ${dst}, which the batch did not keep; its destination will be empty`,
    );
  }
  if (dryRun) {
    for (const step of plan.steps) say(stepEvent(step, "planned"), stepLine(step, "would"));
    if (!json) reporter.note(summary(plan, plan.steps.length, 0, true));
    return blocking(plan.left) ? EXIT.failed : EXIT.ok;
  }
  const result = await runUndo(plan, {
    onStep: (step, failure) => {
      if (failure !== undefined) {
        say({ ...stepEvent(step, "failed"), reason: failure }, `failed: ${step.dst}: ${failure}`);
      } else if (context.parsed.verbose || json) {
        say(stepEvent(step, "done"), stepLine(step, "did"));
      }
    },
  });
  await recordUndo(ledger, result);
  if (json) {
    reporter.line(jsonLine({
      event: "undo_summary",
      batch_id: plan.batchId,
      done: result.done.length,
      failed: result.failed.length,
      left: result.left.length,
      folders_removed: result.foldersRemoved.length,
      folders_restored: result.foldersRestored.length,
    }));
  } else {
    reporter.note(summary(plan, result.done.length, result.failed.length, false));
  }
  return result.failed.length > 0 || blocking(result.left) ? EXIT.failed : EXIT.ok;
}

/** Files left for a reason other than being gone already: the undo is not whole. */
function blocking(left: readonly UndoLeft[]): boolean {
  return left.some((l) => l.code !== "gone");
}

function leftEvent(left: UndoLeft): Record<string, unknown> {
  return { event: "undo_left", src: left.src, dst: left.dst, code: left.code, reason: left.reason };
}

function stepEvent(step: UndoStep, state: "planned" | "done" | "failed"): Record<string, unknown> {
  return {
    event: "undo_step",
    state,
    action: step.action,
    src: step.src,
    dst: step.dst,
    ...(step.backup === undefined ? {} : { backup: step.backup }),
  };
}

function stepLine(step: UndoStep, mood: "would" | "did"): string {
  const verb = DOES[step.action][mood];
  switch (step.action) {
    case "remove":
      return `${verb} ${step.dst}`;
    case "restore":
      return `${step.dst}: ${verb} (${step.backup})`;
    case "move-back":
      return `${verb} ${step.dst} -> ${step.src}`;
  }
}

function summary(plan: UndoPlan, done: number, failed: number, dryRun: boolean): string {
  const left = plan.left.filter((l) => l.code !== "gone").length;
  const parts = [
    `${dryRun ? "would undo" : "undid"} ${formatCount(done, "file")} of batch ${plan.batchId}`,
    failed > 0 ? `${failed} failed` : "",
    left > 0 ? `${left} left as they are` : "",
  ].filter((p) => p !== "");
  return `ferry: ${parts.join(", ")}`;
}
