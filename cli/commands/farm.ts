/**
 * Plans run in shards across a farm: `ferry apply PLAN --shard K/N`'s
 * ledger and its finalize when it ends last, `ferry finalize PLAN`, and
 * `ferry farm slurm PLAN --shards N` (the job scripts, and `--submit`).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { absolutePath } from "../../lib/fs/absolute_path.ts";
import { fileURLToPath } from "node:url";
import { describeError, InputError } from "../../lib/errors.ts";
import { finalizePlan, type FinalizeResult, NotReadyError } from "../../lib/farm/finalize.ts";
import { parseShard, type Shard } from "../../lib/farm/shard.ts";
import { slurmScripts, submitSlurm } from "../../lib/farm/slurm.ts";
import { planLedgerDir } from "../../lib/ledger/ledger_dir.ts";
import { batchRuns, shardStates } from "../../lib/ledger/status.ts";
import { isPlanFile, readPlanHeader } from "../../lib/plan/plan_file.ts";
import { UsageError } from "../args.ts";
import { formatCount } from "../../lib/size.ts";
import { V8_FLAGS_ARG } from "../v8_flags.ts";
import { EXIT } from "../exit.ts";
import { jsonLine } from "../reporter.ts";
import type { Context } from "./transfer.ts";

/** The scheduler variables `--shard auto` reads (each looked up alone: a grant may name only some). */
const SHARD_VARIABLES = [
  "SLURM_ARRAY_TASK_ID",
  "SLURM_ARRAY_TASK_MIN",
  "SLURM_ARRAY_TASK_COUNT",
  "CUE_IFRAME",
  "JOB_COMPLETION_INDEX",
  "FERRY_SHARD_INDEX",
];

/**
 * `--shard` as given, read with the scheduler's variables.
 *
 * @param text The value.
 * @returns The shard.
 */
export function shardOf(text: string): Shard {
  const env: Record<string, string> = {};
  for (const name of SHARD_VARIABLES) {
    try {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch { /* not granted: as if not set */ }
  }
  return parseShard(text, env);
}

/**
 * The ledger of a plan's shards: `--ledger DIR`, else the folder beside the plan.
 *
 * @param context The arguments.
 * @param plan The plan file.
 * @returns The folder.
 */
export function shardLedger(context: Context, plan: string): string {
  const { ledger } = context.parsed;
  if (ledger === false) {
    throw new UsageError(
      "A plan run in shards needs its ledger: --no-ledger does not go with --shard",
    );
  }
  return ledger ?? planLedgerDir(plan);
}

/**
 * After a shard's run: when every shard of the plan has ended, finalizes
 * it here (the last shard to end does; another finalize already at it is
 * left to it).
 *
 * @param context The arguments and the reporter.
 * @param plan The plan file.
 * @param ledger Its ledger.
 * @returns The exit code of the finalize, or `undefined` when it is not this shard's to run.
 */
export async function finalizeIfLast(
  context: Context,
  plan: string,
  ledger: string,
): Promise<number | undefined> {
  const { batchId } = readPlanHeader(plan).settings;
  const shards = shardStates(await batchRuns(ledger, batchId));
  const waiting = shards.filter((s) => s.run?.state !== "done" && s.run?.state !== "failed");
  if (shards.length === 0 || waiting.length > 0) {
    context.reporter.note(
      `ferry: ${waiting.length} of ${shards.length} shards still to end; ` +
        `the last one finalizes the plan (or: ferry finalize ${plan})`,
    );
    return undefined;
  }
  context.reporter.note("ferry: every shard has ended: finalizing the plan");
  try {
    return report(context, plan, await finalizePlan(plan, { ledger, waitMs: 0 }));
  } catch (error) {
    if (error instanceof InputError && /still running/.test(error.message)) {
      context.reporter.note("ferry: another process is finalizing the plan");
      return undefined;
    }
    throw error;
  }
}

/**
 * `ferry finalize PLAN`: publishes the files split across shards, sets the
 * folders' modes and times, writes the ASC MHL history (see `lib/farm/finalize.ts`).
 *
 * @param context The arguments and the reporter.
 * @returns 0 when the whole plan is delivered; 1 when files failed or a
 * shard has not ended (nothing done then); 2 for bad input.
 */
export async function finalizeCommand(context: Context): Promise<number> {
  const plan = await planOperand(context, "finalize");
  try {
    const result = await finalizePlan(plan, {
      ledger: shardLedger(context, plan),
      onFile: (file) => context.reporter.file(file),
    });
    return report(context, plan, result);
  } catch (error) {
    if (!(error instanceof NotReadyError)) throw error;
    context.reporter.message(`ferry: ${error.message}`);
    if (context.parsed.json) {
      context.reporter.line(jsonLine({
        event: "finalize",
        plan,
        ok: false,
        outcome: "not-ready",
        shards: error.shards.map((s) => ({
          shard: `${s.index}/${s.count}`,
          state: s.run?.state ?? "never-ran",
          host: s.run?.host ?? null,
        })),
      }));
    }
    return EXIT.failed;
  }
}

function report(context: Context, plan: string, result: FinalizeResult): number {
  const { reporter, parsed } = context;
  const published = result.files.filter((f) => f.status === "copied" || f.status === "moved");
  const failed = result.files.filter((f) => f.status === "failed");
  if (parsed.json) {
    reporter.line(jsonLine({
      event: "finalize",
      plan,
      batch_id: result.batchId,
      ok: result.ok,
      outcome: result.outcome,
      published: published.length,
      failed: result.failed,
      files: result.files.map((f) => ({
        dst: f.dst,
        status: f.status,
        ...(f.reason === undefined ? {} : { reason: f.reason }),
        ...(f.hash === undefined ? {} : { digest: f.hash.digest, verified: f.hash.verified }),
      })),
      manifests: result.manifests ?? [],
    }));
  } else if (result.outcome === "already") {
    reporter.note(`ferry: the plan ${plan} (batch ${result.batchId}) is finalized already`);
  } else {
    reporter.note(
      `ferry: finalized batch ${result.batchId}: ${
        formatCount(published.length, "file")
      } split across shards published${failed.length > 0 ? `, ${failed.length} failed` : ""}`,
    );
    for (const f of failed) reporter.message(`  failed: ${f.error?.message ?? f.reason}`);
    for (const m of result.manifests ?? []) {
      if (m.error !== undefined) reporter.message(`  ASC MHL not written: ${m.error}`);
      else if (m.notWritten !== undefined) {
        reporter.message(`  ASC MHL of '${m.root}' not written: ${m.notWritten}`);
      } else if (m.manifests.length > 0) reporter.note(`  ASC MHL: ${m.manifests.join(", ")}`);
    }
    if (result.failed > 0) {
      reporter.message(
        `ferry: ${
          formatCount(result.failed, "file")
        } of the batch failed: see ferry status ${plan}`,
      );
    }
  }
  return result.ok ? EXIT.ok : EXIT.failed;
}

/** The one operand: a plan file. */
async function planOperand(context: Context, command: string): Promise<string> {
  const { operands } = context.parsed;
  if (operands.length !== 1) throw new UsageError(`ferry ${command} takes one plan file`);
  const plan = absolutePath(operands[0]!);
  if (!(await isPlanFile(plan))) {
    throw new InputError(`'${plan}' is not a plan file (write one with ferry plan … --out PLAN)`, {
      path: plan,
    });
  }
  return plan;
}

/**
 * `ferry farm slurm PLAN --shards N [--partition P] [--submit]`: writes the
 * array job and the finalize job beside the plan (`PLAN.slurm/`), and with
 * `--submit` runs `sbatch` on them.
 *
 * @param context The arguments and the reporter.
 * @returns 0, or 1 when sbatch refused, 2 for bad input.
 */
export async function farmCommand(context: Context): Promise<number> {
  const { parsed, reporter } = context;
  const [scheduler, ...rest] = parsed.operands;
  if (scheduler !== "slurm") {
    throw new UsageError(
      `ferry farm takes a scheduler: slurm (got '${scheduler ?? ""}'); ` +
        "for OpenCue, Deadline and Kubernetes see docs/farm.md",
    );
  }
  const plan = await planOperand(
    { ...context, parsed: { ...parsed, operands: rest } },
    "farm slurm",
  );
  if (parsed.shards === undefined) throw new UsageError("ferry farm slurm needs --shards N");
  const { batchId } = readPlanHeader(plan).settings;
  const dir = `${plan}.slurm`;
  const scripts = slurmScripts({
    plan,
    batchId,
    shards: parsed.shards,
    command: ferryCommand(),
    dir,
    ...(parsed.partition === undefined ? {} : { partition: parsed.partition }),
    ...(typeof parsed.ledger === "string" ? { ledger: absolutePath(parsed.ledger) } : {}),
    applyArgs: RUN_KNOBS.flatMap(([flag, key]) =>
      parsed.shown[key] === undefined ? [] : [`--${flag}`, parsed.shown[key]!.slice(1, -1)]
    ),
  });
  const shardsScript = join(dir, "shards.sh");
  const finalizeScript = join(dir, "finalize.sh");
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(shardsScript, scripts.shards, { mode: 0o755 });
    await Deno.writeTextFile(finalizeScript, scripts.finalize, { mode: 0o755 });
  } catch (error) {
    throw new InputError(`Cannot write the job scripts in '${dir}': ${describeError(error)}`, {
      path: dir,
      cause: error,
    });
  }
  if (!parsed.submit) {
    if (parsed.json) {
      reporter.line(
        jsonLine({
          event: "farm",
          plan,
          shards_script: shardsScript,
          finalize_script: finalizeScript,
        }),
      );
    } else {
      reporter.line(
        `ferry: wrote ${shardsScript} (${parsed.shards} tasks) and ${finalizeScript}; submit them with:`,
      );
      reporter.line(
        `  jid=$(sbatch --parsable ${shardsScript}) && ` +
          `sbatch --dependency=afterok:$jid --kill-on-invalid-dep=yes ${finalizeScript}`,
      );
    }
    return EXIT.ok;
  }
  let jobs;
  try {
    jobs = await submitSlurm(shardsScript, finalizeScript);
  } catch (error) {
    reporter.message(`ferry: ${describeError(error)}`);
    return EXIT.failed;
  }
  if (parsed.json) {
    reporter.line(jsonLine({
      event: "farm",
      plan,
      shards_script: shardsScript,
      finalize_script: finalizeScript,
      shards_job: jobs.shards,
      finalize_job: jobs.finalize,
    }));
  } else {
    reporter.line(
      `ferry: submitted ${parsed.shards} shards as job ${jobs.shards} and the finalize as job ` +
        `${jobs.finalize} (logs in ${dir}); watch it with: ferry status ${plan}`,
    );
  }
  return EXIT.ok;
}

/** The knobs of a run that `ferry farm` passes on to every shard, as typed. */
const RUN_KNOBS = [
  ["concurrency", "concurrency"],
  ["workers", "maxWorkers"],
  ["file-workers", "fileWorkers"],
  ["small-file-workers", "smallFileWorkers"],
  ["buffer-size", "bufferBytes"],
  ["offload", "offload"],
] as const;

/** The command that runs this ferry: the compiled binary, or Deno with this CLI. */
function ferryCommand(): string[] {
  const exec = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(exec.split(/[\\/]/).pop()!)) return [exec];
  const main = Deno.mainModule.startsWith("file:")
    ? fileURLToPath(Deno.mainModule)
    : Deno.mainModule;
  const config = join(dirname(main), "deno.json");
  let hasConfig = false;
  try {
    hasConfig = Deno.statSync(config).isFile;
  } catch { /* run without one */ }
  return [
    exec,
    "run",
    "--allow-all",
    V8_FLAGS_ARG,
    ...(hasConfig ? ["--config", config] : []),
    main,
  ];
}
