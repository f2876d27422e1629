/**
 * The `ferry` command behind `cli.ts`: parses arguments, builds mappings and
 * options, runs the engine, renders progress, and maps the outcome to an exit
 * code (0 success · 1 some files failed · 2 usage or input error, nothing
 * touched · 130 cancelled, temporary files removed).
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Batch, parseBatch } from "../lib/batch_json.ts";
import { CancelledError, describeError, InputError } from "../lib/errors.ts";
import {
  DEFAULT_CUTOFF_BYTES,
  DEFAULT_FILE_WORKERS,
  DEFAULT_MAX_WORKERS,
  FILE_WORKERS_LIMIT,
  type Mapping,
  MAX_BUFFER_BYTES,
  MAX_WORKERS_LIMIT,
  MIB,
  planTransfer,
  type TransferPlan,
} from "../lib/plan/plan.ts";
import { jsonLine, Reporter } from "./reporter.ts";
import type { TransferResult } from "../lib/transfer/result.ts";
import { formatBytes, formatCount } from "../lib/size.ts";
import { parseSize } from "../lib/size.ts";
import {
  applyMappings,
  DEFAULT_BUFFER_BYTES,
  DEFAULT_SMALL_FILE_WORKERS,
  planOptionsFor,
  type TransferOptions,
} from "../lib/transfer/batch.ts";
import { VERSION } from "../lib/version.ts";
import type { FileCheck, VerifyOptions } from "../lib/integrity/verify.ts";
import type { ReportData } from "./report.ts";
import { hostName } from "../lib/host.ts";
import { MhlError } from "../lib/integrity/mhl/mhl_error.ts";
import { HASH_ALGORITHMS, type HashAlgorithm } from "../lib/integrity/hash.ts";

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

const HELP = `ferry ${VERSION} — copy big media fast, and never lie about the result

Usage:
  ferry copy SRC... DST      copy files and directory trees (like cp -r)
  ferry move SRC... DST      move them (rename on the same file system)
  ferry apply [FILE|-]       run a JSON batch in the format of the copy tool
                             ferry replaces (from FILE, or stdin when FILE is
                             - or missing)
  ferry demo                 generate a sample shot in a temporary directory,
                             copy it with live progress, print the throughput
  ferry hash PATH...         print checksums as xxhsum/md5sum/sha1sum do
                             (check them with xxhsum -c)
  ferry verify DIR           re-hash DIR against its whole ASC MHL history
                             (each file against its first recorded hash),
                             report ok/mismatch/missing/new/unreadable, and
                             record the check (--no-record: do not)
  ferry verify DIR --against OTHER
                             compare two trees by hash (no MHL)

  A directory copied into an existing directory goes inside it; several
  sources need an existing directory as DST.

Options:
  -w, --workers N        chunk workers: byte ranges copied at once (default ${DEFAULT_MAX_WORKERS})
  -j, --file-workers N   large (chunked) files in flight at once (default ${DEFAULT_FILE_WORKERS})
      --small-file-workers N
                         small files (below the cutoff) in flight (default ${DEFAULT_SMALL_FILE_WORKERS})
      --chunk-size SIZE  fixed chunk size, e.g. 16MiB (default: from file size, 1-64 MiB)
      --cutoff SIZE      split files of this size or larger (default ${
  DEFAULT_CUTOFF_BYTES / MIB
}MiB)
      --buffer-size SIZE each worker's copy buffer (default ${DEFAULT_BUFFER_BYTES / MIB}MiB)
      --offload MODE     auto|never|always: let the kernel copy (copy_file_range:
                         reflinks, server-side copies); auto uses it when run
                         with --allow-ffi on Linux and falls back by itself
      --verify MODE      size (default): size check before publishing;
                         source: hash the source in flight, hash the written
                         copy, publish only when they match
      --hash ALG         xxh64 (default), xxh3, xxh128, md5, sha1 or c4
      --mhl              write an ASC MHL manifest into each destination root
      --no-record        ferry verify: check only, append no generation
      --no-space-check   copy even when the destination's free space is less
                         than the batch writes (the check needs
                         --allow-sys=statfs)
      --fsync            flush each copy and its directory to storage before
                         it counts as done (survives a power cut; slower on
                         local disks)

  Existing destination files: one with the source's size and modification
  time is already there and is left alone (a move only removes its source);
  one that differs is left alone and reported (exit 1), unless
      --overwrite        replace destination files that differ
      --update           replace them only when the source is newer (cp -u,
                         rsync -u): a newer destination is never replaced
  -c, --checksum         compare the bytes of existing destinations (not
                         size and time); replace those that differ
      --skip-existing    leave every existing destination file alone, quietly

  -n, --dry-run          print the plan (files, chunks, bytes) and touch nothing
      --json             JSON lines on stdout: start, progress, file, summary
  -q, --quiet            no progress and no summary; failures are still printed
      --batch-id ID      an id echoed in the JSON events
      --log FILE         append the --json events to FILE (also without --json)
      --report FILE      write a delivery report: FILE.html (one self-contained
                         page: verdict, folders and frame sequences with any
                         missing frames, every file with its digest, a
                         throughput chart) or FILE.csv (a row per file)
  -v, --verbose          a line per file on stderr as it finishes
      --progress         draw the live progress bar even when stderr is not a
                         terminal (it is drawn on a terminal for copies that
                         take more than a second)
  -r, --recursive        accepted for cp's sake: folders are always copied whole
  -a, --archive          also keep owner and group (as root), as cp -a does;
                         modes and modification times (of folders too) are
                         always kept
  -h, --help             this help
  -V, --version          the version

Exit codes: 0 all done · 1 some files failed · 2 usage or input error (nothing
touched) · 130 cancelled (temporary files removed).`;

/** What a bare `ferry` prints. */
const USAGE = `ferry ${VERSION} — copy big media fast, and never lie about the result

  ferry copy SRC... DST    ferry move SRC... DST    ferry apply [FILE|-]
  ferry verify DIR         ferry hash PATH...       ferry demo

Run 'ferry help COMMAND' (or 'ferry COMMAND --help') for one command,
'ferry --help' for everything.`;

/** Each command's help, with examples. */
const COMMAND_HELP: Record<string, string> = {
  copy: `ferry copy [OPTIONS] SRC... DST — copy files and folder trees (like cp -r)

  A source copied into an existing folder goes inside it; several sources
  need an existing folder. 'SRC/' (a folder with a trailing slash) means its
  contents, as rsync reads it: the copy of SRC is DST itself. -T: DST is the
  path the copy gets, whatever is there (cp -T). A DST that ends in '/' is a
  folder (made if missing). Existing identical files are skipped, so a rerun
  finishes an interrupted copy; differing ones are reported (exit 1).

Examples:
  ferry copy plates/sh010 /mnt/show/plates/          # → /mnt/show/plates/sh010
  ferry copy -T plates/sh010 /mnt/show/sh010_plates   # exactly that path
  ferry copy --verify source --mhl /mnt/card/A001 /mnt/raid/dailies/
  ferry copy --update renders/ /mnt/show/renders      # newer sources only

Options: see 'ferry --help' (workers, verification, ASC MHL, existing files).`,
  move: `ferry move [OPTIONS] SRC... DST — move files and folder trees

  A rename on one file system; across file systems each file is copied,
  verified and published, and only then its source is removed. Destinations
  are named as for 'ferry copy'. A move rerun after a crash finishes it.

Examples:
  ferry move render/v003 /mnt/archive/
  ferry move --verify source /mnt/scratch/sh010 /mnt/show/sh010/`,
  apply: `ferry apply [OPTIONS] [FILE|-] — run a JSON batch

  Reads {"mappings": [{"src", "dst"}], "operation_type": "copy"|"move",
  "max_workers", "file_workers", "batch_id"} from FILE, or stdin when FILE
  is - or missing (at most 256 MiB). 'dst' is the path the copy of 'src'
  gets. Options on the command line override the batch's.

Examples:
  ferry apply batch.json --json
  echo '{"mappings":[{"src":"/a","dst":"/b"}]}' | ferry apply -`,
  verify: `ferry verify [--no-record] [--hash ALG] DIR — check a delivery
ferry verify DIR --against OTHER — compare two trees by hash

  Re-hashes DIR against its whole ASC MHL history (each file against the hash
  first recorded for it), reports OK, MISMATCH, MISSING, NEW or UNREADABLE per
  file, and records the check as a new generation (--no-record: do not).
  Exit 0 when everything matches, 1 otherwise, 2 for a history it cannot trust.

Examples:
  ferry verify /mnt/show/dailies/A001
  ferry verify /mnt/show/dailies/A001 --against /mnt/card/A001`,
  hash: `ferry hash [--hash ALG] PATH... — print checksums

  Prints lines that xxhsum -c, md5sum -c or sha1sum -c check (xxh64 by
  default; xxh3, xxh128, md5, sha1, c4). Folders are walked.

Examples:
  ferry hash --hash xxh128 plates/ > plates.xxh && xxhsum -c plates.xxh`,
  demo: `ferry demo [OPTIONS] — generate a sample shot in a temporary folder, copy it
with live progress, print the throughput, remove it.`,
};

/** A usage error: the CLI prints it with a hint and exits with code 2. */
class UsageError extends Error {
  readonly exitCode = EXIT.usage;
}

interface Parsed {
  command: string;
  operands: string[];
  options: TransferOptions;
  against: string | undefined;
  record: boolean;
  noTarget: boolean;
  verbose: boolean;
  progress: boolean;
  log: string | undefined;
  report: string | undefined;
  dryRun: boolean;
  json: boolean;
  quiet: boolean;
}

/** What the arguments ask for besides a command: help (of one command, or all), the version, usage. */
type Info = { help: string | undefined } | "version" | "usage";

function parse(args: string[]): Parsed | Info {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        workers: { type: "string", short: "w" },
        "file-workers": { type: "string", short: "j" },
        "small-file-workers": { type: "string" },
        "chunk-size": { type: "string" },
        cutoff: { type: "string" },
        "buffer-size": { type: "string" },
        offload: { type: "string" },
        verify: { type: "string" },
        hash: { type: "string" },
        mhl: { type: "boolean" },
        fsync: { type: "boolean" },
        against: { type: "string" },
        "no-record": { type: "boolean" },
        "no-space-check": { type: "boolean" },
        "no-target-directory": { type: "boolean", short: "T" },
        verbose: { type: "boolean", short: "v" },
        recursive: { type: "boolean", short: "r" },
        log: { type: "string" },
        progress: { type: "boolean" },
        archive: { type: "boolean", short: "a" },
        report: { type: "string" },
        overwrite: { type: "boolean" },
        "skip-existing": { type: "boolean" },
        update: { type: "boolean" },
        checksum: { type: "boolean", short: "c" },
        "dry-run": { type: "boolean", short: "n" },
        json: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        "batch-id": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    }));
  } catch (error) {
    const message = (error as Error).message;
    // `--workers -1`: node's parser takes "-1" for an option; say what is wrong with the value.
    const given = /argument for '(-{1,2}[\w-]+)'/.exec(message)?.[1];
    const at = given === undefined ? -1 : args.indexOf(given);
    const value = args[at + 1];
    if (/argument is ambiguous/.test(message) && at !== -1 && value !== undefined) {
      const flag = LONG_NAMES[given!] ?? given!;
      const limit = COUNT_LIMITS[flag];
      if (limit !== undefined) count(flag, value, limit); // throws, saying what is expected
      throw new UsageError(`Invalid value for ${flag}: '${value}'`);
    }
    throw new UsageError(message.replace(/\.?\s*Did you forget[\s\S]*$|\. To specify[\s\S]*$/, ""));
  }
  const [command = "", ...operands] = positionals;
  if (values.version || command === "version") return "version";
  if (command === "help") return { help: operands[0] };
  if (values.help) return { help: command === "" ? undefined : command };
  if (command === "") return "usage";
  if (!(command in COMMAND_OPTIONS)) throw new UsageError(`Unknown command '${command}'`);
  const allowed = COMMAND_OPTIONS[command]!;
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || allowed.has(name) || name === "help" || name === "version") continue;
    const owners = Object.keys(COMMAND_OPTIONS).filter((c) => COMMAND_OPTIONS[c]!.has(name));
    throw new UsageError(
      `--${name} is not an option of 'ferry ${command}' (it goes with ${
        owners.map((c) => `'ferry ${c}'`).join(", ")
      })`,
    );
  }
  if (
    [values.overwrite, values["skip-existing"], values.update, values.checksum]
      .filter(Boolean).length > 1
  ) {
    throw new UsageError(
      "--overwrite, --skip-existing, --update and --checksum exclude each other",
    );
  }
  const options: TransferOptions = {};
  if (values.workers !== undefined) {
    options.maxWorkers = count("--workers", values.workers, MAX_WORKERS_LIMIT);
  }
  if (values["file-workers"] !== undefined) {
    options.fileWorkers = count("--file-workers", values["file-workers"], FILE_WORKERS_LIMIT);
  }
  if (values["small-file-workers"] !== undefined) {
    options.smallFileWorkers = count(
      "--small-file-workers",
      values["small-file-workers"],
      FILE_WORKERS_LIMIT,
    );
  }
  if (values["chunk-size"] !== undefined) {
    options.chunkBytes = size("--chunk-size", values["chunk-size"], 64 * 1024);
  }
  if (values.cutoff !== undefined) options.cutoffBytes = size("--cutoff", values.cutoff, 0);
  if (values["buffer-size"] !== undefined) {
    options.bufferBytes = size("--buffer-size", values["buffer-size"], 4096, MAX_BUFFER_BYTES);
  }
  if (values.offload !== undefined) {
    if (!["auto", "never", "always"].includes(values.offload)) {
      throw new UsageError(
        `Invalid value for --offload: '${values.offload}' (expected auto, never or always)`,
      );
    }
    options.offload = values.offload as "auto" | "never" | "always";
  }
  if (values.verify !== undefined) {
    if (values.verify !== "size" && values.verify !== "source") {
      throw new UsageError(
        `Invalid value for --verify: '${values.verify}' (expected size or source)`,
      );
    }
    options.verify = values.verify;
  }
  if (values.hash !== undefined) {
    if (!HASH_ALGORITHMS.includes(values.hash as HashAlgorithm)) {
      throw new UsageError(
        `Invalid value for --hash: '${values.hash}' (expected ${HASH_ALGORITHMS.join(", ")})`,
      );
    }
    options.hash = values.hash as HashAlgorithm;
  }
  if (values.mhl) options.mhl = true;
  if (values.fsync) options.fsync = true;
  if (values["no-space-check"]) options.spaceCheck = false;
  if (values.archive) options.preserveOwner = true;
  if (values.overwrite) options.existing = "overwrite";
  if (values["skip-existing"]) options.existing = "skip";
  if (values.update) options.existing = "update";
  if (values.checksum) options.existing = "checksum";
  if (values["batch-id"] !== undefined) options.batchId = values["batch-id"];
  return {
    command,
    operands,
    options,
    against: values.against,
    record: !(values["no-record"] ?? false),
    noTarget: values["no-target-directory"] ?? false,
    verbose: values.verbose ?? false,
    progress: values.progress ?? false,
    report: values.report,
    log: values.log,
    dryRun: values["dry-run"] ?? false,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
}

/** The options of a copy, a move, a batch and the demo. */
const TRANSFER_OPTIONS = [
  "workers",
  "file-workers",
  "small-file-workers",
  "chunk-size",
  "cutoff",
  "buffer-size",
  "offload",
  "verify",
  "hash",
  "mhl",
  "fsync",
  "no-space-check",
  "overwrite",
  "skip-existing",
  "update",
  "checksum",
  "dry-run",
  "json",
  "quiet",
  "batch-id",
  "verbose",
  "recursive",
  "log",
  "progress",
  "archive",
  "report",
];

/** Which options each command takes: any other is a usage error, never silently ignored. */
const COMMAND_OPTIONS: Record<string, Set<string>> = {
  copy: new Set([...TRANSFER_OPTIONS, "no-target-directory"]),
  move: new Set([...TRANSFER_OPTIONS, "no-target-directory"]),
  apply: new Set(TRANSFER_OPTIONS),
  demo: new Set(TRANSFER_OPTIONS),
  hash: new Set(["hash", "json", "quiet"]),
  verify: new Set(["against", "no-record", "hash", "json", "quiet"]),
};

/** The long names of the short options. */
const LONG_NAMES: Record<string, string> = { "-w": "--workers", "-j": "--file-workers" };

/** The options that take a count, and their largest value. */
const COUNT_LIMITS: Record<string, number> = {
  "--workers": MAX_WORKERS_LIMIT,
  "--file-workers": FILE_WORKERS_LIMIT,
  "--small-file-workers": FILE_WORKERS_LIMIT,
};

function count(flag: string, text: string, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max) {
    throw new UsageError(
      `Invalid value for ${flag}: '${text}' (expected a whole number from 1 to ${max})`,
    );
  }
  return value;
}

function size(flag: string, text: string, min: number, max = Infinity): number {
  let value: number;
  try {
    value = parseSize(text);
  } catch (error) {
    throw new UsageError(`Invalid value for ${flag}: ${(error as Error).message}`);
  }
  if (value < min) {
    throw new UsageError(
      `Invalid value for ${flag}: '${text}' is below the minimum of ${formatBytes(min)}`,
    );
  }
  if (value > max) {
    throw new UsageError(
      `Invalid value for ${flag}: '${text}' is above the maximum of ${formatBytes(max)}`,
    );
  }
  return value;
}

/** cp semantics: into an existing directory, or onto the named path. */
async function cpMappings(operands: string[], noTarget: boolean): Promise<Mapping[]> {
  if (operands.length < 2) {
    throw new UsageError(
      operands.length === 0
        ? "Missing source and destination"
        : `Missing destination after '${operands[0]}'`,
    );
  }
  const target = operands[operands.length - 1]!;
  const sources = operands.slice(0, -1);
  const info = await Deno.stat(target).catch(() => null);
  if (noTarget) {
    // cp -T: the destination is the path the copy gets, whatever is there.
    if (sources.length > 1) throw new UsageError("-T takes one source and its destination");
    return [{ src: sources[0]!, dst: target }];
  }
  if (target.endsWith("/") && info !== null && !info.isDirectory) {
    throw new InputError(`Destination '${target}' is not a directory (it ends with '/')`, {
      path: target,
    });
  }
  // A destination named with a trailing '/' is a folder: made if missing.
  const intoFolder = info?.isDirectory === true || target.endsWith("/");
  const mappings: Mapping[] = [];
  for (const src of sources) {
    // rsync's rule: 'SRC/' of a folder means its contents, so the copy of SRC is the target itself.
    const contents = /\/$/.test(src) &&
      await Deno.stat(src).then((i) => i.isDirectory, () => false);
    if (contents) mappings.push({ src, dst: target });
    else if (intoFolder) mappings.push({ src, dst: join(target, basename(resolve(src))) });
    else if (sources.length > 1) {
      throw new InputError(
        `Target '${target}' is not an existing directory (several sources need one as destination)`,
        { path: target },
      );
    } else mappings.push({ src, dst: target });
  }
  return mappings;
}

/** The largest JSON batch `apply` reads: about a million mappings. */
export const MAX_BATCH_BYTES = 256 * MIB;

/** Reads at most `limit + 1` bytes of a stream, so that an endless one cannot fill memory. */
async function readLimited(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of stream) {
    parts.push(part);
    total += part.length;
    if (total > limit) break;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function readBatch(operands: string[]): Promise<Batch> {
  if (operands.length > 1) throw new UsageError("apply takes one batch file (or - for stdin)");
  const file = operands[0] ?? "-";
  const what = file === "-" ? "the batch on stdin" : `batch file '${file}'`;
  let bytes: Uint8Array;
  try {
    if (file === "-") bytes = await readLimited(Deno.stdin.readable, MAX_BATCH_BYTES);
    else {
      const info = await Deno.stat(file);
      if (!info.isFile) {
        throw new InputError(
          `Cannot read batch file '${file}': not a regular file (give a JSON file, or - for stdin)`,
          { path: file },
        );
      }
      const handle = await Deno.open(file, { read: true });
      try {
        bytes = await readLimited(handle.readable, MAX_BATCH_BYTES);
      } finally {
        try {
          handle.close();
        } catch {
          // its stream closed it at the end
        }
      }
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot read ${what}: ${describeError(error)}`, {
      path: file,
      cause: error,
    });
  }
  if (bytes.length > MAX_BATCH_BYTES) {
    throw new InputError(
      `Cannot read ${what}: it is larger than ${
        MAX_BATCH_BYTES / MIB
      } MiB, the most a batch may be`,
      { path: file },
    );
  }
  return parseBatch(new TextDecoder().decode(bytes), what);
}

function printPlan(plan: TransferPlan, reporter: Reporter, json: boolean): number {
  const out: string[] = [];
  let failing = 0;
  for (const file of plan.files) {
    if (file.action === "fail") failing++;
    if (json) {
      out.push(jsonLine({
        event: "plan",
        action: file.action,
        src: file.src,
        dst: file.dst,
        bytes: file.size,
        chunks: file.chunks.length,
        ...(file.reason === undefined ? {} : { reason: file.reason }),
      }));
    } else {
      const chunks = file.chunks.length > 0 ? ` in ${file.chunks.length} chunks` : "";
      const why = file.reason === undefined ? "" : ` (${file.reason})`;
      out.push(
        `${file.action.padEnd(8)} ${file.src} -> ${file.dst}  ${
          formatBytes(file.size)
        }${chunks}${why}`,
      );
    }
  }
  if (out.length > 0) reporter.line(out.join("\n"));
  reporter.note(
    `ferry: dry run: ${formatCount(plan.files.length, "file")}, ${formatBytes(plan.bytesTotal)} ` +
      `(${formatBytes(plan.bytesToCopy)} to copy in ${plan.chunksTotal} chunks)` +
      `${failing > 0 ? `, ${failing} would fail` : ""}; nothing was written`,
  );
  return failing > 0 ? EXIT.failed : EXIT.ok;
}

async function runBatch(
  mappings: Mapping[],
  options: TransferOptions,
  parsed: Parsed,
  reporter: Reporter,
  finish?: string[],
): Promise<number> {
  if (parsed.dryRun) {
    const plan = await planTransfer(mappings, planOptionsFor(options));
    return printPlan(plan, reporter, parsed.json);
  }
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
  const interrupts = caught;
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
  let result: TransferResult;
  let code: number;
  let cancelled = false;
  const startedAt = new Date();
  const samples: { elapsedMs: number; bytesDone: number }[] = [{ elapsedMs: 0, bytesDone: 0 }];
  try {
    result = await applyMappings(mappings, {
      ...options,
      signal: cancel.signal,
      killSignal: kill.signal,
      onStart: (info) => reporter.start(info),
      onProgress: (p) => {
        samples.push({ elapsedMs: p.elapsedMs, bytesDone: p.bytesDone });
        reporter.progress(p);
      },
      onFile: (f) => reporter.file(f),
    });
    code = result.ok ? EXIT.ok : EXIT.failed;
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    result = error.result;
    code = EXIT.cancelled;
    cancelled = true;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
    if (interrupts !== undefined) interrupts.onInterrupt = undefined;
  }
  reporter.finish(result, code, cancelled);
  if (parsed.report !== undefined) {
    samples.push({ elapsedMs: result.elapsedMs, bytesDone: result.totals.bytesDone });
    const written = await writeReport(parsed.report, {
      result,
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
  if (cancelled && finish !== undefined && result.totals.filesCancelled > 0) {
    // Complete files stay and are skipped as already there by the rerun.
    reporter.message(`ferry: to finish it, run: ferry ${finish.map(shellQuote).join(" ")}`);
  }
  return code;
}

/** Writes `--report FILE`: HTML, or CSV for a `.csv` name. Returns why it could not, or `null`. */
async function writeReport(path: string, data: ReportData): Promise<string | null> {
  const { renderCsvReport, renderHtmlReport } = await import("./report.ts");
  const text = path.toLowerCase().endsWith(".csv") ? renderCsvReport(data) : renderHtmlReport(data);
  try {
    await Deno.writeTextFile(path, text);
    return null;
  } catch (error) {
    return describeError(error);
  }
}

/**
 * Draws how far `ferry hash` or `ferry verify` has got on a terminal, four
 * times a second: bytes hashed (large files range by range), the rate, and
 * `files()`. Stops when disposed.
 */
function followHashing(
  reporter: Reporter,
  hasher: { readonly bytesHashed: number },
  files: () => string,
): Disposable {
  const started = performance.now();
  const timer = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    const bytes = hasher.bytesHashed;
    reporter.status(
      `ferry: hashed ${formatBytes(bytes)} (${formatBytes(bytes / seconds)}/s), ${files()}`,
    );
  }, 250);
  return {
    [Symbol.dispose]: () => {
      clearInterval(timer);
      reporter.clearLine();
    },
  };
}

/** An argument as a POSIX shell reads it back. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function demo(parsed: Parsed, reporter: Reporter): Promise<number> {
  const { makeSampleShot } = await import("./sample_shot.ts");
  const dir = await Deno.makeTempDir({ prefix: "ferry-demo-" });
  try {
    reporter.message(`ferry: writing a sample shot into ${dir} ...`);
    const shot = await makeSampleShot(dir);
    reporter.message(
      `ferry: copying ${shot.files} files (${
        formatBytes(shot.bytes)
      }): a frame sequence and a movie`,
    );
    return await runBatch(
      [{ src: shot.root, dst: join(dir, "delivery", "sh010") }],
      parsed.options,
      parsed,
      reporter,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function hashCommand(parsed: Parsed, reporter: Reporter): Promise<number> {
  const { checksumLine, DEFAULT_HASH } = await import("../lib/integrity/hash.ts");
  const { DEFAULT_HASH_CONCURRENCY, FileHasher } = await import("../lib/integrity/file_hasher.ts");
  const { forEachLimit } = await import("../lib/concurrency.ts");
  const { listFiles } = await import("../lib/integrity/verify.ts");
  if (parsed.operands.length === 0) {
    throw new UsageError("hash needs at least one file or directory");
  }
  const algorithm = parsed.options.hash ?? DEFAULT_HASH;
  const files: string[] = [];
  let code: number = EXIT.ok;
  for (const path of parsed.operands) {
    const info = await Deno.stat(path).catch((error) => {
      throw new InputError(`Cannot hash '${path}': ${describeError(error)}`, {
        path,
        cause: error,
      });
    });
    if (info.isDirectory) {
      const listed = await listFiles(path, (dir, error) => {
        reporter.message(
          `ferry: cannot hash '${dir}': cannot list the folder: ${describeError(error)}`,
        );
        code = EXIT.failed;
      }).catch((error) => {
        throw new InputError(`Cannot hash '${path}': cannot list it: ${describeError(error)}`, {
          path,
          cause: error,
        });
      });
      files.push(...listed.map((rel) => join(path, rel)));
    } else if (info.isFile) files.push(path);
    else {
      throw new InputError(
        `Cannot hash '${path}': not a regular file (a device, FIFO or socket is never read)`,
        { path },
      );
    }
  }
  // Many files are read at once; lines still come out in the order listed,
  // each as soon as every file before it is done.
  const ready = new Map<number, () => void>();
  let printed = 0;
  await using hasher = new FileHasher();
  using _status = followHashing(reporter, hasher, () => `${printed} of ${files.length} files`);
  await forEachLimit(files, DEFAULT_HASH_CONCURRENCY, async (file, i) => {
    if (reporter.stdoutClosed) return; // `ferry hash … | head`: stop reading
    try {
      const digest = await hasher.hash(file, algorithm);
      ready.set(i, () =>
        reporter.line(
          parsed.json
            ? jsonLine({ event: "hash", path: file, algorithm, digest })
            : checksumLine(algorithm, digest, file),
        ));
    } catch (error) {
      ready.set(i, () => reporter.message(`ferry: cannot hash '${file}': ${describeError(error)}`));
      code = EXIT.failed;
    }
    for (let line = ready.get(printed); line !== undefined; line = ready.get(printed)) {
      line();
      ready.delete(printed++);
    }
  });
  return reporter.stdoutClosed ? EXIT.cancelled : code;
}

async function verifyCommand(parsed: Parsed, reporter: Reporter): Promise<number> {
  const { compareTrees, verifyTree } = await import("../lib/integrity/verify.ts");
  if (parsed.operands.length !== 1) throw new UsageError("verify takes one directory");
  const dir = parsed.operands[0]!;
  for (const path of [dir, ...(parsed.against === undefined ? [] : [parsed.against])]) {
    const info = await Deno.stat(path).catch(() => null);
    if (!info?.isDirectory) {
      throw new InputError(`Cannot verify '${path}': not a directory`, { path });
    }
  }
  // Each file is printed as soon as it is checked: a large delivery takes a while.
  let checked = 0;
  const options: VerifyOptions = {
    onCheck: (file) => {
      checked++;
      if (parsed.json) reporter.event({ event: "verify", ...file });
      else if (file.status !== "ok" || !parsed.quiet) {
        const detail = file.status === "mismatch"
          ? ` (expected ${file.expected}, found ${file.actual})`
          : file.status === "unreadable"
          ? ` (${file.error})`
          : "";
        reporter.line(`${file.status.toUpperCase().padEnd(10)} ${file.path}${detail}`);
      }
    },
  };
  if (parsed.options.hash !== undefined) options.hash = parsed.options.hash;
  if (!parsed.record) options.record = false;
  const { FileHasher } = await import("../lib/integrity/file_hasher.ts");
  await using hasher = new FileHasher();
  options.hasher = hasher;
  using _status = followHashing(reporter, hasher, () => `${checked} files checked`);
  const report: { files: FileCheck[]; generation?: string | null; recordError?: string } =
    parsed.against === undefined
      ? await verifyTree(dir, options)
      : { files: await compareTrees(parsed.against, dir, options) };
  const counts = { ok: 0, mismatch: 0, missing: 0, new: 0, unreadable: 0 };
  for (const file of report.files) counts[file.status]++;
  const bad = counts.mismatch + counts.missing + counts.new + counts.unreadable;
  const code = bad === 0 ? EXIT.ok : EXIT.failed;
  const where = report.recordError !== undefined
    ? `; not recorded (${report.recordError})`
    : typeof report.generation === "string"
    ? `; recorded in ${report.generation}`
    : "";
  if (parsed.json) {
    reporter.event({
      event: "summary",
      ok: bad === 0,
      exit_code: code,
      files_ok: counts.ok,
      files_mismatch: counts.mismatch,
      files_missing: counts.missing,
      files_new: counts.new,
      files_unreadable: counts.unreadable,
    });
  }
  reporter.message(
    `ferry: ${formatCount(report.files.length, "file")}: ` +
      `${counts.ok} ok, ${counts.mismatch} mismatch, ` +
      `${counts.missing} missing, ${counts.new} new, ${counts.unreadable} unreadable${where}`,
  );
  return code;
}

/** The signals of the running {@linkcode main}, when its caller catches them. */
let caught: Interrupts | undefined;

/**
 * Where SIGINT and SIGTERM reach the CLI. `cli.ts` listens from its first
 * line, before this module is even loaded, and hands each signal to
 * `onInterrupt` once a batch has set it (until then nothing has been written,
 * and the process just ends with 130).
 */
export interface Interrupts {
  /** The current handler, set while a batch runs. */
  onInterrupt: (() => void) | undefined;
}

/**
 * Runs the CLI with the given arguments and returns its exit code. Prints to
 * stdout and stderr; never calls `Deno.exit`.
 *
 * @param args The arguments after the program name.
 * @param interrupts Signals caught by the caller; without it, a batch listens itself.
 * @returns The exit code.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 *
 * Deno.exit(await main(["copy", "plates", "/mnt/show/plates"]));
 * ```
 */
export async function main(args: string[], interrupts?: Interrupts): Promise<number> {
  caught = interrupts;
  const reporter = new Reporter({
    json: args.includes("--json"),
    quiet: args.includes("--quiet") || args.includes("-q"),
  });
  try {
    const parsed = parse(args);
    if (parsed === "version") {
      console.log(`ferry ${VERSION}`);
      return EXIT.ok;
    }
    if (parsed === "usage") {
      console.log(USAGE);
      return EXIT.ok;
    }
    if ("help" in parsed) {
      if (parsed.help === undefined) console.log(HELP);
      else {
        const text = COMMAND_HELP[parsed.help];
        if (text === undefined) throw new UsageError(`Unknown command '${parsed.help}'`);
        console.log(text);
      }
      return EXIT.ok;
    }
    reporter.verbose = parsed.verbose;
    if (parsed.progress) reporter.forceLive();
    if (parsed.log !== undefined) {
      try {
        reporter.logTo(parsed.log);
      } catch (error) {
        throw new InputError(`Cannot write the log file '${parsed.log}': ${describeError(error)}`, {
          path: parsed.log,
          cause: error,
        });
      }
    }
    switch (parsed.command) {
      case "demo":
        return await demo(parsed, reporter);
      case "hash":
        return await hashCommand(parsed, reporter);
      case "verify":
        return await verifyCommand(parsed, reporter);
      case "apply": {
        const batch = await readBatch(parsed.operands);
        const options: TransferOptions = { operation: batch.operation };
        if (batch.maxWorkers !== undefined) options.maxWorkers = batch.maxWorkers;
        if (batch.fileWorkers !== undefined) options.fileWorkers = batch.fileWorkers;
        if (batch.batchId !== undefined) options.batchId = batch.batchId;
        return await runBatch(batch.mappings, { ...options, ...parsed.options }, parsed, reporter);
      }
      default: {
        const operation = parsed.command === "move" ? "move" : "copy";
        const mappings = await cpMappings(parsed.operands, parsed.noTarget);
        // Once the copy exists, the same command would copy into it (cp's rule): -T says the path.
        const target = parsed.operands.at(-1);
        const pinned = mappings.length === 1 && mappings[0]!.dst === target && !parsed.noTarget;
        const finish = pinned ? [...args, "-T"] : args;
        return await runBatch(
          mappings,
          { ...parsed.options, operation },
          parsed,
          reporter,
          finish,
        );
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      reporter.error(`${error.message}\nRun 'ferry --help' for usage.`, EXIT.usage);
      return EXIT.usage;
    }
    if (error instanceof InputError || error instanceof RangeError || error instanceof MhlError) {
      reporter.error(error.message, EXIT.usage);
      return EXIT.usage;
    }
    throw error;
  }
}
