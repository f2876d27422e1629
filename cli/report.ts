/**
 * The delivery report a producer can open: one self-contained HTML file (no
 * network, no scripts) with the batch, the verdict, a table per folder (frame
 * sequences with their missing frames), every file with its digest and a
 * throughput chart; or the same per-file table as CSV.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import type { FileResult, TransferResult } from "../lib/transfer/result.ts";
import { formatBytes, formatCount, formatDuration } from "../lib/size.ts";

/** What a report is made from. */
export interface ReportData {
  /** The batch's result. */
  result: TransferResult;
  /** Every file's outcome, in plan order (collected from `onFile`). */
  files: readonly FileResult[];
  /** When the batch started. */
  startedAt: Date;
  /** When it ended. */
  endedAt: Date;
  /** The machine it ran on (`unknown` without `--allow-sys=hostname`). */
  host: string;
  /** Progress samples for the chart: elapsed time and bytes done. */
  samples: readonly { elapsedMs: number; bytesDone: number }[];
  /** Whether the batch was cancelled. */
  cancelled: boolean;
}

/** One frame sequence in a folder: `sh010.####.exr` with its frames. */
interface Sequence {
  pattern: string;
  frames: number[];
}

const FRAME = /^(.*?)(\d+)(\.[A-Za-z0-9]+)$/;

/** Groups a folder's file names into frame sequences (two frames or more) and loose files. */
function sequencesOf(names: readonly string[]): { sequences: Sequence[]; loose: number } {
  const groups = new Map<string, number[]>();
  let loose = 0;
  for (const name of names) {
    const match = FRAME.exec(name);
    if (match === null) {
      loose++;
      continue;
    }
    const key = `${match[1]}${"#".repeat(match[2]!.length)}${match[3]}`;
    let frames = groups.get(key);
    if (frames === undefined) groups.set(key, frames = []);
    frames.push(Number(match[2]));
  }
  const sequences: Sequence[] = [];
  for (const [pattern, frames] of groups) {
    if (frames.length < 2) {
      loose += frames.length;
      continue;
    }
    sequences.push({ pattern, frames: frames.sort((a, b) => a - b) });
  }
  return { sequences, loose };
}

/** The frame numbers missing between a sequence's first and last frame, as ranges. */
export function missingFrames(frames: readonly number[]): string {
  const have = new Set(frames);
  const out: string[] = [];
  const first = frames[0]!;
  const last = frames[frames.length - 1]!;
  for (let f = first; f <= last; f++) {
    if (have.has(f)) continue;
    let end = f;
    while (end + 1 <= last && !have.has(end + 1)) end++;
    out.push(end === f ? `${f}` : `${f}-${end}`);
    f = end;
  }
  return out.join(", ");
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function verdictOf(data: ReportData): { text: string; ok: boolean } {
  const t = data.result.totals;
  if (data.cancelled) return { text: "Cancelled: the delivery is incomplete", ok: false };
  if (t.filesFailed > 0) {
    return { text: `Incomplete: ${t.filesFailed} of ${t.files} files failed`, ok: false };
  }
  const hashed = data.files.filter((f) => f.hash !== undefined);
  const verified = hashed.filter((f) => f.hash!.verified).length;
  const how = verified > 0 && verified === hashed.length
    ? "every copy read back and matched its source's digest"
    : hashed.length > 0
    ? "digests of every source recorded"
    : "sizes checked";
  return { text: `Complete: ${t.files} files delivered (${how})`, ok: true };
}

function verificationOf(files: readonly FileResult[]): string {
  const done = files.filter((f) => f.status === "copied" || f.status === "moved");
  if (done.length === 0) return "—";
  if (done.every((f) => f.hash?.verified)) return "read back, digests match";
  if (done.every((f) => f.hash !== undefined)) return "source digests";
  return "size";
}

function chart(samples: ReportData["samples"], width = 720, height = 180): string {
  const points: { x: number; y: number }[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const ms = b.elapsedMs - a.elapsedMs;
    if (ms <= 0) continue;
    points.push({ x: b.elapsedMs, y: ((b.bytesDone - a.bytesDone) * 1000) / ms });
  }
  if (points.length < 2) {
    return `<p class="note">The copy was too short to chart its throughput.</p>`;
  }
  const maxX = Math.max(...points.map((p) => p.x));
  const maxY = Math.max(1, ...points.map((p) => p.y));
  const line = points.map((p) =>
    `${((p.x / maxX) * (width - 60) + 50).toFixed(1)},${
      (height - 20 - (p.y / maxY) * (height - 40)).toFixed(1)
    }`
  ).join(" ");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `role="img" aria-label="throughput over time">` +
    `<line x1="50" y1="${height - 20}" x2="${width - 10}" y2="${height - 20}" stroke="#888"/>` +
    `<line x1="50" y1="10" x2="50" y2="${height - 20}" stroke="#888"/>` +
    `<text x="4" y="20" font-size="11">${escape(formatBytes(maxY))}/s</text>` +
    `<text x="${width - 60}" y="${height - 4}" font-size="11">${
      escape(formatDuration(maxX))
    }</text>` +
    `<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="${line}"/></svg>`;
}

/**
 * Renders the HTML report.
 *
 * @param data The batch and its context.
 * @returns A complete HTML document.
 *
 * @example
 * ```ts
 * import { renderHtmlReport } from "./report.ts";
 * import { summarize } from "../lib/transfer/result.ts";
 *
 * const files = [{ src: "/a/f.1001.exr", dst: "/b/f.1001.exr", bytes: 3, status: "copied" as const }];
 * const html = renderHtmlReport({
 *   result: { batchId: "b", operation: "copy", failures: [], totals: summarize(files), elapsedMs: 5,
 *     bytesPerSecond: 600, ok: true },
 *   files, startedAt: new Date(), endedAt: new Date(), host: "render01", samples: [], cancelled: false,
 * });
 * console.log(html.startsWith("<!DOCTYPE html>")); // true
 * ```
 */
export function renderHtmlReport(data: ReportData): string {
  const { result } = data;
  const t = result.totals;
  const byFolder = new Map<string, FileResult[]>();
  for (const file of data.files) {
    const folder = dirname(file.dst);
    let list = byFolder.get(folder);
    if (list === undefined) byFolder.set(folder, list = []);
    list.push(file);
  }
  // Each folder's sequences, found once for the verdict and the table.
  const folders = [...byFolder].sort(([a], [b]) => (a < b ? -1 : 1)).map(([folder, files]) => ({
    folder,
    files,
    ...sequencesOf(files.map((f) => basename(f.dst))),
  }));
  const verdict = verdictOf(data);
  const holes = folders.flatMap((f) => f.sequences).filter((s) => missingFrames(s.frames) !== "")
    .length;
  if (holes > 0) {
    verdict.text += ` — ${holes} frame sequence${holes === 1 ? " has" : "s have"} missing frames`;
  }
  const folderRows = folders.map(({ folder, files, sequences, loose }) => {
    const seq = sequences.map((s) => {
      const missing = missingFrames(s.frames);
      return `${escape(s.pattern)}: ${s.frames[0]}–${s.frames.at(-1)} (${s.frames.length} frames)` +
        (missing === "" ? "" : `, <span class="bad">missing ${escape(missing)}</span>`);
    });
    if (loose > 0) seq.push(formatCount(loose, "other file"));
    const failed = files.filter((f) => f.status === "failed").length;
    return `<tr class="folder"><td>${escape(folder)}</td><td>${seq.join("<br>")}</td>` +
      `<td class="n">${files.length}</td>` +
      `<td class="n">${escape(formatBytes(files.reduce((n, f) => n + f.bytes, 0)))}</td>` +
      `<td>${escape(verificationOf(files))}</td>` +
      `<td class="${failed > 0 ? "bad" : "good"}">${
        failed > 0 ? `${failed} failed` : "ok"
      }</td></tr>`;
  }).join("\n");
  const fileRows = data.files.map((f) =>
    `<tr class="file"><td>${escape(f.dst)}</td><td class="n">${f.bytes}</td>` +
    `<td class="${
      f.status === "failed" || f.status === "cancelled" ? "bad" : "good"
    }">${f.status}</td>` +
    `<td>${
      f.hash === undefined ? "" : `${f.hash.algorithm} <code>${escape(f.hash.digest)}</code>`
    }</td>` +
    `<td>${escape(f.error?.message ?? f.reason ?? "")}</td></tr>`
  ).join("\n");
  const facts: [string, string][] = [
    ["Batch", result.batchId],
    ["Operation", result.operation],
    ["Host", data.host],
    ["Started", data.startedAt.toISOString()],
    ["Ended", data.endedAt.toISOString()],
    [
      "Files",
      `${t.files} (${t.filesDone} ${result.operation === "move" ? "moved" : "copied"}, ` +
      `${t.filesSkipped} skipped, ${t.filesFailed} failed, ${t.filesCancelled} cancelled)`,
    ],
    ["Bytes", `${formatBytes(t.bytesDone)} of ${formatBytes(t.bytesTotal)}`],
    ["Time", `${formatDuration(result.elapsedMs)}, ${formatBytes(result.bytesPerSecond)}/s`],
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ferry delivery report — ${escape(result.batchId)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}.verdict{font-size:1.2em;padding:.6em 1em;border-radius:6px}
.verdict.ok{background:#e6f4ea;color:#137333}.verdict.bad{background:#fce8e6;color:#a50e0e}
table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
.n{text-align:right}.bad{color:#a50e0e}.good{color:#137333}code{font-size:.9em}.note{color:#666}
</style></head><body>
<h1>ferry delivery report</h1>
<p class="verdict ${verdict.ok ? "ok" : "bad"}" id="verdict">${escape(verdict.text)}</p>
<table id="facts">${
    facts.map(([k, v]) => `<tr><th>${k}</th><td>${escape(v)}</td></tr>`).join("")
  }</table>
<h2>Throughput</h2>
${chart(data.samples)}
<h2>Folders</h2>
<table id="folders"><tr><th>Folder</th><th>Contents</th><th>Files</th><th>Size</th><th>Verification</th><th>Result</th></tr>
${folderRows}
</table>
<h2>Files</h2>
<table id="files"><tr><th>Destination</th><th>Bytes</th><th>Status</th><th>Digest</th><th>Note</th></tr>
${fileRows}
</table>
<p class="note">Written by ferry. Digests are of the sources, as xxhsum, md5sum and sha1sum print them.</p>
</body></html>
`;
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Renders the per-file table as CSV (a header, then a row per file).
 *
 * @param data The batch and its context.
 * @returns The CSV text.
 *
 * @example
 * ```ts
 * import { renderCsvReport } from "./report.ts";
 * import { summarize } from "../lib/transfer/result.ts";
 *
 * const files = [{ src: "/a/x", dst: "/b/x", bytes: 3, status: "copied" as const }];
 * console.log(renderCsvReport({
 *   result: { batchId: "b", operation: "copy", failures: [], totals: summarize(files), elapsedMs: 5,
 *     bytesPerSecond: 600, ok: true },
 *   files, startedAt: new Date(), endedAt: new Date(), host: "h", samples: [], cancelled: false,
 * }).split("\n")[0]); // batch_id,src,dst,bytes,status,algorithm,digest,verified,note
 * ```
 */
export function renderCsvReport(data: ReportData): string {
  const header = "batch_id,src,dst,bytes,status,algorithm,digest,verified,note";
  const rows = data.files.map((f) =>
    [
      data.result.batchId,
      f.src,
      f.dst,
      String(f.bytes),
      f.status,
      f.hash?.algorithm ?? "",
      f.hash?.digest ?? "",
      f.hash === undefined ? "" : String(f.hash.verified),
      f.error?.message ?? f.reason ?? "",
    ].map(csvField).join(",")
  );
  return [header, ...rows].join("\n") + "\n";
}
