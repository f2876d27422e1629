/**
 * What the CLI shows: the live progress line, the plain progress line, the
 * end summary and the `--json` events. Pure functions from engine values to
 * text; only `cli.ts` writes them out.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { findSequences } from "../lib/sequence/find.ts";
import type {
  ConcurrencyChange,
  ConcurrencyInUse,
  Progress,
  StartInfo,
} from "../lib/transfer/progress.ts";
import { byPlanOrder, type FileResult, type TransferResult } from "../lib/transfer/result.ts";
import { DIFFERS_REASON } from "../lib/plan/existing.ts";
import { formatBytes, formatCount, formatDuration } from "../lib/size.ts";

/**
 * The one-line progress display: a drawn bar, percent, bytes done/total,
 * rate, ETA, files and the file(s) in flight, fitted to `width` columns.
 * While the sources are still being listed the totals end in `+` and there is
 * no ETA: they are what has been found so far. On a
 * narrow terminal the names go first, then the bar shrinks, then ETA, rate
 * and bytes are dropped; the percentage and the file count always stay.
 *
 * @param p The progress snapshot.
 * @param width The terminal width.
 * @returns The line, without a newline.
 *
 * @example
 * ```ts
 * import { progressLine } from "./render.ts";
 *
 * console.log(progressLine({
 *   bytesDone: 1 << 30, bytesTotal: 4 << 30, filesDone: 10, filesTotal: 40,
 *   bytesPerSecond: 500 << 20, etaMs: 6000, elapsedMs: 2000, inFlight: ["/a/plate.0011.exr"],
 *   planning: false,
 * }, 100));
 * ```
 */
export function progressLine(
  p: Progress,
  width: number,
  label: (path: string) => string = basename,
): string {
  const fraction = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 1;
  const percent = `${Math.floor(fraction * 100)}%`;
  const more = p.planning ? "+" : "";
  const files = `files ${p.filesDone}/${p.filesTotal}${more}`;
  const optional = [
    `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}${more}`,
    `${formatBytes(p.bytesPerSecond)}/s${
      p.bandwidthLimit === undefined ? "" : ` (limit ${formatBytes(p.bandwidthLimit)}/s)`
    }`,
    `ETA ${p.etaMs === null || p.planning ? "--" : formatDuration(p.etaMs)}`,
    ...(p.concurrency === undefined ? [] : [streamsText(p.concurrency)]),
  ];
  const room = width - 1;
  for (let keep = optional.length; keep >= 0; keep--) {
    const text = [percent, ...optional.slice(0, keep), files].join("  ");
    const barRoom = room - text.length - 1;
    if (barRoom < 12 && keep > 0) continue;
    let line = barRoom >= 7 ? `${bar(fraction, Math.min(32, barRoom))} ${text}` : text;
    const names = inFlightNames(p.inFlight.map((path) => label(path))).join(", ");
    if (names !== "" && line.length + 2 + 8 <= room) {
      const shown = names.length > room - line.length - 2
        ? names.slice(0, room - line.length - 3) + "…"
        : names;
      line += `  ${shown}`;
    }
    return line;
  }
  return `${percent}  ${files}`;
}

/** A drawn bar `[███▌    ]` of `width` columns (brackets included), in eighths of a cell. */
/**
 * The names in flight, frames of one sequence said once: `sh010.1001.exr,
 * sh010.1002.exr` is `sh010.####.exr`.
 */
function inFlightNames(labels: readonly string[]): string[] {
  const names = [...new Set(labels)];
  const frameless = names.map((n) =>
    n.replace(/(\d+)(\D*)$/, (_, d: string, t: string) => "#".repeat(d.length) + t)
  );
  const count = new Map<string, number>();
  for (const f of frameless) count.set(f, (count.get(f) ?? 0) + 1);
  return [...new Set(names.map((n, i) => (count.get(frameless[i]!)! > 1 ? frameless[i]! : n)))];
}

/**
 * Failed frames of one sequence, for one reason, said in one line:
 * `failed: /out/sh010.####.exr 1005,1007-1008 (no space left on the device)`.
 */
function collapseFrames(
  failures: readonly FileResult[],
): { sequences: string[]; single: FileResult[] } {
  const groups = new Map<string, FileResult[]>();
  for (const f of failures) {
    const key = `${dirname(f.dst)}\0${f.reason ?? ""}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, group = []);
    group.push(f);
  }
  const sequences: string[] = [];
  const single: FileResult[] = [];
  for (const group of groups.values()) {
    // Two failures may bear one name (names that are not UTF-8 read alike): each is said.
    const byName = new Map<string, FileResult[]>();
    for (const f of group) byName.set(basename(f.dst), [...(byName.get(basename(f.dst)) ?? []), f]);
    const found = findSequences(byName.keys());
    for (const seq of found.sequences) {
      sequences.push(
        `  failed: ${join(dirname(group[0]!.dst), seq.pattern)} ${seq.frames} (${
          group[0]!.reason
        })`,
      );
    }
    for (const name of found.others) single.push(...byName.get(name)!);
  }
  single.sort(byPlanOrder);
  return { sequences, single };
}

function bar(fraction: number, width: number): string {
  const cells = width - 2;
  const eighths = Math.round(fraction * cells * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  const partial = part === 0 ? "" : " ▏▎▍▌▋▊▉"[part]!;
  return `[${"█".repeat(full)}${partial}${" ".repeat(Math.max(0, cells - full - partial.length))}]`;
}

/**
 * The end summary: counts, bytes, elapsed time, throughput and every failure
 * with its path and cause.
 *
 * @param result The batch result.
 * @param cancelled Whether the batch was cancelled.
 * @returns Lines of text.
 *
 * @example
 * ```ts
 * import { summaryLines } from "./render.ts";
 * import { summarize } from "../lib/transfer/result.ts";
 *
 * const files = [{ src: "/a", dst: "/b", bytes: 10, status: "copied" as const }];
 * console.log(summaryLines({
 *   batchId: "x", operation: "copy", failures: [], totals: summarize(files),
 *   elapsedMs: 5, bytesPerSecond: 2000, ok: true,
 * }, false).join("\n"));
 * ```
 */
export function summaryLines(result: TransferResult, cancelled: boolean): string[] {
  const t = result.totals;
  const verb = result.operation === "move" ? "moved" : "copied";
  // A shard's part of a file split across shards is not one of its files: finalize publishes it.
  const staged = t.filesStaged > 0
    ? ` and its part of ${formatCount(t.filesStaged, "file")} split across shards`
    : "";
  const parts = [
    `${verb} ${t.filesDone} of ${formatCount(t.files - t.filesStaged, "file")}${staged} ` +
    `(${formatBytes(t.bytesDone)})`,
  ];
  const renamed = t.filesDone > 0 && t.filesRenamed === t.filesDone;
  parts.push(
    renamed
      ? `in ${formatDuration(result.elapsedMs)} by rename`
      : `in ${formatDuration(result.elapsedMs)}, ${formatBytes(result.bytesPerSecond)}/s`,
  );
  const counts = [];
  if (t.bytesResumed) counts.push(`${formatBytes(t.bytesResumed)} kept from a killed run`);
  if (t.filesSkipped) counts.push(`${t.filesSkipped} skipped`);
  if (t.filesFailed) counts.push(`${t.filesFailed} failed`);
  if (t.filesCancelled) counts.push(`${t.filesCancelled} not ${verb} (cancelled)`);
  if (t.filesStaged) counts.push("`ferry finalize` publishes the split files");
  const head = `ferry: ${cancelled ? "cancelled: " : ""}${parts.join(" ")}` +
    (counts.length ? `; ${counts.join(", ")}` : "");
  const lines = [head];
  // A rerun onto changed destinations would list every one: they get one line.
  const differ = result.failures.filter((f) => f.reason === DIFFERS_REASON);
  const { sequences, single } = collapseFrames(
    result.failures.filter((f) => f.reason !== DIFFERS_REASON),
  );
  lines.push(...sequences);
  for (const file of single) lines.push(`  failed: ${file.error?.message ?? file.reason}`);
  if (differ.length > 0) {
    const n = differ.length;
    lines.push(
      `  ${n} destination file${n === 1 ? "" : "s"} differ${n === 1 ? "s" : ""} from ` +
        `${n === 1 ? "its source" : "their sources"} and ${n === 1 ? "was" : "were"} left alone ` +
        `(the first: '${differ[0]!.dst}'): --overwrite replaces them, --update only the older ` +
        `ones, --checksum those whose bytes differ, --skip-existing leaves them quietly`,
    );
  }
  const temps = result.temporaries;
  if (temps !== undefined && temps.reclaimed.length > 0) {
    const bytes = temps.reclaimed.reduce((n, t) => n + t.bytes, 0);
    lines.push(
      `  removed ${formatCount(temps.reclaimed.length, "temporary file")} (${
        formatBytes(bytes)
      }) that killed runs had left`,
    );
  }
  if (temps !== undefined && temps.leftAlone.length > 0) {
    lines.push(
      `  left alone ${
        formatCount(temps.leftAlone.length, "temporary file")
      } of ferry runs that may still be going (on another machine, or that cannot be told), e.g. '${
        temps.leftAlone[0]
      }'`,
    );
  }
  for (const t of temps?.notRemoved ?? []) {
    lines.push(`  could not remove the temporary file '${t.path}': ${t.reason}`);
  }
  for (const m of result.manifests ?? []) {
    if (m.error !== undefined) lines.push(`  failed: ${m.error}`);
    else if (m.notWritten !== undefined) {
      lines.push(
        `  no ASC MHL generation for '${m.root}': ${m.notWritten}; ` +
          `rerun with --skip-existing or --update to complete and record it`,
      );
    }
  }
  return lines;
}

/**
 * The `start` event of `--json` output.
 *
 * @param info The plan totals.
 * @returns A JSON-ready object.
 *
 * @example
 * ```ts
 * import { startEvent } from "./render.ts";
 *
 * console.log(JSON.stringify(startEvent({
 *   batchId: "b1", operation: "copy", files: 3, bytes: 30, bytesToCopy: 30, chunks: 0, dirs: 1,
 *   complete: true,
 * })));
 * ```
 */
export function startEvent(info: StartInfo): Record<string, unknown> {
  return {
    event: "start",
    batch_id: info.batchId,
    operation: info.operation,
    files: info.files,
    dirs: info.dirs,
    bytes: info.bytes,
    bytes_to_copy: info.bytesToCopy,
    chunks: info.chunks,
    complete: info.complete,
  };
}

/**
 * The `progress` event of `--json` output.
 *
 * @param p The progress snapshot.
 * @returns A JSON-ready object.
 *
 * @example
 * ```ts
 * import { progressEvent } from "./render.ts";
 *
 * console.log(JSON.stringify(progressEvent({
 *   bytesDone: 5, bytesTotal: 10, filesDone: 0, filesTotal: 1,
 *   bytesPerSecond: 5, etaMs: 1000, elapsedMs: 1000, inFlight: ["/a"], planning: false,
 * })));
 * ```
 */
export function progressEvent(p: Progress): Record<string, unknown> {
  return {
    event: "progress",
    bytes_done: p.bytesDone,
    bytes_total: p.bytesTotal,
    files_done: p.filesDone,
    files_total: p.filesTotal,
    bytes_per_second: Math.round(p.bytesPerSecond),
    eta_ms: p.etaMs,
    elapsed_ms: Math.round(p.elapsedMs),
    in_flight: p.inFlight,
    planning: p.planning,
    ...(p.bandwidthLimit === undefined ? {} : { bandwidth_limit: p.bandwidthLimit }),
    ...(p.concurrency === undefined ? {} : { concurrency: concurrencyFields(p.concurrency) }),
  };
}

/** The progress line's part for the concurrency: `4 streams`, `8 streams fixed`. */
function streamsText(c: ConcurrencyInUse): string {
  return `${c.streams} stream${c.streams === 1 ? "" : "s"}${c.mode === "fixed" ? " fixed" : ""}`;
}

function concurrencyFields(c: ConcurrencyInUse): Record<string, unknown> {
  return { mode: c.mode, streams: c.streams, files: c.files, small_files: c.smallFiles };
}

/**
 * The `concurrency` event of `--json` output: adaptive concurrency changed
 * the streams, and why.
 *
 * @param change The change.
 * @param elapsedMs Time since the batch started.
 * @returns A JSON-ready object.
 *
 * @example
 * ```ts
 * import { concurrencyEvent } from "./render.ts";
 *
 * console.log(JSON.stringify(concurrencyEvent({
 *   mode: "adaptive", streams: 4, files: 2, smallFiles: 8, from: 2,
 *   reason: "the last step up paid off",
 * }, 600)));
 * ```
 */
export function concurrencyEvent(
  change: ConcurrencyChange,
  elapsedMs: number,
): Record<string, unknown> {
  return {
    event: "concurrency",
    ...concurrencyFields(change),
    from: change.from,
    reason: change.reason,
    elapsed_ms: Math.round(elapsedMs),
  };
}

/**
 * The `file` event of `--json` output, one per file.
 *
 * @param file The file's result.
 * @returns A JSON-ready object.
 *
 * @example
 * ```ts
 * import { fileEvent } from "./render.ts";
 *
 * console.log(JSON.stringify(fileEvent({ src: "/a", dst: "/b", bytes: 1, status: "copied" })));
 * ```
 */
export function fileEvent(file: FileResult): Record<string, unknown> {
  return {
    event: "file",
    status: file.status,
    src: file.src,
    dst: file.dst,
    bytes: file.bytes,
    ...(file.reason === undefined ? {} : { reason: file.reason }),
    ...(file.error === undefined ? {} : { code: file.error.code, error: file.error.message }),
    ...(file.offloadedBytes === undefined ? {} : { offloaded_bytes: file.offloadedBytes }),
    ...(file.resumedBytes === undefined ? {} : { resumed_bytes: file.resumedBytes }),
    ...(file.renamed === true ? { renamed: true } : {}),
    ...(file.replaced === true ? { replaced: true } : {}),
    ...(file.backup === undefined ? {} : { backup: file.backup }),
    ...(file.hash === undefined ? {} : {
      hash: file.hash.algorithm,
      digest: file.hash.digest,
      verified: file.hash.verified,
      ...(file.hash.readBack === undefined ? {} : { read_back: file.hash.readBack }),
    }),
  };
}

/**
 * The `summary` event of `--json` output.
 *
 * @param result The batch result.
 * @param exitCode The exit code the CLI will return.
 * @returns A JSON-ready object.
 *
 * @example
 * ```ts
 * import { summaryEvent } from "./render.ts";
 * import { summarize } from "../lib/transfer/result.ts";
 *
 * const files = [{ src: "/a", dst: "/b", bytes: 1, status: "copied" as const }];
 * console.log(JSON.stringify(summaryEvent({
 *   batchId: "b", operation: "copy", failures: [], totals: summarize(files),
 *   elapsedMs: 1, bytesPerSecond: 1000, ok: true,
 * }, 0)));
 * ```
 */
export function summaryEvent(result: TransferResult, exitCode: number): Record<string, unknown> {
  const t = result.totals;
  return {
    event: "summary",
    batch_id: result.batchId,
    operation: result.operation,
    ok: result.ok,
    exit_code: exitCode,
    files: t.files,
    files_done: t.filesDone,
    files_skipped: t.filesSkipped,
    files_failed: t.filesFailed,
    files_cancelled: t.filesCancelled,
    ...(t.filesStaged > 0 ? { files_staged: t.filesStaged } : {}),
    bytes_total: t.bytesTotal,
    bytes_done: t.bytesDone,
    ...(t.bytesResumed > 0 ? { bytes_resumed: t.bytesResumed } : {}),
    elapsed_ms: Math.round(result.elapsedMs),
    bytes_per_second: Math.round(result.bytesPerSecond),
    failures: result.failures.map((f) => ({
      src: f.src,
      dst: f.dst,
      code: f.error?.code ?? "io",
      error: f.error?.message ?? f.reason,
    })),
    ...(result.temporaries === undefined ? {} : {
      temporaries_removed: result.temporaries.reclaimed.map((t) => t.path),
      temporaries_left_alone: result.temporaries.leftAlone,
      temporaries_not_removed: result.temporaries.notRemoved.map((t) => ({
        path: t.path,
        reason: t.reason,
      })),
    }),
    ...(result.manifests === undefined ? {} : {
      manifests: result.manifests.map((m) => ({
        root: m.root,
        written: m.manifests,
        ...(m.notWritten === undefined ? {} : { not_written: m.notWritten }),
        ...(m.error === undefined ? {} : { error: m.error }),
      })),
    }),
  };
}
