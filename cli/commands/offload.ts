/**
 * `ferry offload SRC DEST…` and `ferry copy SRC --to DEST --to DEST2`: one
 * read of the source, a copy in every destination (`lib/fanout/`), with a
 * live line per destination and a summary per destination.
 *
 * @module
 */

import { basename } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { fanOut, type FanOutMapping, type FanOutResult } from "../../lib/fanout/fan_out.ts";
import type { Mapping } from "../../lib/plan/plan_item.ts";
import { checkNumber, type TransferSettings } from "../../lib/options.ts";
import type { Progress } from "../../lib/transfer/progress.ts";
import { formatBytes, formatCount } from "../../lib/size.ts";
import { type Parsed, UsageError } from "../args.ts";
import { cpMappings } from "../destinations.ts";
import { EXIT } from "../exit.ts";
import { fileEvent, startEvent, summaryEvent, summaryLines } from "../render.ts";
import { sequenceAwareMappings } from "../sequence_tally.ts";
import { type Context, ledgerFor, watchBandwidth, watchInterrupts } from "./transfer.ts";

/**
 * `ferry offload SRC DEST…`: every DEST gets a copy of SRC (a DEST ending
 * in `/` gets it inside), verified against the source and with an ASC MHL
 * history by default.
 *
 * @param context The arguments, the reporter and the signals.
 * @returns The exit code.
 */
export async function offloadCommand(context: Context): Promise<number> {
  const { parsed } = context;
  const [src, ...destinations] = parsed.operands;
  if (src === undefined || destinations.length === 0) {
    throw new UsageError("ferry offload needs a source and at least one destination");
  }
  const options: TransferSettings = {
    verify: "source",
    ...(parsed.noMhl ? {} : { mhl: true }),
    ...parsed.options,
  };
  if (parsed.noMhl && parsed.options.mhl === true) {
    throw new UsageError("--mhl and --no-mhl exclude each other");
  }
  return await runFanOut(
    await fanOutMappings([src], destinations, parsed, context),
    { ...parsed, options },
    context,
  );
}

/**
 * `ferry copy SRC… --to DEST --to DEST2`: with one source each DEST is the
 * path its copy gets (as `ferry offload`); with several, each DEST is a
 * folder they go into.
 *
 * @param context The arguments, the reporter and the signals.
 * @returns The exit code.
 */
export async function copyToCommand(context: Context): Promise<number> {
  const { parsed } = context;
  if (parsed.operands.length === 0) throw new UsageError("ferry copy --to needs a source");
  if (parsed.noTarget) throw new UsageError("--to gives the destinations: -T does not apply");
  const into = parsed.operands.length > 1;
  const destinations = parsed.to.map((d) => into && !d.endsWith("/") ? `${d}/` : d);
  return await runFanOut(
    await fanOutMappings(parsed.operands, destinations, parsed, context),
    parsed,
    context,
  );
}

/**
 * The sources' mappings to each destination, zipped: a DEST is the path of
 * the copy, or with a trailing `/` the folder it goes into (made if missing).
 */
async function fanOutMappings(
  sources: string[],
  destinations: string[],
  parsed: Parsed,
  context: Context,
): Promise<FanOutMapping[]> {
  const lists: Mapping[][] = [];
  for (const [k, dest] of destinations.entries()) {
    const operands = [...sources, dest];
    const flags = { noTarget: !dest.endsWith("/"), sequences: parsed.sequences };
    // The sequences are announced once, not once per destination.
    lists.push(
      k === 0
        ? await sequenceAwareMappings(operands, flags, context.reporter)
        : await cpMappings(operands, flags.noTarget, parsed.sequences, []),
    );
  }
  // Every destination lists the same sources in the same order.
  return lists[0]!.map((m, i) => {
    const mine = lists.map((list) => list[i]);
    if (mine.some((d) => d?.src !== m.src)) {
      throw new InputError(`The destinations do not list the same sources as '${m.src}'`, {
        path: m.src,
      });
    }
    return { src: m.src, dst: mine.map((d) => d!.dst) };
  });
}

/**
 * Runs mappings with several destinations each (an offload, `copy --to`,
 * or a JSON batch whose `dst` is a list): a live line per destination,
 * `--json` events that say which destination, and a summary per destination.
 *
 * @param mappings Each source with its destinations.
 * @param settings The settings, and the names they were given with.
 * @param context The arguments, the reporter and the signals.
 * @returns The exit code: 1 when any destination failed.
 */
export async function runFanOut(
  mappings: FanOutMapping[],
  settings: Pick<Parsed, "options" | "names" | "shown">,
  context: Context,
): Promise<number> {
  const { parsed, reporter } = context;
  if (parsed.dryRun) throw new UsageError("--dry-run goes with one destination (each plans alike)");
  if (parsed.report !== undefined) {
    throw new UsageError("--report goes with one destination: each destination has its own MHL");
  }
  checkNumber("lagBytes", parsed.lagBytes, "--lag-buffer");
  const ledger = ledgerFor(parsed, reporter);
  const count = Math.max(...mappings.map((m) => typeof m.dst === "string" ? 1 : m.dst.length));
  const roots = Array.from({ length: count }, (_, k) => {
    const dst = mappings[0]!.dst;
    return typeof dst === "string" ? dst : dst[k] ?? "";
  });
  reporter.note(
    `ferry: ${parsed.cascade ? "cascade" : "offload"} of ${
      mappings.length === 1 ? mappings[0]!.src : formatCount(mappings.length, "source")
    } to ${formatCount(count, "destination")}`,
  );
  const latest: (Progress | undefined)[] = new Array(count).fill(undefined);
  const { cancel, kill, dispose } = watchInterrupts(context);
  const bandwidth = watchBandwidth(context);
  let result: FanOutResult;
  try {
    result = await fanOut(mappings, {
      ...settings.options,
      ...bandwidth.options,
      ...(parsed.cascade ? { cascade: true } : {}),
      ...(parsed.lagBytes === undefined ? {} : { lagBytes: parsed.lagBytes }),
      ...(ledger === undefined ? {} : { ledger }),
      ...(parsed.ledgerDays === undefined ? {} : { ledgerDays: parsed.ledgerDays }),
      signal: cancel.signal,
      killSignal: kill.signal,
      onStart: (k, info) => {
        if (parsed.json) reporter.event({ ...startEvent(info), destination: k + 1 });
      },
      onProgress: (k, p) => {
        latest[k] = p;
        reporter.destinationProgress(k + 1, p);
        reporter.status(liveLine(roots, latest));
      },
      onConcurrency: (k, change) => reporter.concurrency(change, k + 1),
      onFile: (k, file) => {
        if (parsed.json) reporter.event({ ...fileEvent(file), destination: k + 1 });
        if (parsed.verbose) {
          reporter.message(
            `${String(k + 1).padStart(2)} ${file.status.padEnd(9)} ${
              file.error?.message ?? file.dst
            }`,
          );
        }
      },
    });
  } finally {
    dispose();
    bandwidth.dispose();
  }
  // Refused everywhere before anything was written (bad input, no room): as a batch refused.
  const refused = result.destinations.every((d) => d.error instanceof InputError);
  const code = result.cancelled
    ? EXIT.cancelled
    : result.ok
    ? EXIT.ok
    : refused
    ? EXIT.usage
    : EXIT.failed;
  report(result, code, context);
  return code;
}

/** The live line: each destination's share of its bytes and its rate. */
function liveLine(roots: string[], latest: readonly (Progress | undefined)[]): string {
  return "ferry: " + roots.map((root, k) => {
    const p = latest[k];
    const pct = p === undefined || p.bytesTotal === 0
      ? "…"
      : `${Math.floor((p.bytesDone / p.bytesTotal) * 100)}%`;
    const rate = p === undefined ? "" : ` ${formatBytes(p.bytesPerSecond)}/s`;
    return `${k + 1} ${basename(root)} ${pct}${rate}`;
  }).join(" · ");
}

/** Paths in a few words: a sequence's frames are one path and a count. */
function few(paths: readonly string[]): string {
  return paths.length <= 2 ? paths.join(", ") : `${paths[0]} and ${paths.length - 1} more`;
}

/** The summary per destination, on stderr and as `--json` events. */
function report(result: FanOutResult, code: number, context: Context): void {
  const { reporter, parsed } = context;
  reporter.clearLine();
  const failed = result.destinations.filter((d) => d.error !== undefined || d.result?.ok !== true);
  for (const d of result.destinations) {
    const head = `destination ${d.index + 1}: ${few(d.roots)} (from ${few([...new Set(d.from)])})`;
    const mine = d.error !== undefined
      ? EXIT.usage
      : d.cancelled
      ? EXIT.cancelled
      : d.result?.ok === true
      ? EXIT.ok
      : EXIT.failed;
    if (parsed.json) {
      reporter.event({
        ...(d.result === undefined
          ? { event: "summary", ok: false }
          : summaryEvent(d.result, mine)),
        destination: d.index + 1,
        roots: d.roots,
        from: d.from,
        files_verified: d.filesVerified,
        late: d.late,
        ...(d.error === undefined ? {} : { error: d.error.message }),
      });
    }
    reporter.note(`ferry: ${head}`);
    if (d.error !== undefined) {
      reporter.message(`  failed: ${d.error.message}`);
      continue;
    }
    if (d.result === undefined) continue;
    const [line, ...rest] = summaryLines(d.result, d.cancelled);
    const verified = d.filesVerified > 0 ? `, ${d.filesVerified} verified` : "";
    const mhl = (d.result.manifests ?? []).some((m) => m.manifests.length > 0)
      ? ", ASC MHL generation written"
      : "";
    reporter.note(`  ${line!.replace(/^ferry: /, "")}${verified}${mhl}`);
    for (const more of rest) reporter.message(`  ${more}`);
  }
  const read = result.reads.bytesRead;
  if (parsed.json) {
    reporter.event({
      event: "offload",
      ok: result.ok,
      exit_code: code,
      destinations: result.destinations.length,
      destinations_failed: failed.map((d) => d.index + 1),
      source_bytes_read: read,
      bytes_dropped_for_lag: result.reads.bytesDropped,
      elapsed_ms: Math.round(result.elapsedMs),
    });
  }
  // A destination that fell behind the lag buffer had part of the source read again.
  const late = result.destinations.filter((d) => d.late).map((d) => d.index + 1);
  const again = late.length === 0
    ? "read once"
    : `read once; ${formatBytes(result.reads.bytesDropped)} of it was read again by destination${
      late.length === 1 ? "" : "s"
    } ${late.join(", ")}, which fell further behind than the lag buffer`;
  const summary = result.cancelled
    ? "cancelled"
    : failed.length === 0
    ? `every destination complete (${formatBytes(read)} ${again})`
    : `${failed.length} of ${result.destinations.length} destinations failed: ${
      failed.map((d) => d.index + 1).join(", ")
    }`;
  if (failed.length > 0 || !parsed.quiet) reporter.message(`ferry: offload: ${summary}`);
}
