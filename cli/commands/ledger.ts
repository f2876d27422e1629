/**
 * `ferry status`, `ferry batches` and `ferry resume`: what the ledger knows
 * of batches, and running an unfinished one again.
 *
 * @module
 */

import { InputError } from "../../lib/errors.ts";
import { defaultLedgerDir, missingGrant, planLedgerDir } from "../../lib/ledger/ledger_dir.ts";
import {
  type BatchStatus,
  batchStatus,
  type BatchSummary,
  listBatches,
} from "../../lib/ledger/status.ts";
import { rerunOptions } from "../../lib/options.ts";
import { isPlanFile, readPlanHeader } from "../../lib/plan/plan_file.ts";
import { formatBytes, formatCount, formatDuration } from "../../lib/size.ts";
import { UsageError } from "../args.ts";
import { EXIT } from "../exit.ts";
import { jsonLine } from "../reporter.ts";
import { applyCommand } from "./plan.ts";
import { type Context, runBatch } from "./transfer.ts";

/**
 * The ledger folder a reading command looks in (granted, never prompted for).
 *
 * @param context The arguments.
 * @returns The folder.
 * @throws {InputError} When there is none, or it is not granted.
 */
export function ledgerOf(context: Context): string {
  const { ledger } = context.parsed;
  const dir = typeof ledger === "string" ? ledger : defaultLedgerDir();
  if (dir === null) {
    throw new InputError(
      "Cannot find the ledger: HOME cannot be read (allow it with --allow-env=HOME,XDG_STATE_HOME, or give --ledger DIR)",
    );
  }
  const missing = missingGrant(dir);
  if (missing !== null) {
    throw new InputError(
      `Cannot read the ledger '${dir}': ferry was not granted ${missing} access to it (add it to --allow-${missing})`,
      { path: dir },
    );
  }
  return dir;
}

/** The batch an operand names, or the latest one (the latest unfinished one, when `unfinished`). */
async function chosenBatch(context: Context, unfinished: boolean): Promise<BatchStatus> {
  const { operands } = context.parsed;
  if (operands.length > 1) throw new UsageError("Give one batch id at most");
  let id = operands[0];
  let ledger: string | undefined;
  // A plan file names its batch; run in shards, its ledger is beside it.
  if (id !== undefined && await isPlanFile(id)) {
    const beside = planLedgerDir(id);
    if (context.parsed.ledger === undefined && await isFolder(beside)) ledger = beside;
    id = readPlanHeader(id).settings.batchId;
  }
  ledger ??= ledgerOf(context);
  if (id === undefined) {
    const batches = listBatches(ledger).filter((b) => !unfinished || b.state !== "done");
    if (batches.length === 0) {
      throw new InputError(
        `The ledger '${ledger}' has no ${unfinished ? "unfinished " : ""}batch`,
        { path: ledger },
      );
    }
    id = batches[0]!.batchId;
  }
  const status = await batchStatus(ledger, id);
  if (status === null) {
    throw new InputError(`The ledger '${ledger}' has no batch '${id}'`, { path: ledger });
  }
  return status;
}

async function isFolder(path: string): Promise<boolean> {
  return (await Deno.stat(path).catch(() => null))?.isDirectory === true;
}

/**
 * `ferry status [BATCH_ID]`: one batch (the latest without an id), merged
 * from all its runs.
 *
 * @param context The arguments and the reporter.
 * @returns The exit code: 0, or 2 for an unknown batch.
 */
export async function statusCommand(context: Context): Promise<number> {
  const status = await chosenBatch(context, false);
  if (context.parsed.json) {
    const { settings: _settings, ...rest } = status;
    context.reporter.line(jsonLine({ event: "status", ...snakeKeys(rest) }));
    return EXIT.ok;
  }
  for (const line of statusLines(status)) context.reporter.line(line);
  return EXIT.ok;
}

/**
 * A batch in plain words.
 *
 * @param status The batch.
 * @returns The lines.
 */
export function statusLines(status: BatchStatus): string[] {
  const lines = [`batch ${status.batchId} · ${status.operation} · ${status.state}`];
  const files = `${status.filesDone} of ${formatCount(status.filesTotal, "file")} done`;
  const more = [
    status.filesAlreadyThere > 0 ? `${status.filesAlreadyThere} of them found already there` : "",
    status.filesSkipped > 0 ? `${status.filesSkipped} left alone` : "",
    status.failures.length > 0 ? `${status.failures.length} failed` : "",
  ].filter((s) => s !== "");
  lines.push(
    `  ${[files, ...more].join(", ")} · ${formatBytes(status.bytesDone)} of ${
      formatBytes(status.bytesTotal)
    }`,
  );
  for (const m of status.mappings) lines.push(`  ${m.src} -> ${m.dst}`);
  lines.push(`  ${formatCount(status.runs.length, "run")}:`);
  for (const run of status.runs) {
    const took = formatDuration((run.endedMs ?? run.updatedMs) - run.startedMs);
    lines.push(
      `    ${new Date(run.startedMs).toISOString()}  ${run.host} pid ${run.pid}  ${run.state}  ` +
        `${
          run.shard === null ? "" : run.shard === "finalize" ? "finalize  " : `shard ${run.shard}  `
        }` +
        `${formatCount(run.filesDone, "file")}, ${formatBytes(run.bytesDone)} in ${took}` +
        ` (${formatBytes(run.bytesPerSecond)}/s)${run.planning ? ", still listing sources" : ""}`,
    );
  }
  if (status.shards !== undefined) lines.push(...shardLines(status));
  for (const f of status.failures) {
    lines.push(`  failed [${f.code ?? "io"}] ${f.src} -> ${f.dst}: ${f.reason ?? ""}`);
  }
  const undone = status.undone;
  if (undone !== undefined) {
    lines.push(
      `  undone ${new Date(undone.atMs).toISOString()}: ${
        formatCount(undone.done, "file")
      } taken back` +
        (undone.left + undone.failed > 0
          ? `, ${undone.left + undone.failed} left as they were`
          : ""),
    );
  } else if (status.shards !== undefined) {
    // A plan run in shards is finished by its shards and its finalize, not by resume.
  } else if (status.state !== "done" && status.state !== "running") {
    lines.push(`  to finish it: ferry resume ${status.batchId}`);
  }
  return lines;
}

/** A plan run in shards: each shard's latest run, and the finalize. */
function shardLines(status: BatchStatus): string[] {
  const shards = status.shards!;
  const ended = shards.filter((s) => s.run?.state === "done" || s.run?.state === "failed").length;
  const lines = [`  ${ended} of ${shards.length} shards ended:`];
  for (const { index, count, run } of shards) {
    lines.push(
      run === undefined
        ? `    shard ${index}/${count}  never ran`
        : `    shard ${index}/${count}  ${run.state}  ${run.host} pid ${run.pid}  ` +
          `${formatCount(run.filesDone, "file")} of ${run.filesTotal}, ` +
          `${formatBytes(run.bytesDone)} of ${formatBytes(run.bytesTotal)} ` +
          `(${formatBytes(run.bytesPerSecond)}/s)`,
    );
  }
  const finalized = status.finalized;
  lines.push(
    finalized !== undefined
      ? `  finalized ${new Date(finalized.endedMs).toISOString()} on ${finalized.host}: ` +
        `${finalized.ok ? "ok" : `${finalized.failed} files failed`}`
      : ended === shards.length
      ? "  not finalized yet: ferry finalize PLAN"
      : "  not finalized: the last shard to end finalizes the plan",
  );
  return lines;
}

/**
 * `ferry batches`: every batch in the ledger, the latest first.
 *
 * @param context The arguments and the reporter.
 * @returns The exit code.
 */
export function batchesCommand(context: Context): number {
  const batches = listBatches(ledgerOf(context));
  for (const batch of batches) {
    context.reporter.line(
      context.parsed.json ? jsonLine({ event: "batch", ...snakeKeys(batch) }) : batchLine(batch),
    );
  }
  if (batches.length === 0 && !context.parsed.json) context.reporter.note("ferry: no batches");
  return EXIT.ok;
}

function batchLine(b: BatchSummary): string {
  return `${b.batchId}  ${b.operation}  ${b.state}  ${new Date(b.lastMs).toISOString()}  ` +
    `${b.filesDone}/${b.filesTotal} files  ${formatBytes(b.bytesDone)}  ${b.host}` +
    (b.runs > 1 ? `  (${b.runs} runs)` : "");
}

/**
 * `ferry resume [BATCH_ID]`: runs a batch again (the latest unfinished one
 * without an id) with its own mappings and settings, as another run of the
 * same batch: files already published are left alone, the rest is copied.
 * Options on the command line override the journaled ones.
 *
 * @param context The arguments and the reporter.
 * @returns The exit code of the run.
 */
export async function resumeCommand(context: Context): Promise<number> {
  const operand = context.parsed.operands[0];
  // A plan's batch is finished by running the plan again.
  if (operand !== undefined && await isPlanFile(operand)) return await applyCommand(context);
  const status = await chosenBatch(context, true);
  const { parsed } = context;
  return await runBatch(status.mappings, {
    options: { ...rerunOptions(status.settings, parsed.options), batchId: status.batchId },
    names: parsed.names,
    shown: parsed.shown,
  }, { ...context, parsed: { ...parsed, operands: [] } });
}

/** An object with its keys (and its values' keys) in the snake_case of the JSON events. */
function snakeKeys(value: object): Record<string, unknown> {
  const convert = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(convert) : v !== null && typeof v === "object" ? snakeKeys(v) : v;
  return Object.fromEntries(
    Object.entries(value).map((
      [k, v],
    ) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), convert(v)]),
  );
}
