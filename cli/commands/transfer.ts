/**
 * `ferry copy`, `ferry move` and `ferry apply`: plan the batch (every
 * setting and mapping checked first), print it for a dry run, or run it with
 * live progress, signals, a summary and an optional delivery report.
 *
 * @module
 */

import { CancelledError, describeError } from "../../lib/errors.ts";
import type { Mapping, Plan, PlannedFile } from "../../lib/plan/plan_item.ts";
import { planBatch, refusal } from "../../lib/plan/planner.ts";
import { addToPlanTotals, emptyPlanTotals } from "../../lib/plan/plan_totals.ts";
import { formatBytes, formatCount } from "../../lib/size.ts";
import { defaultLedgerDir, missingGrant } from "../../lib/ledger/ledger_dir.ts";
import { unfinishedBatch } from "../../lib/ledger/unfinished.ts";
import { checkNumber } from "../../lib/options.ts";
import { applyPlan, type RunOptions } from "../../lib/transfer/batch.ts";
import { parseBandwidth } from "../../lib/transfer/bandwidth.ts";
import { byPlanOrder, type FileResult, type TransferResult } from "../../lib/transfer/result.ts";
import { hostName } from "../../lib/host.ts";
import { shardLabel } from "../../lib/farm/shard.ts";
import type { Parsed } from "../args.ts";
import { EXIT } from "../exit.ts";
import type { ReportData } from "../report.ts";
import { jsonLine, type Reporter } from "../reporter.ts";
import type { Interrupts } from "../main.ts";

/** What a command runs with. */
export interface Context {
  /** The parsed arguments. */
  parsed: Parsed;
  /** Where output goes. */
  reporter: Reporter;
  /** Signals caught by the caller, if it catches them. */
  interrupts: Interrupts | undefined;
}

/** A plan read from a plan file (`ferry apply PLAN`), instead of mappings to plan. */
export interface StoredPlan {
  /** The plan file. */
  path: string;
  /** Opens it (every run reads it anew). */
  open: () => Promise<Plan>;
  /** The ledger its runs journal into, when not the one the options say (a shard's: beside the plan). */
  ledger?: string;
  /** Arguments that run it again as this run did (`--shard K/N`). */
  again?: string[];
}

/**
 * Plans and runs (or with `--dry-run` prints) a batch.
 *
 * @param mappings The mappings, or a plan file.
 * @param settings The settings, and the names they were given with.
 * @param context The arguments, the reporter and the signals.
 * @param finish The command that finishes the batch after a cancel, if there is one.
 * @param earlier Mappings an earlier, interrupted run of the same command
 * had (`cp` semantics: its copy now exists, so the command copies into it):
 * where the ledger has that batch unfinished, it is continued instead.
 * @returns The exit code.
 */
export async function runBatch(
  mappings: Mapping[] | StoredPlan,
  settings: Pick<Parsed, "options" | "names" | "shown">,
  context: Context,
  finish?: string[],
  earlier?: Mapping[],
): Promise<number> {
  const { parsed, reporter } = context;
  checkNumber("ledgerDays", parsed.ledgerDays, "--ledger-days", `'${parsed.ledgerDays}'`);
  const planOf = (from: Mapping[]): Promise<Plan> =>
    planBatch(from, settings.options, { names: settings.names, values: settings.shown });
  const stored = Array.isArray(mappings) ? undefined : mappings;
  let plan = stored !== undefined ? await stored.open() : await planOf(mappings as Mapping[]);
  const ledger = parsed.dryRun ? undefined : stored?.ledger ?? ledgerFor(parsed, reporter);
  if (stored !== undefined) {
    // A plan's runs are runs of its batch: each continues what the others left.
    if (ledger !== undefined) {
      const shard = plan.shard === undefined ? "" : `, shard ${shardLabel(plan.shard)}`;
      reporter.note(`ferry: batch ${plan.header.settings.batchId} (plan ${stored.path}${shard})`);
    }
  } else if (ledger !== undefined && settings.options.batchId === undefined) {
    // The same command run again continues its unfinished batch, unless given an id.
    let unfinished = await unfinishedBatch(ledger, plan.header);
    if (unfinished === null && earlier !== undefined) {
      const before = await planOf(earlier);
      unfinished = await unfinishedBatch(ledger, before.header);
      if (unfinished !== null) {
        plan = before;
        finish = [...(finish ?? []), "-T"];
      }
    }
    if (unfinished !== null) plan = withBatchId(plan, unfinished);
    reporter.note(
      unfinished !== null
        ? `ferry: continuing the unfinished batch ${unfinished} (${describeMappings(plan)})`
        : `ferry: batch ${plan.header.settings.batchId}`,
    );
  } else if (ledger !== undefined) reporter.note(`ferry: batch ${plan.header.settings.batchId}`);
  if (parsed.dryRun) return await printPlan(plan, reporter, parsed.json);
  // The report lists every file: only then are the outcomes kept.
  const files: FileResult[] | undefined = parsed.report === undefined ? undefined : [];
  const { cancel, kill, dispose } = watchInterrupts(context);
  const bandwidth = watchBandwidth(context);
  let result: TransferResult;
  let code: number;
  let cancelled = false;
  const startedAt = new Date();
  const samples: { elapsedMs: number; bytesDone: number }[] = [{ elapsedMs: 0, bytesDone: 0 }];
  try {
    result = await applyPlan(plan, {
      ...bandwidth.options,
      ...(ledger === undefined ? {} : { ledger }),
      ...(parsed.ledgerDays === undefined ? {} : { ledgerDays: parsed.ledgerDays }),
      signal: cancel.signal,
      killSignal: kill.signal,
      onStart: (info) => reporter.start(info),
      onProgress: (p) => {
        samples.push({ elapsedMs: p.elapsedMs, bytesDone: p.bytesDone });
        reporter.progress(p);
      },
      onFile: (f) => {
        files?.push(f);
        reporter.file(f);
      },
      onConcurrency: (change) => reporter.concurrency(change),
    });
    code = result.ok ? EXIT.ok : EXIT.failed;
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    result = error.result;
    code = EXIT.cancelled;
    cancelled = true;
  } finally {
    dispose();
    bandwidth.dispose();
  }
  reporter.finish(result, code, cancelled);
  if (parsed.report !== undefined) {
    samples.push({ elapsedMs: result.elapsedMs, bytesDone: result.totals.bytesDone });
    const written = await writeReport(parsed.report, {
      result,
      files: files!.sort(byPlanOrder),
      startedAt,
      endedAt: new Date(),
      host: hostName(),
      samples,
      cancelled,
    });
    if (written !== null) {
      reporter.message(`ferry: cannot write the report '${parsed.report}': ${written}`);
      if (code === EXIT.ok) code = EXIT.failed;
    }
  }
  if (result.journal?.error !== undefined) {
    reporter.message(
      `ferry: the ledger stopped recording this batch: ${result.journal.error} (${result.journal.path})`,
    );
  }
  if (cancelled && result.totals.filesCancelled > 0) {
    // Complete files stay and are skipped as already there by the rerun.
    const ledgerArgs = parsed.ledger === undefined || ledger === undefined
      ? []
      : ["--ledger", ledger];
    const again = stored !== undefined
      ? ["apply", stored.path, ...(stored.again ?? []), ...ledgerArgs]
      : ledger !== undefined
      ? ["resume", result.batchId, ...ledgerArgs]
      : finish;
    if (again !== undefined) {
      reporter.message(`ferry: to finish it, run: ferry ${again.map(shellQuote).join(" ")}`);
    }
  }
  return code;
}

/**
 * Ctrl-C (and SIGTERM) while a batch runs: the first cancels (temporary
 * files removed), the second stops the workers at once; a reader of stdout
 * that went away cancels too.
 *
 * @param context The reporter and the signals caught by the caller.
 * @returns The two aborts, and a function that stops watching.
 */
export function watchInterrupts(
  context: Pick<Context, "reporter" | "interrupts">,
): { cancel: AbortController; kill: AbortController; dispose: () => void } {
  const { reporter } = context;
  const cancel = new AbortController();
  const kill = new AbortController();
  const onSignal = (): void => {
    if (!cancel.signal.aborted) {
      reporter.message(
        "ferry: cancelling: removing temporary files (press Ctrl-C again to stop at once)",
      );
      cancel.abort(new Error("interrupted"));
    } else {
      kill.abort(new Error("interrupted twice"));
    }
  };
  const interrupts = context.interrupts;
  const signals: Deno.Signal[] = interrupts !== undefined
    ? []
    : Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  if (interrupts !== undefined) interrupts.onInterrupt = onSignal;
  // `ferry copy --json … | head`: the reader went away; stop as a cancel does.
  reporter.onStdoutClosed = () => {
    reporter.message("ferry: cancelling: the output's reader went away (broken pipe)");
    cancel.abort(new Error("broken pipe"));
  };
  const dispose = (): void => {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
    if (interrupts !== undefined) interrupts.onInterrupt = undefined;
  };
  return { cancel, kill, dispose };
}

/**
 * `--bwlimit`: checked (exit 2 before anything is touched), and SIGUSR1
 * lifts it and puts it back while the batch runs.
 *
 * @param context The arguments and the reporter.
 * @returns The run options that apply it, and a function that stops listening.
 */
export function watchBandwidth(
  context: Pick<Context, "parsed" | "reporter">,
): { options: Pick<RunOptions, "bandwidthLimit" | "bandwidthPaused">; dispose: () => void } {
  const { bwlimit } = context.parsed;
  if (bwlimit === undefined) return { options: {}, dispose: () => {} };
  parseBandwidth(bwlimit, "--bwlimit");
  let paused = false;
  const toggle = (): void => {
    paused = !paused;
    context.reporter.message(
      paused
        ? "ferry: bandwidth limit lifted (SIGUSR1 again puts it back)"
        : `ferry: bandwidth limit back (${bwlimit})`,
    );
  };
  const signals = Deno.build.os === "windows" ? [] : ["SIGUSR1" as const];
  for (const sig of signals) Deno.addSignalListener(sig, toggle);
  return {
    options: { bandwidthLimit: bwlimit, bandwidthPaused: () => paused },
    dispose: () => {
      for (const sig of signals) Deno.removeSignalListener(sig, toggle);
    },
  };
}

/**
 * The ledger folder a batch is journaled in: `--ledger DIR`, none with
 * `--no-ledger`, else the user's state folder. Where that cannot be found
 * (no `--allow-env`) or is not granted, the batch is not journaled; where it
 * cannot be made, a note says so.
 */
export function ledgerFor(parsed: Parsed, reporter: Reporter): string | undefined {
  if (parsed.ledger === false) return undefined;
  if (parsed.ledger !== undefined) return parsed.ledger; // asked for: it must work (exit 2 otherwise)
  const dir = defaultLedgerDir();
  // Run in a sandbox without HOME, or without the grants for the ledger: journaled only
  // where asked for (looked up, so that no permission prompt ever stops a delivery).
  if (dir === null || missingGrant(dir) !== null) return undefined;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  } catch (error) {
    reporter.note(`ferry: no ledger for this batch: cannot make '${dir}': ${describeError(error)}`);
    return undefined;
  }
}

/** A plan's mappings in a few words. */
function describeMappings(plan: Plan): string {
  const { mappings } = plan.header;
  const first = mappings[0];
  if (first === undefined) return "no mappings";
  const more = mappings.length > 1
    ? ` and ${formatCount(mappings.length - 1, "more", "more")}`
    : "";
  return `${first.src} -> ${first.dst}${more}`;
}

/** The same plan under another batch id. */
function withBatchId(plan: Plan, batchId: string): Plan {
  const { header } = plan;
  return { ...plan, header: { ...header, settings: { ...header.settings, batchId } } };
}

/** `--dry-run`: every item as it is planned, exactly what would run, then the totals. */
async function printPlan(plan: Plan, reporter: Reporter, json: boolean): Promise<number> {
  const totals = emptyPlanTotals();
  for await (const item of plan.items) {
    if (item.kind !== "file") continue;
    if (item.refuses === true) throw refusal(item, plan.header.mappings);
    addToPlanTotals(totals, item);
    reporter.line(json ? planEvent(item) : planLine(item));
  }
  const { files, bytes, bytesToCopy, chunks, failing } = totals;
  reporter.note(
    `ferry: dry run: ${formatCount(files, "file")}, ${formatBytes(bytes)} ` +
      `(${formatBytes(bytesToCopy)} to copy, ${chunks} chunks in parallel)` +
      `${failing > 0 ? `, ${failing} would fail` : ""}; nothing was written`,
  );
  return failing > 0 ? EXIT.failed : EXIT.ok;
}

function planLine(file: PlannedFile): string {
  const how = file.copier === "ranges"
    ? ` in ${file.chunks.length} chunks`
    : file.copier === "kernel"
    ? " by the kernel"
    : "";
  const why = file.reason === undefined ? "" : ` (${file.reason})`;
  return `${file.action.padEnd(8)} ${file.src} -> ${file.dst}  ${
    formatBytes(file.size)
  }${how}${why}`;
}

function planEvent(file: PlannedFile): string {
  return jsonLine({
    event: "plan",
    id: file.id,
    action: file.action,
    src: file.src,
    dst: file.dst,
    bytes: file.size,
    copier: file.copier,
    chunks: file.copier === "ranges" ? file.chunks.length : 0,
    ranges: file.chunks.map((c) => [c.offset, c.length]),
    ...(file.reason === undefined ? {} : { reason: file.reason }),
    ...(file.code === undefined ? {} : { code: file.code }),
  });
}

/** Writes `--report FILE`: HTML, or CSV for a `.csv` name. Returns why it could not, or `null`. */
async function writeReport(path: string, data: ReportData): Promise<string | null> {
  const { renderCsvReport, renderHtmlReport } = await import("../report.ts");
  const text = path.toLowerCase().endsWith(".csv") ? renderCsvReport(data) : renderHtmlReport(data);
  try {
    await Deno.writeTextFile(path, text);
    return null;
  } catch (error) {
    return describeError(error);
  }
}

/** An argument as a POSIX shell reads it back. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
