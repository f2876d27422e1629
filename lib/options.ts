/**
 * Every option of a batch in one place: the kinds as `as const` lists (which
 * give both the types and the checks), the defaults, the bounds, and
 * {@linkcode resolveOptions}, which checks them all before any I/O and throws
 * one {@linkcode OptionError} that names the option as the caller wrote it.
 * The CLI and the JSON reader only parse syntax and pass their own names.
 *
 * @module
 */

import { absolutePath } from "./fs/absolute_path.ts";
import { FilterRuleError, parseFilters } from "./plan/filters.ts";
import { InputError } from "./errors.ts";
import { HASH_ALGORITHMS, type HashAlgorithm } from "./integrity/hash.ts";
import { formatBytes, MIB } from "./size.ts";

/** What a batch does with its sources. */
export const OPERATIONS = ["copy", "move"] as const;
/** `"copy"` leaves the sources; `"move"` removes each once its copy is published. */
export type Operation = typeof OPERATIONS[number];

/** The policies for destination files that exist already. */
export const EXISTING_POLICIES = ["error", "overwrite", "skip", "update", "checksum"] as const;
/**
 * What to do when a destination file exists. A destination with the source's
 * size and modification time is ferry's complete copy (ferry gives every copy
 * its source's mtime, and a final name only ever holds a complete file): every
 * policy but `"checksum"` leaves it alone as already there (a move then only
 * removes its source). For one that differs:
 * - `"error"` (the default): leave it alone and fail that file, so a rerun is
 *   safe and says what differs;
 * - `"overwrite"`: replace it;
 * - `"update"`: replace it only when the source is newer, as `cp -u`,
 *   `rsync -u` and `rclone --update` do (a newer destination is never replaced);
 * - `"skip"`: leave it alone quietly;
 * - `"checksum"`: compare the bytes, whatever the size and time say; replace
 *   it when they differ.
 */
export type ExistingPolicy = typeof EXISTING_POLICIES[number];

/** The copy offload modes (`copy_file_range`). */
export const OFFLOAD_MODES = ["auto", "never", "always"] as const;
/**
 * `"auto"`: let the kernel copy where it can (reflinks, server-side copies)
 * and fall back to read/write where it refuses; `"always"`: fail a file
 * instead of falling back; `"never"`: every byte through ferry's buffers.
 */
export type OffloadMode = typeof OFFLOAD_MODES[number];

/** What is checked before a copy gets its final name. */
export const VERIFY_MODES = ["size", "source", "cache"] as const;
/**
 * `"size"`: the size; `"source"`: also the content, hashed on both sides,
 * the copy read back from its storage (flushed, its cached pages dropped);
 * `"cache"`: as `"source"`, but the copy is read back as the kernel holds it
 * (from memory, when it is cached: faster, and proves less).
 */
export type VerifyMode = typeof VERIFY_MODES[number];

/** How many streams a batch copies with (see `lib/transfer/concurrency_tuner.ts`). */
export const CONCURRENCY_MODES = ["adaptive", "fixed"] as const;
/**
 * `"adaptive"`: measured while it runs, from 2 streams up to `maxWorkers`;
 * `"fixed"`: `maxWorkers`, `fileWorkers` and `smallFileWorkers` as they are.
 */
export type ConcurrencyMode = typeof CONCURRENCY_MODES[number];

/** The defaults of {@linkcode TransferOptions}, checked in the settings sweep of bench/RESULTS.md. */
export const DEFAULTS = {
  /** The original tool's 8 (sweep: 4, 12 and 16 were level on a 2-core machine). */
  maxWorkers: 8,
  /** Sweep: 2 and 8 were level. */
  fileWorkers: 4,
  /** Sweep: 8 was 1.1–1.4× slower on frames and 64 KiB files; 32 was level. */
  smallFileWorkers: 16,
  /** 12 MiB frames copied whole go about twice as fast as split (sweep: 4 MiB halves them). */
  cutoffBytes: 64 * MIB,
  /** 0: picked per file within 1–64 MiB, about two chunks per worker. */
  chunkBytes: 0,
  /** Also how often a worker checks for cancel (sweep: 256 KiB, 4 and 8 MiB were level). */
  bufferBytes: MIB,
  /** Ten progress events per second at most. */
  progressIntervalMs: 100,
  /** Plan items read ahead of the copy: a batch whose plan fits is checked whole first. */
  readAhead: 10_000,
  /** A month of batches for `ferry status` and `ferry resume`; older ones are pruned. */
  ledgerDays: 30,
  /**
   * An offload to several destinations: how far one may fall behind the
   * fastest before it reads the source again (the memory its shared reads hold).
   */
  lagBytes: 512 * MIB,
} as const;

/** The numeric options: whole numbers within these bounds (`chunkBytes` 0 means automatic). */
export const LIMITS = {
  maxWorkers: { min: 1, max: 256 },
  fileWorkers: { min: 1, max: 1024 },
  smallFileWorkers: { min: 1, max: 1024 },
  cutoffBytes: { min: 0, max: Number.MAX_SAFE_INTEGER },
  chunkBytes: { min: 64 * 1024, max: 4096 * MIB },
  bufferBytes: { min: 4096, max: 256 * MIB },
  progressIntervalMs: { min: 1, max: 3_600_000 },
  readAhead: { min: 1, max: 10_000_000 },
  ledgerDays: { min: 1, max: 36_500 },
  lagBytes: { min: 16 * MIB, max: 64 * 1024 * MIB },
} as const;

/** A numeric option. */
export type NumericOption = keyof typeof LIMITS;

/** Options of {@linkcode applyMappings} and the plan: every setting of a batch, with its default. */
export interface TransferSettings {
  /**
   * `"copy"` leaves the sources; `"move"` renames where source and
   * destination share a file system, and otherwise copies, verifies,
   * publishes and only then removes the source.
   * @default {"copy"}
   */
  operation?: Operation;
  /**
   * `"adaptive"`: the batch measures its own throughput while it runs and
   * grows or shrinks the streams (ranges at once, files in flight) between 1
   * and the worker counts below, which are then ceilings
   * (`lib/transfer/concurrency_tuner.ts`). `"fixed"`: the counts as they are.
   * @default {"adaptive", or "fixed" when a worker count is given}
   */
  concurrency?: ConcurrencyMode;
  /**
   * Chunk workers: the most byte ranges copied at once. Workers start lazily,
   * only as many as there are ranges to copy.
   * @default {8}
   */
  maxWorkers?: number;
  /**
   * Chunked (large) files in flight at once; their chunks share the workers.
   * @default {4}
   */
  fileWorkers?: number;
  /**
   * Small files (below the cutoff, copied whole) in flight at once, beside
   * the large ones. On a network share each small file costs several round
   * trips, so many in flight pay off (bench/RESULTS.md). Once more than 256
   * small files between local file systems have come, they go to a worker
   * in batches and at least 256 are in flight (`lib/transfer/local_copier.ts`).
   * @default {16}
   */
  smallFileWorkers?: number;
  /**
   * Files of this size or larger are split into chunks.
   * @default {64 MiB}
   */
  cutoffBytes?: number;
  /**
   * Fixed chunk size in bytes (64 KiB to 4 GiB); 0 picks one per file within 1–64 MiB.
   * @default {0}
   */
  chunkBytes?: number;
  /**
   * Size of each worker's reused buffer; the cancel flag is checked once per buffer.
   * @default {1 MiB}
   */
  bufferBytes?: number;
  /**
   * Copy offload (`copy_file_range`: reflinks, server-side copies, in-kernel
   * copies). `"auto"` uses it where `--allow-ffi` is granted on Linux and
   * falls back to read/write per file-system pair where the kernel refuses;
   * `"always"` fails a file instead of falling back; `"never"` moves every
   * byte through ferry's buffers (small files included).
   * @default {"auto"}
   */
  offload?: OffloadMode;
  /**
   * What is checked before a copy is published. `"size"`: its size.
   * `"source"`: also its content: the source is hashed while it is copied,
   * the written temporary file is flushed to storage, its cached pages are
   * dropped (with `--allow-ffi`), it is read back and hashed again, and the
   * file is published only when both digests match (otherwise it fails as
   * corrupted on transfer). `"cache"`: the same without the flush and the
   * drop: the read-back may come from the page cache (see docs/verification.md).
   * @default {"size"}
   */
  verify?: VerifyMode;
  /**
   * Compute a checksum of every file's source bytes in flight (reported as
   * `hash` on each file). Hashing moves the bytes through ferry's buffers, so
   * copy offload is not used for hashed files.
   * @default {"xxh64" with verify "source" or mhl, otherwise none}
   */
  hash?: HashAlgorithm;
  /**
   * Write an ASC MHL v2.0 generation into each destination root (a copied
   * directory, or the folder a copied file lands in). Implies hashing.
   * @default {false}
   */
  mhl?: boolean;
  /**
   * Flush every copy to stable storage (`fsync`) before it gets its final
   * name, and every destination directory after its files are published, so
   * that after a power cut a final name never holds a partial file. Off by
   * default, as in cp, rsync and rclone.
   * @default {false}
   */
  fsync?: boolean;
  /**
   * Before writing anything, compare the bytes the batch writes on each
   * destination file system with its free space, and refuse the batch
   * ({@linkcode InputError}, nothing touched) when they cannot fit. Needs
   * `--allow-sys=statfs`; without it there is no check.
   * @default {true}
   */
  spaceCheck?: boolean;
  /**
   * Give copies (files and folders) their source's owner and group, as
   * `cp -a` and `rsync -a` do. Only root may; for anyone else the copies stay
   * the user's. Modes and modification times are always kept.
   * @default {false}
   */
  preserveOwner?: boolean;
  /**
   * What to do when a destination file exists.
   * @default {"error"}
   */
  existing?: ExistingPolicy;
  /**
   * Keep every file that a copy replaces (`existing` `overwrite`, `update`
   * or `checksum`) under this folder, at its absolute path below
   * `<backupDir>/<batchId>/`, so that `undo` can bring it back: a hard link
   * where the folder is on the destination's file system (no bytes copied),
   * a copy elsewhere.
   * @default {none: replaced files are gone}
   */
  backupDir?: string;
  /**
   * An id for this batch, echoed in the result and the start event.
   * @default {a random UUID}
   */
  batchId?: string;
  /**
   * Include and exclude rules for the files and folders of trees, in order:
   * `"+ GLOB"` includes, `"- GLOB"` excludes, the first rule that matches a
   * path (relative to the mapping's source root) decides, a rule ending in
   * `/` matches folders only (see `lib/plan/filters.ts`).
   * @default {[]: everything is copied}
   */
  filters?: readonly string[];
}

/** {@linkcode TransferSettings} with every default filled in and every value checked. */
export interface ResolvedSettings {
  /** See {@linkcode TransferSettings.operation}. */
  operation: Operation;
  /** See {@linkcode TransferSettings.concurrency}. */
  concurrency: ConcurrencyMode;
  /** See {@linkcode TransferSettings.maxWorkers}. */
  maxWorkers: number;
  /** See {@linkcode TransferSettings.fileWorkers}. */
  fileWorkers: number;
  /** See {@linkcode TransferSettings.smallFileWorkers}. */
  smallFileWorkers: number;
  /** See {@linkcode TransferSettings.cutoffBytes}. */
  cutoffBytes: number;
  /** See {@linkcode TransferSettings.chunkBytes}. */
  chunkBytes: number;
  /** See {@linkcode TransferSettings.bufferBytes}. */
  bufferBytes: number;
  /** The mode that runs: `"auto"` becomes `"never"` where offload is not available. */
  offload: OffloadMode;
  /** Whether FFI (libc) was available where the plan was made: holes are found with it. */
  ffi: boolean;
  /** See {@linkcode TransferSettings.verify}. */
  verify: VerifyMode;
  /** The algorithm files are hashed with, or `null` when they are not hashed. */
  hash: HashAlgorithm | null;
  /** See {@linkcode TransferSettings.mhl}. */
  mhl: boolean;
  /** See {@linkcode TransferSettings.fsync}. */
  fsync: boolean;
  /** See {@linkcode TransferSettings.spaceCheck}. */
  spaceCheck: boolean;
  /** See {@linkcode TransferSettings.preserveOwner}. */
  preserveOwner: boolean;
  /** See {@linkcode TransferSettings.existing}. */
  existing: ExistingPolicy;
  /** See {@linkcode TransferSettings.backupDir}: an absolute path, or `null`. */
  backupDir: string | null;
  /** See {@linkcode TransferSettings.batchId}. */
  batchId: string;
  /** See {@linkcode TransferSettings.filters}. */
  filters: readonly string[];
}

/**
 * An option the caller gave is not valid. Thrown by {@linkcode resolveOptions}
 * before any I/O; the CLI exits with {@linkcode OptionError.exitCode} (2).
 *
 * @example
 * ```ts
 * import { OptionError, resolveOptions } from "../mod.ts";
 *
 * try {
 *   resolveOptions({ maxWorkers: 0 }, { names: { maxWorkers: "--workers" } });
 * } catch (error) {
 *   if (error instanceof OptionError) console.log(error.option); // "--workers"
 * }
 * ```
 */
export class OptionError extends InputError {
  /** The option as the caller wrote it (`maxWorkers`, `--workers`, `max_workers`). */
  readonly option: string;
  /** The CLI's exit code for it. */
  readonly exitCode = 2;

  /**
   * Creates an option error.
   *
   * @param option The option's name as the caller wrote it.
   * @param message What is wrong and what is expected.
   */
  constructor(option: string, message: string) {
    super(message);
    this.name = "OptionError";
    this.option = option;
  }
}

/** Options of {@linkcode resolveOptions}. */
export interface ResolveOptions {
  /**
   * The names the caller gave the options (`{ maxWorkers: "--workers" }`),
   * used in messages.
   * @default {the option names of TransferSettings}
   */
  names?: Partial<Record<keyof TransferSettings, string>>;
  /**
   * The values as the caller typed them, shown verbatim in messages
   * (`{ bufferBytes: "'257MiB'" }`).
   * @default {the values given; strings in JSON quotes}
   */
  values?: Partial<Record<keyof TransferSettings, string>>;
  /**
   * Whether copy offload can run here (Linux with `--allow-ffi`).
   * @default {false}
   */
  offloadAvailable?: boolean;
}

/**
 * Checks every setting and fills in the defaults. Makes no I/O.
 *
 * @param options The settings as given.
 * @param how The names to use in messages, and whether offload is available.
 * @returns The settings a plan and a run use.
 * @throws {OptionError} For the first setting that is not valid.
 *
 * @example
 * ```ts
 * import { resolveOptions } from "../mod.ts";
 *
 * const settings = resolveOptions({ verify: "source" });
 * console.log(settings.hash, settings.maxWorkers); // xxh64 8
 * ```
 */
export function resolveOptions(
  options: TransferSettings,
  how: ResolveOptions = {},
): ResolvedSettings {
  const nameOf = (key: keyof TransferSettings): string => how.names?.[key] ?? key;
  const shown = (key: keyof TransferSettings): string => how.values?.[key] ?? display(options[key]);
  const oneOf = <T extends string>(
    key: keyof TransferSettings,
    list: readonly T[],
    fallback: T,
  ): T => {
    const value = options[key];
    if (value === undefined) return fallback;
    if (typeof value === "string" && (list as readonly string[]).includes(value)) return value as T;
    throw new OptionError(
      nameOf(key),
      `Invalid value for ${nameOf(key)}: ${shown(key)} (expected ${list.join(", ")})`,
    );
  };
  const count = (key: NumericOption & keyof TransferSettings): number =>
    checkNumber(key, options[key], nameOf(key), how.values?.[key]);
  const flag = (key: "mhl" | "fsync" | "spaceCheck" | "preserveOwner", fallback: boolean) => {
    const value = options[key];
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      throw new OptionError(
        nameOf(key),
        `Invalid value for ${nameOf(key)}: expected true or false`,
      );
    }
    return value;
  };
  const operation = oneOf("operation", OPERATIONS, "copy");
  const existing = oneOf("existing", EXISTING_POLICIES, "error");
  const verify = oneOf("verify", VERIFY_MODES, "size");
  const concurrency = oneOf(
    "concurrency",
    CONCURRENCY_MODES,
    pinsWorkers(options) ? "fixed" : "adaptive",
  );
  let offload = oneOf("offload", OFFLOAD_MODES, "auto");
  if (!how.offloadAvailable) {
    if (offload === "always") {
      throw new OptionError(
        nameOf("offload"),
        `${nameOf("offload")} always needs Linux and the --allow-ffi permission`,
      );
    }
    offload = "never";
  }
  const mhl = flag("mhl", false);
  const given = options.hash === undefined
    ? undefined
    : oneOf("hash", HASH_ALGORITHMS as readonly HashAlgorithm[], "xxh64");
  const hash = given ?? (verify !== "size" || mhl ? "xxh64" : null);
  const batchId = options.batchId ?? crypto.randomUUID();
  if (typeof batchId !== "string" || batchId === "") {
    throw new OptionError(
      nameOf("batchId"),
      `Invalid value for ${nameOf("batchId")}: expected a non-empty string`,
    );
  }
  const backupDir = options.backupDir;
  if (backupDir !== undefined && (typeof backupDir !== "string" || backupDir === "")) {
    throw new OptionError(
      nameOf("backupDir"),
      `Invalid value for ${nameOf("backupDir")}: expected a folder`,
    );
  }
  const filters = options.filters ?? [];
  if (!Array.isArray(filters) || filters.some((rule) => typeof rule !== "string")) {
    throw new OptionError(
      nameOf("filters"),
      `Invalid value for ${nameOf("filters")}: expected a list of '+ GLOB' and '- GLOB' rules`,
    );
  }
  try {
    parseFilters(filters);
  } catch (error) {
    if (!(error instanceof FilterRuleError)) throw error;
    throw new OptionError(
      nameOf("filters"),
      `${(error as FilterRuleError).message} (in ${nameOf("filters")})`,
    );
  }
  return {
    operation,
    concurrency,
    maxWorkers: count("maxWorkers"),
    fileWorkers: count("fileWorkers"),
    smallFileWorkers: count("smallFileWorkers"),
    cutoffBytes: count("cutoffBytes"),
    chunkBytes: count("chunkBytes"),
    bufferBytes: count("bufferBytes"),
    offload,
    ffi: how.offloadAvailable ?? false,
    verify,
    hash,
    mhl,
    fsync: flag("fsync", false),
    spaceCheck: flag("spaceCheck", true),
    preserveOwner: flag("preserveOwner", false),
    existing,
    backupDir: backupDir === undefined ? null : absolutePath(backupDir),
    batchId,
    filters: Object.freeze([...filters]),
  };
}

/**
 * Resolved settings as options again: what resolves to the same settings
 * (a plan's or a journal's settings, planned anew or given other run knobs).
 *
 * @param settings Resolved settings.
 * @returns The same settings as options.
 *
 * @example
 * ```ts
 * import { asOptions, resolveOptions } from "./options.ts";
 *
 * const settings = resolveOptions({ verify: "source", batchId: "b" });
 * console.log(resolveOptions(asOptions(settings)).hash); // xxh64
 * ```
 */
export function asOptions(settings: ResolvedSettings): TransferSettings {
  const { ffi: _ffi, hash, backupDir, ...rest } = settings;
  return {
    ...rest,
    ...(hash === null ? {} : { hash }),
    ...(backupDir === null || backupDir === undefined ? {} : { backupDir }),
  };
}

/** A value for a message: a string in JSON quotes (`"8"` is not `8`), anything else as is. */
function display(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Checks one numeric option against {@linkcode LIMITS}, or gives its default.
 *
 * @param key The option.
 * @param value The value given, if any.
 * @param name The option's name as the caller wrote it.
 * @param shown The value as the caller typed it, for the message.
 * @returns The value.
 * @throws {OptionError} When it is not a whole number within the bounds.
 *
 * @example
 * ```ts
 * import { checkNumber } from "./options.ts";
 *
 * console.log(checkNumber("progressIntervalMs", undefined)); // 100
 * ```
 */
export function checkNumber(
  key: NumericOption,
  value: number | undefined,
  name: string = key,
  shown?: string,
): number {
  const given = value ?? DEFAULTS[key];
  if (key === "chunkBytes" && given === 0) return 0;
  const { min, max } = LIMITS[key];
  if (typeof given !== "number" || !Number.isSafeInteger(given) || given < min || given > max) {
    const range = key.endsWith("Bytes")
      ? `a size from ${formatBytes(min)} to ${formatBytes(max)}${
        key === "chunkBytes" ? ", or 0 for automatic" : ""
      }`
      : `a whole number from ${min} to ${max}`;
    throw new OptionError(
      name,
      `Invalid value for ${name}: ${shown ?? display(given)} (expected ${range})`,
    );
  }
  return given;
}

/**
 * Whether options give a worker count, which fixes the concurrency unless it is given too.
 *
 * @param options The options as given.
 * @returns `true` where `maxWorkers`, `fileWorkers` or `smallFileWorkers` is given.
 *
 * @example
 * ```ts
 * import { pinsWorkers } from "./options.ts";
 *
 * console.log(pinsWorkers({ maxWorkers: 4 }), pinsWorkers({})); // true false
 * ```
 */
export function pinsWorkers(options: TransferSettings): boolean {
  return options.maxWorkers !== undefined || options.fileWorkers !== undefined ||
    options.smallFileWorkers !== undefined;
}

/**
 * A batch's resolved settings with settings given for another run of it
 * (`ferry resume`, `ferry apply PLAN`): a worker count given now fixes the
 * concurrency, as it does for a new batch.
 *
 * @param settings The batch's settings.
 * @param knobs What is given for this run.
 * @returns The options to resolve.
 *
 * @example
 * ```ts
 * import { rerunOptions, resolveOptions } from "./options.ts";
 *
 * const settings = resolveOptions({ batchId: "b" });
 * console.log(settings.concurrency); // adaptive
 * console.log(resolveOptions(rerunOptions(settings, { maxWorkers: 2 })).concurrency); // fixed
 * ```
 */
export function rerunOptions(
  settings: ResolvedSettings,
  knobs: TransferSettings,
): TransferSettings {
  const pinned = pinsWorkers(knobs) && knobs.concurrency === undefined;
  return { ...asOptions(settings), ...knobs, ...(pinned ? { concurrency: "fixed" } : {}) };
}
