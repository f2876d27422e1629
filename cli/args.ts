/**
 * The CLI's arguments: the flags, which commands take which, and their
 * syntax. What the values mean is checked by the engine's options module.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LIMITS, type NumericOption, type TransferSettings } from "../lib/options.ts";
import { parseSize } from "../lib/size.ts";
import { MAX_SHARDS } from "../lib/farm/shard.ts";

/** A usage error: the CLI prints it with a hint and exits with code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** What the arguments say: the command, its operands, the settings and the CLI's own flags. */
export interface Parsed {
  command: string;
  operands: string[];
  /** The settings, as given (checked by resolveOptions, with `names` and `shown`). */
  options: TransferSettings;
  /** The flag each setting was given with, for messages. */
  names: Partial<Record<keyof TransferSettings, string>>;
  /** Each setting's value as typed, for messages. */
  shown: Partial<Record<keyof TransferSettings, string>>;
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
  /** `--ledger DIR`; `false` for `--no-ledger`; `undefined`: the default folder. */
  ledger: string | false | undefined;
  /** `--ledger-days N`, as typed. */
  ledgerDays: number | undefined;
  /** `ferry plan --out PLAN`. */
  out: string | undefined;
  /** `ferry plan --from BATCH.json`. */
  from: string | undefined;
  /** `ferry plan --move`: plan a move. */
  move: boolean;
  /** `ferry apply PLAN --shard K/N|auto|auto/N`, as typed. */
  shard: string | undefined;
  /** `ferry farm slurm --shards N`. */
  shards: number | undefined;
  /** `ferry farm slurm --partition P`. */
  partition: string | undefined;
  /** `ferry farm slurm --submit`: run sbatch. */
  submit: boolean;
  /** Frame sequences among the sources: `--frames`, `--sequence`, renumbering, completeness. */
  sequences: SequenceFlags;
  /** `ferry copy SRC --to DEST --to DEST2`: the destinations of one read. */
  to: string[];
  /** `--cascade`: the first destination first, the others from it. */
  cascade: boolean;
  /** `--lag-buffer SIZE`, in bytes. */
  lagBytes: number | undefined;
  /** `ferry offload --no-mhl`. */
  noMhl: boolean;
  /** `--bwlimit RATE|TIMETABLE`, as typed (read by `lib/transfer/bandwidth.ts`). */
  bwlimit: string | undefined;
  /** The long names of the flags given. */
  given: ReadonlySet<string>;
}

/** The flags of frame sequences (`ferry copy 'sh010.####.exr' …`). */
export interface SequenceFlags {
  /** `--frames SET`. */
  frames?: string;
  /** `--sequence`: a frame's path selects its whole sequence. */
  sequence: boolean;
  /** `--renumber START`. */
  renumber?: number;
  /** `--offset N`. */
  offset?: number;
  /** `--rename PATTERN`. */
  rename?: string;
  /** `--require-complete`. */
  requireComplete: boolean;
  /** `--allow-empty-frames`. */
  allowEmptyFrames: boolean;
}

/** What the arguments ask for besides a command: help (of one command, or all), the version, usage. */
export type Info = { help: string | undefined } | "version" | "usage";

/**
 * Parses the arguments: syntax only (known flags for the command, numbers
 * that are numbers, sizes that are sizes); the values are checked by
 * resolveOptions with the flags' names.
 *
 * @param args The arguments after the program name.
 * @returns What they ask for.
 * @throws {UsageError} For arguments that cannot be read.
 */
export function parse(args: string[]): Parsed | Info {
  // `--offset -1000`: a negative frame number is the flag's value, not another flag.
  args = args.flatMap((arg, i) =>
    (arg === "--offset" || arg === "--renumber") && /^-\d+$/.test(args[i + 1] ?? "")
      ? [`${arg}=${args[i + 1]}`]
      : i > 0 && (args[i - 1] === "--offset" || args[i - 1] === "--renumber") && /^-\d+$/.test(arg)
      ? []
      : [arg]
  );
  let values;
  let positionals;
  let tokens;
  try {
    ({ values, positionals, tokens } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: {
        include: { type: "string", multiple: true },
        to: { type: "string", multiple: true },
        bwlimit: { type: "string" },
        cascade: { type: "boolean" },
        "lag-buffer": { type: "string" },
        "no-mhl": { type: "boolean" },
        frames: { type: "string" },
        sequence: { type: "boolean" },
        renumber: { type: "string" },
        offset: { type: "string" },
        rename: { type: "string" },
        "require-complete": { type: "boolean" },
        "allow-empty-frames": { type: "boolean" },
        exclude: { type: "string", multiple: true },
        workers: { type: "string", short: "w" },
        "file-workers": { type: "string", short: "j" },
        "small-file-workers": { type: "string" },
        "chunk-size": { type: "string" },
        cutoff: { type: "string" },
        "buffer-size": { type: "string" },
        offload: { type: "string" },
        concurrency: { type: "string" },
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
        "backup-dir": { type: "string" },
        out: { type: "string", short: "o" },
        from: { type: "string" },
        move: { type: "boolean" },
        shard: { type: "string" },
        shards: { type: "string" },
        partition: { type: "string" },
        submit: { type: "boolean" },
        ledger: { type: "string" },
        "no-ledger": { type: "boolean" },
        "ledger-days": { type: "string" },
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
      const key = NUMBER_FLAGS.find(([name]) => `--${name}` === flag)?.[1];
      const range = key === undefined
        ? ""
        : ` (expected a whole number from ${LIMITS[key].min} to ${LIMITS[key].max})`;
      throw new UsageError(`Invalid value for ${flag}: '${value}'${range}`);
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
  const options: TransferSettings = {};
  const names: Parsed["names"] = {};
  const shown: Parsed["shown"] = {};
  const given = (key: keyof TransferSettings, flag: string, text: string): void => {
    names[key] = flag;
    shown[key] = `'${text}'`;
  };
  for (const [flag, key] of NUMBER_FLAGS) {
    const text = values[flag];
    if (text === undefined) continue;
    given(key, `--${flag}`, text);
    options[key] = key.endsWith("Bytes")
      ? size(`--${flag}`, text)
      : wholeNumber(`--${flag}`, text, key);
  }
  for (
    const [flag, key] of [
      ["offload", "offload"],
      ["concurrency", "concurrency"],
      ["verify", "verify"],
      ["hash", "hash"],
    ] as const
  ) {
    const text = values[flag];
    if (text === undefined) continue;
    given(key, `--${flag}`, text);
    (options as Record<string, unknown>)[key] = text;
  }
  if (values.mhl) options.mhl = true;
  if (values.fsync) options.fsync = true;
  if (values["no-space-check"]) options.spaceCheck = false;
  if (values.archive) options.preserveOwner = true;
  if (values.overwrite) options.existing = "overwrite";
  if (values["skip-existing"]) options.existing = "skip";
  if (values.update) options.existing = "update";
  if (values.checksum) options.existing = "checksum";
  if (values["backup-dir"] !== undefined) {
    if (values["backup-dir"] === "") throw new UsageError("--backup-dir needs a folder");
    given("backupDir", "--backup-dir", values["backup-dir"]);
    options.backupDir = values["backup-dir"];
  }
  // Include and exclude rules keep the order they were given in: the first that matches decides.
  const rules = tokens.flatMap((t) =>
    t.kind === "option" && (t.name === "include" || t.name === "exclude") && t.value !== undefined
      ? [`${t.name === "include" ? "+" : "-"} ${t.value}`]
      : []
  );
  if (rules.length > 0) {
    names.filters = "--include/--exclude";
    shown.filters = rules.map((r) => `'${r}'`).join(" ");
    options.filters = rules;
  }
  if (values["batch-id"] !== undefined) {
    given("batchId", "--batch-id", values["batch-id"]);
    options.batchId = values["batch-id"];
  }
  return {
    command,
    operands,
    options,
    names,
    shown,
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
    out: values.out,
    from: values.from,
    move: values.move ?? false,
    shard: values.shard,
    shards: values.shards === undefined ? undefined : shardCount(values.shards),
    partition: values.partition,
    submit: values.submit ?? false,
    to: values.to ?? [],
    cascade: values.cascade ?? false,
    lagBytes: values["lag-buffer"] === undefined
      ? undefined
      : size("--lag-buffer", values["lag-buffer"]),
    noMhl: values["no-mhl"] ?? false,
    bwlimit: values.bwlimit,
    sequences: {
      ...(values.frames === undefined ? {} : { frames: values.frames }),
      sequence: values.sequence ?? false,
      ...(values.renumber === undefined
        ? {}
        : { renumber: frameNumber("--renumber", values.renumber) }),
      ...(values.offset === undefined ? {} : { offset: frameNumber("--offset", values.offset) }),
      ...(values.rename === undefined ? {} : { rename: values.rename }),
      requireComplete: values["require-complete"] ?? false,
      allowEmptyFrames: values["allow-empty-frames"] ?? false,
    },
    given: new Set(
      Object.entries(values).filter(([, value]) => value !== undefined).map(([key]) => key),
    ),
    ledger: ledgerOf(values.ledger, values["no-ledger"]),
    ledgerDays: values["ledger-days"] === undefined
      ? undefined
      : wholeNumber("--ledger-days", values["ledger-days"], "ledgerDays"),
  };
}

function frameNumber(flag: string, text: string): number {
  if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`Invalid value for ${flag}: '${text}' (expected a whole frame number)`);
  }
  return Number(text);
}

function shardCount(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_SHARDS) {
    throw new UsageError(`Invalid value for --shards: '${text}' (expected 1 to ${MAX_SHARDS})`);
  }
  return Number(text);
}

function ledgerOf(dir: string | undefined, off: boolean | undefined): string | false | undefined {
  if (off && dir !== undefined) throw new UsageError("--ledger and --no-ledger exclude each other");
  if (dir === "") throw new UsageError("--ledger needs a folder");
  return off ? false : dir;
}

/** The options of a copy, a move, a batch and the demo. */
const TRANSFER_OPTIONS = [
  "bwlimit",
  "include",
  "exclude",
  "concurrency",
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
  "backup-dir",
  "verbose",
  "recursive",
  "log",
  "progress",
  "archive",
  "report",
  "ledger",
  "no-ledger",
  "ledger-days",
];

/** The options of frame sequences among a copy's sources. */
const SEQUENCE_OPTIONS = [
  "frames",
  "sequence",
  "renumber",
  "offset",
  "rename",
  "require-complete",
  "allow-empty-frames",
];

/** The options of an offload to several destinations, beside a copy's. */
const FAN_OUT_OPTIONS = ["cascade", "lag-buffer"];

/** Options of a run, not of a plan: `ferry plan` does not take them. */
const PLAN_RUN_ONLY = new Set([
  "dry-run",
  "verbose",
  "log",
  "progress",
  "report",
  "ledger",
  "no-ledger",
  "ledger-days",
]);

/**
 * The settings a plan file fixes: `ferry apply PLAN` refuses them (plan
 * again to change them); the others are the run's.
 */
export const PLAN_FIXED = [
  "include",
  "exclude",
  "chunk-size",
  "cutoff",
  "verify",
  "hash",
  "mhl",
  "fsync",
  "no-space-check",
  "overwrite",
  "skip-existing",
  "update",
  "checksum",
  "batch-id",
  "backup-dir",
  "archive",
] as const;

/** Which options each command takes: any other is a usage error, never silently ignored. */
export const COMMAND_OPTIONS: Record<string, Set<string>> = {
  copy: new Set([
    ...TRANSFER_OPTIONS,
    ...SEQUENCE_OPTIONS,
    ...FAN_OUT_OPTIONS,
    "no-target-directory",
    "to",
  ]),
  offload: new Set([...TRANSFER_OPTIONS, ...SEQUENCE_OPTIONS, ...FAN_OUT_OPTIONS, "no-mhl"]),
  move: new Set([...TRANSFER_OPTIONS, ...SEQUENCE_OPTIONS, "no-target-directory"]),
  apply: new Set([
    ...TRANSFER_OPTIONS,
    ...FAN_OUT_OPTIONS,
    "shard",
    "require-complete",
    "allow-empty-frames",
  ]),
  resume: new Set([...TRANSFER_OPTIONS, "shard"]),
  finalize: new Set(["ledger", "json", "quiet", "verbose"]),
  farm: new Set([
    "shards",
    "partition",
    "submit",
    "ledger",
    "json",
    "quiet",
    // The run's knobs, given to every shard.
    "concurrency",
    "workers",
    "file-workers",
    "small-file-workers",
    "buffer-size",
    "offload",
  ]),
  demo: new Set(TRANSFER_OPTIONS),
  status: new Set(["ledger", "json", "quiet"]),
  batches: new Set(["ledger", "json", "quiet"]),
  undo: new Set(["ledger", "json", "quiet", "dry-run", "verbose"]),
  plan: new Set([
    ...TRANSFER_OPTIONS.filter((o) => !PLAN_RUN_ONLY.has(o)),
    ...SEQUENCE_OPTIONS,
    "no-target-directory",
    "out",
    "from",
    "move",
  ]),
  hash: new Set(["hash", "json", "quiet"]),
  ls: new Set(["json", "quiet"]),
  verify: new Set(["against", "no-record", "hash", "json", "quiet"]),
};

/** The long names of the short options. */
const LONG_NAMES: Record<string, string> = { "-w": "--workers", "-j": "--file-workers" };

/** The flags that take a number or a size, and the setting each gives. */
const NUMBER_FLAGS = [
  ["workers", "maxWorkers"],
  ["file-workers", "fileWorkers"],
  ["small-file-workers", "smallFileWorkers"],
  ["chunk-size", "chunkBytes"],
  ["cutoff", "cutoffBytes"],
  ["buffer-size", "bufferBytes"],
] as const;

/** A whole number as typed (its bounds are checked with the other settings). */
function wholeNumber(flag: string, text: string, key: NumericOption): number {
  if (!/^[+-]?\d+$/.test(text)) {
    const { min, max } = LIMITS[key];
    throw new UsageError(
      `Invalid value for ${flag}: '${text}' (expected a whole number from ${min} to ${max})`,
    );
  }
  return Number(text);
}

/** A size as typed: `16MiB`, `1G`, `1048576`. */
function size(flag: string, text: string): number {
  try {
    return parseSize(text);
  } catch (error) {
    throw new UsageError(`Invalid value for ${flag}: ${(error as Error).message}`);
  }
}
