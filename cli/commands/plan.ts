/**
 * `ferry plan … --out PLAN` writes a plan file without copying; `ferry
 * apply` runs a plan file or a JSON batch.
 *
 * @module
 */

import { isPlanFile, openPlanFile, planToFile } from "../../lib/plan/plan_file.ts";
import type { Mapping } from "../../lib/plan/plan_item.ts";
import { formatBytes, formatCount } from "../../lib/size.ts";
import type { JsonBatch } from "../../lib/batch_json.ts";
import { type Parsed, PLAN_FIXED, UsageError } from "../args.ts";
import { readBatch } from "../batch_file.ts";
import { InputError } from "../../lib/errors.ts";
import { batchSequenceMappings, sequenceAwareMappings } from "../sequence_tally.ts";
import { EXIT } from "../exit.ts";
import { jsonLine } from "../reporter.ts";
import { type Context, runBatch } from "./transfer.ts";
import { runFanOut } from "./offload.ts";
import { finalizeIfLast, shardLedger, shardOf } from "./farm.ts";
import { shardLabel } from "../../lib/farm/shard.ts";
import { absolutePath } from "../../lib/fs/absolute_path.ts";

/**
 * `ferry plan [--move] SRC... DST --out PLAN` or `ferry plan --from
 * BATCH.json --out PLAN`: plans the batch into a file and copies nothing.
 *
 * @param context The arguments and the reporter.
 * @returns 0 (the plan is written), or 2 for bad input (nothing written).
 */
export async function planCommand(context: Context): Promise<number> {
  const { parsed, reporter } = context;
  if (parsed.out === undefined || parsed.out === "") {
    throw new UsageError("ferry plan needs --out PLAN (the plan file to write)");
  }
  let mappings: Mapping[];
  let settings = { options: parsed.options, names: parsed.names, shown: parsed.shown };
  if (parsed.from !== undefined) {
    if (parsed.operands.length > 0) {
      throw new UsageError("ferry plan takes either --from BATCH.json or SRC... DST, not both");
    }
    if (parsed.move) {
      throw new UsageError("--move goes with SRC... DST; the batch says its operation");
    }
    const batch = await readBatch([parsed.from]);
    mappings = await batchSequenceMappings(batch.mappings, parsed, reporter);
    settings = withCommandLine(batch, parsed);
  } else {
    mappings = await sequenceAwareMappings(parsed.operands, parsed, reporter);
    settings.options = { ...parsed.options, operation: parsed.move ? "move" : "copy" };
  }
  const planned = await planToFile(mappings, parsed.out, settings.options, {
    names: settings.names,
    values: settings.shown,
  });
  const { files, bytes, bytesToCopy, chunks, failing } = planned.totals;
  const { batchId, operation } = planned.header.settings;
  if (parsed.json) {
    reporter.line(jsonLine({
      event: "planned",
      plan: planned.path,
      batch_id: batchId,
      operation,
      files,
      bytes,
      bytes_to_copy: bytesToCopy,
      chunks,
      failing,
    }));
  } else {
    reporter.note(
      `ferry: planned batch ${batchId} (${operation}) into ${planned.path}: ` +
        `${formatCount(files, "file")}, ${formatBytes(bytes)} ` +
        `(${formatBytes(bytesToCopy)} to copy as things are now, ${chunks} chunks in parallel)` +
        `${failing > 0 ? `, ${failing} would fail` : ""}; run it with: ferry apply ${planned.path}`,
    );
  }
  return EXIT.ok;
}

/**
 * `ferry apply [FILE|-]`: a plan file (`ferry plan`), or a JSON batch in the
 * format of the tool ferry replaces (options on the command line override
 * the batch's).
 *
 * @param context The arguments and the reporter.
 * @returns The exit code of the run.
 */
export async function applyCommand(context: Context): Promise<number> {
  const { parsed } = context;
  const file = parsed.operands[0];
  if (parsed.operands.length === 1 && file !== "-" && await isPlanFile(file!)) {
    const fixed = PLAN_FIXED.filter((flag) => parsed.given.has(flag));
    if (fixed.length > 0) {
      throw new UsageError(
        `The plan '${file}' fixes ${fixed.map((f) => `--${f}`).join(", ")}: plan again to change ${
          fixed.length > 1 ? "them" : "it"
        }`,
      );
    }
    const o = parsed.options;
    const run = {
      ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
      ...(o.maxWorkers === undefined ? {} : { maxWorkers: o.maxWorkers }),
      ...(o.fileWorkers === undefined ? {} : { fileWorkers: o.fileWorkers }),
      ...(o.smallFileWorkers === undefined ? {} : { smallFileWorkers: o.smallFileWorkers }),
      ...(o.bufferBytes === undefined ? {} : { bufferBytes: o.bufferBytes }),
      ...(o.offload === undefined ? {} : { offload: o.offload }),
    };
    if (parsed.shard === undefined) {
      return await runBatch({ path: file!, open: () => openPlanFile(file!, run) }, parsed, context);
    }
    const shard = shardOf(parsed.shard);
    const plan = absolutePath(file!);
    const ledger = shardLedger(context, plan);
    const code = await runBatch(
      {
        path: plan,
        open: () => openPlanFile(plan, { ...run, shard }),
        ledger,
        again: ["--shard", shardLabel(shard)],
      },
      parsed,
      context,
    );
    if (code !== EXIT.ok && code !== EXIT.failed) return code;
    return Math.max(code, await finalizeIfLast(context, plan, ledger) ?? EXIT.ok);
  }
  if (parsed.shard !== undefined) {
    throw new UsageError(
      "--shard goes with a plan file (ferry plan … --out PLAN), not a JSON batch",
    );
  }
  const batch = await readBatch(parsed.operands);
  if (batch.mappings.some((m) => m.destinations !== undefined)) {
    // `"dst": [..]`: one read, a copy in each.
    const sequenced = batch.mappings.find((m) => m.frames ?? m.rename ?? m.renumber ?? m.offset);
    if (sequenced !== undefined) {
      throw new InputError(
        `Mapping '${sequenced.src}': frame selection and renaming go with one destination`,
        { path: sequenced.src },
      );
    }
    const fanned = batch.mappings.map((m) => ({ src: m.src, dst: m.destinations ?? m.dst }));
    return await runFanOut(fanned, withCommandLine(batch, parsed), context);
  }
  if (parsed.cascade || parsed.lagBytes !== undefined) {
    throw new UsageError("--cascade and --lag-buffer go with mappings whose 'dst' is a list");
  }
  const mappings = await batchSequenceMappings(batch.mappings, parsed, context.reporter);
  return await runBatch(mappings, withCommandLine(batch, parsed), context);
}

/** A JSON batch's settings, overridden by the options on the command line. */
function withCommandLine(
  batch: JsonBatch,
  parsed: Parsed,
): Pick<Parsed, "options" | "names" | "shown"> {
  return {
    options: { ...batch.settings, ...parsed.options },
    names: { ...batch.names, ...parsed.names },
    shown: parsed.shown,
  };
}
