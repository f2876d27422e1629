/**
 * The CLI's output side: turns engine events into the live progress line on
 * a terminal, a plain line every few seconds elsewhere, `--json` lines on
 * stdout and the end summary. Used only by `cli.ts`.
 *
 * @module
 */

import type { ConcurrencyChange, Progress, StartInfo } from "../lib/transfer/progress.ts";
import {
  concurrencyEvent,
  fileEvent,
  progressEvent,
  progressLine,
  startEvent,
  summaryEvent,
  summaryLines,
} from "./render.ts";
import type { FileResult, TransferResult } from "../lib/transfer/result.ts";
import { FolderSequences, type SequenceTally } from "./sequence_tally.ts";
import { basename } from "node:path";

/** How the reporter writes. */
export interface ReporterOptions {
  /** Emit JSON lines on stdout. */
  json: boolean;
  /** No progress and no summary, only failures. */
  quiet: boolean;
}

/** No live line for copies that finish sooner than this. */
const LIVE_AFTER_MS = 1000;
/** Interval of the plain progress line when stderr is not a terminal. */
const PLAIN_EVERY_MS = 5000;
/** Interval of `progress` events with `--json`. */
const JSON_EVERY_MS = 500;

const encoder = new TextEncoder();

/** The version of the `--json` event format, in every event as `"v"`; it grows when a field changes meaning. */
export const JSON_VERSION = 1;

/**
 * One event as a JSON line, the format's version first.
 *
 * @param event The event's fields, `event` first.
 * @returns The line, without its newline.
 *
 * @example
 * ```ts
 * import { jsonLine } from "./reporter.ts";
 *
 * console.log(jsonLine({ event: "hash", digest: "ef46db3751d8e999" })); // {"v":1,"event":"hash",...}
 * ```
 */
export function jsonLine(event: Record<string, unknown>): string {
  return JSON.stringify({ v: JSON_VERSION, ...event });
}

/**
 * Renders one batch for the CLI.
 *
 * @example
 * ```ts
 * import { Reporter } from "./reporter.ts";
 *
 * const reporter = new Reporter({ json: true, quiet: true });
 * reporter.message("ferry: nothing to do");
 * ```
 */
export class Reporter {
  #json: boolean;
  #quiet: boolean;
  #tty: boolean;
  #color: boolean;
  #lineShown = false;
  #lastPlainMs = 0;
  /** When the last `progress` event went out: of the batch (key 0), or of an offload's destination. */
  #lastJsonMs = new Map<number, number>();
  #stdoutClosed = false;
  /**
   * Called once when stdout's reader has gone away (`ferry … | head`), so
   * that the CLI can stop the work quietly instead of dying on the write.
   */
  onStdoutClosed: (() => void) | undefined;

  /**
   * Creates a reporter for the current process's stdout and stderr.
   *
   * @param options JSON and quiet switches.
   */
  constructor(options: ReporterOptions) {
    this.#json = options.json;
    this.#quiet = options.quiet;
    this.#tty = Deno.stderr.isTerminal();
    this.#color = this.#tty && !Deno.noColor;
  }

  /**
   * The plan is ready.
   *
   * @param info The plan totals.
   */
  start(info: StartInfo): void {
    this.#stdout(startEvent(info));
  }

  /**
   * A progress snapshot from the engine.
   *
   * @param p The snapshot.
   */
  progress(p: Progress): void {
    if (this.#progressDue(0, p)) this.#stdout(progressEvent(p));
    if (this.#quiet || p.elapsedMs < LIVE_AFTER_MS) return;
    if (this.#tty) {
      const width = consoleWidth();
      this.#stderr(`\r\x1b[2K${progressLine(p, width, this.#label)}`);
      this.#lineShown = true;
    } else if (p.elapsedMs - this.#lastPlainMs >= PLAIN_EVERY_MS) {
      this.#lastPlainMs = p.elapsedMs;
      this.#stderr(`ferry: ${progressLine(p, 200, this.#label)}\n`);
    }
  }

  /**
   * One file finished.
   *
   * @param file Its result.
   */
  file(file: FileResult): void {
    this.sequences?.file(file);
    if (this.sequences === undefined && file.status !== "cancelled" && this.#gapsShown) {
      this.#folders.add(file.dst);
    }
    // An event object per file only where it is written (100 000 files: 100 000 objects).
    if (this.#json || this.#log !== undefined) this.#stdout(fileEvent(file));
    if (this.verbose) {
      const why = file.status === "failed" || file.reason === undefined ? "" : ` (${file.reason})`;
      const where = file.status === "skipped" || file.status === "cancelled"
        ? file.dst
        : `${file.src} -> ${file.dst}`;
      this.message(
        file.status === "failed"
          ? `failed    ${file.error?.message ?? file.reason}`
          : `${file.status.padEnd(9)} ${where}${why}`,
      );
    }
  }

  /**
   * One destination's progress in an offload: its `progress` event (with
   * `destination`, from 1) with `--json` and in the `--log` file, at most
   * every 500 ms for each destination. The live line is the caller's.
   *
   * @param destination The destination's number, from 1.
   * @param p Its batch's snapshot.
   */
  destinationProgress(destination: number, p: Progress): void {
    if (this.#progressDue(destination, p)) this.#stdout({ ...progressEvent(p), destination });
  }

  /**
   * Whether a `progress` event is wanted (`--json` or `--log`) and due: the
   * last of the same batch (`key`) went out at least 500 ms of its time ago.
   */
  #progressDue(key: number, p: Progress): boolean {
    if (!this.#json && this.#log === undefined) return false;
    if (p.elapsedMs - (this.#lastJsonMs.get(key) ?? -Infinity) < JSON_EVERY_MS) return false;
    this.#lastJsonMs.set(key, p.elapsedMs);
    return true;
  }

  /**
   * Adaptive concurrency changed the streams: an event with `--json`, a line with `-v`.
   *
   * @param change The change and why.
   * @param destination In an offload, the destination whose batch changed, from 1.
   */
  concurrency(change: ConcurrencyChange, destination?: number): void {
    this.#stdout({
      ...concurrencyEvent(change, performance.now() - this.#startedMs),
      ...(destination === undefined ? {} : { destination }),
    });
    if (this.verbose) {
      this.message(
        `${
          destination === undefined ? "" : `destination ${destination}: `
        }concurrency ${change.from} -> ${change.streams} streams (${change.reason})`,
      );
    }
  }

  /** `-v`: a line per file as it finishes, on stderr. */
  verbose = false;

  #lastStatusMs = 0;
  #startedMs = performance.now();

  /**
   * A live status line on a terminal (for `ferry hash` and `ferry verify`):
   * drawn at most ten times a second and only after the first second, then
   * cleared by the next output line.
   *
   * @param text The status, e.g. `verified 120 files`.
   */
  status(text: string): void {
    if (!this.#tty || this.#quiet) return;
    const now = performance.now();
    if (now - this.#startedMs < LIVE_AFTER_MS || now - this.#lastStatusMs < 100) return;
    this.#lastStatusMs = now;
    this.#stderr(`\r\x1b[2K${text.slice(0, consoleWidth() - 1)}`);
    this.#lineShown = true;
  }

  /** `--progress`: draw the live line even when stderr is not a terminal. */
  forceLive(): void {
    this.#tty = true;
  }

  #log: Deno.FsFile | undefined;

  /**
   * Also writes every `--json` event, as a JSON line, to a file (`--log FILE`).
   *
   * @param path The log file (appended to).
   */
  logTo(path: string): void {
    this.#log = Deno.openSync(path, { write: true, create: true, append: true });
  }

  #logOnly(event: Record<string, unknown>): void {
    if (this.#log === undefined) return;
    writeAll(this.#log, encoder.encode(jsonLine(event) + "\n"));
  }

  /**
   * The batch is over.
   *
   * @param result The result.
   * @param exitCode The exit code the CLI returns.
   * @param cancelled Whether it was cancelled.
   */
  finish(result: TransferResult, exitCode: number, cancelled: boolean): void {
    this.clearLine();
    const tally = this.sequences;
    const summary = summaryEvent(result, exitCode);
    const gaps = tally === undefined ? this.#folders.gaps() : [];
    this.#stdout(
      tally !== undefined ? { ...summary, sequences: tally.events() } : gaps.length > 0
        ? {
          ...summary,
          sequence_gaps: gaps.map((g) => ({
            pattern: g.pattern,
            frames: g.frames.toString(),
            missing: g.missing.toString(),
          })),
        }
        : summary,
    );
    // A sequence's failed frames are said once, collapsed, not frame by frame.
    const shown = tally === undefined
      ? result
      : { ...result, failures: result.failures.filter((f) => !tally.covers(f.src)) };
    const [head, ...failures] = summaryLines(shown, cancelled);
    if (!this.#quiet && head !== undefined) this.#stderr(this.#paint(head, exitCode) + "\n");
    for (const line of tally?.lines(result.operation === "move" ? "moved" : "copied") ?? []) {
      const failed = line.startsWith("  failed:");
      if (failed || !this.#quiet) this.#stderr(this.#paint(line, failed ? 1 : exitCode) + "\n");
    }
    for (const line of failures) this.#stderr(this.#paint(line, 1) + "\n");
    if (this.#quiet) return;
    for (const g of gaps) {
      this.#stderr(
        `  sequence ${g.pattern} ${g.frames.first}-${g.frames.last}: ${g.frames.size} frames; ` +
          `missing ${g.missing}\n`,
      );
    }
  }

  /**
   * Whether the summary's sequence gaps are seen anywhere: on stderr (not
   * `--quiet`), in `--json` or in the log. Where they are not, the names are
   * not kept (100 000 files: ~0.1 s and their names' memory).
   */
  get #gapsShown(): boolean {
    return !this.#quiet || this.#json || this.#log !== undefined;
  }

  /** Names of the files a copy of folders delivered, for the gaps of its sequences. */
  #folders = new FolderSequences();

  /** The batch's frame sequences (`ferry copy 'sh010.####.exr' …`), shown as sequences. */
  sequences: SequenceTally | undefined;

  #label = (path: string): string => this.sequences?.label(path) ?? basename(path);

  /**
   * An informational line on stderr that `--quiet` silences (a summary).
   *
   * @param text The line.
   */
  note(text: string): void {
    if (!this.#quiet) this.message(text);
  }

  /**
   * A message on stderr (with the live line cleared first).
   *
   * @param text The message.
   */
  message(text: string): void {
    this.clearLine();
    this.#stderr(text + "\n");
  }

  /**
   * An error that ends the run before or outside the batch.
   *
   * @param text The message.
   * @param exitCode The exit code.
   */
  error(text: string, exitCode: number): void {
    this.clearLine();
    this.#stdout({ event: "error", exit_code: exitCode, error: text });
    this.#stderr(this.#paint(`ferry: error: ${text}`, 1) + "\n");
  }

  /** Removes the live line, if one is shown. */
  clearLine(): void {
    if (this.#lineShown) this.#stderr("\r\x1b[2K");
    this.#lineShown = false;
  }

  #paint(text: string, exitCode: number): string {
    if (!this.#color || exitCode === 0) return text;
    return `\x1b[31m${text}\x1b[39m`;
  }

  /** Whether stdout's reader has gone away. */
  get stdoutClosed(): boolean {
    return this.#stdoutClosed;
  }

  /**
   * A line of output on stdout (a checksum, a check, a plan line). Nothing is
   * written once stdout's reader has gone away.
   *
   * @param text The line, without its newline.
   */
  line(text: string): void {
    if (this.#stdoutClosed) return;
    this.clearLine();
    try {
      writeAll(Deno.stdout, encoder.encode(text + "\n"));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      this.#stdoutClosed = true;
      this.onStdoutClosed?.();
    }
  }

  /**
   * One `--json` event on stdout, with the format's version first (`"v": 1`).
   *
   * @param event The event's fields, `event` first.
   */
  event(event: Record<string, unknown>): void {
    this.line(jsonLine(event));
  }

  /** An engine event: on stdout with `--json`, and in the `--log` file either way. */
  #stdout(event: Record<string, unknown>): void {
    if (this.#json) this.event(event);
    this.#logOnly(event);
  }

  #stderr(text: string): void {
    try {
      writeAll(Deno.stderr, encoder.encode(text));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error; // nobody reads stderr: go on
    }
  }
}

function consoleWidth(): number {
  try {
    // A terminal that does not know its size (0 columns) gets the classic 80.
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

function writeAll(out: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += out.writeSync(bytes.subarray(at));
}
