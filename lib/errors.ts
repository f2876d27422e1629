/**
 * The error classes that callers of ferry act on, and the translation of
 * operating-system errors into plain words.
 *
 * @module
 */

import type { TransferResult } from "./transfer/result.ts";

/**
 * Bad input: a mapping, an option or a JSON batch that ferry refuses before it
 * touches anything. The CLI maps it to exit code 2.
 *
 * @example Telling bad input apart from a failed copy
 * ```ts
 * import { applyMappings, InputError } from "../mod.ts";
 *
 * try {
 *   await applyMappings([{ src: "/no/such/plate", dst: "/tmp/plate" }]);
 * } catch (error) {
 *   if (error instanceof InputError) console.error(error.message);
 * }
 * ```
 */
export class InputError extends Error {
  /** Index of the offending mapping in the batch, when one mapping is at fault. */
  readonly index: number | undefined;
  /** The path the message is about, when there is one. */
  readonly path: string | undefined;

  /**
   * Creates an input error.
   *
   * @param message What is wrong, naming the path.
   * @param options The mapping index and path it concerns, and the cause.
   */
  constructor(
    message: string,
    options: { index?: number; path?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "InputError";
    this.index = options.index;
    this.path = options.path;
  }
}

/**
 * The batch was cancelled through its `AbortSignal`. Every temporary file has
 * been removed when this is thrown; {@linkcode CancelledError.result} lists
 * the files that were published before the cancel, and the rest as
 * `"cancelled"`.
 *
 * @example Cancelling a batch after five seconds
 * ```ts
 * import { CancelledError, copy } from "../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * try {
 *   await copy(src, src + "-copy", { signal: AbortSignal.timeout(5_000) });
 * } catch (error) {
 *   if (!(error instanceof CancelledError)) throw error;
 *   console.log(`${error.result.totals.filesDone} files were published`);
 * } finally {
 *   await Deno.remove(src, { recursive: true });
 *   await Deno.remove(src + "-copy", { recursive: true }).catch(() => {});
 * }
 * ```
 */
export class CancelledError extends Error {
  /** What was done before the cancel. */
  readonly result: TransferResult;

  /**
   * Creates a cancel error.
   *
   * @param result The partial result of the batch.
   * @param cause The abort reason of the signal.
   */
  constructor(result: TransferResult, cause?: unknown) {
    super("Transfer cancelled", cause === undefined ? undefined : { cause });
    this.name = "CancelledError";
    this.result = result;
  }
}

/**
 * One file could not be transferred. It appears as `error` on a failed
 * {@linkcode FileResult}; the batch goes on with the other files.
 *
 * @example Listing failures
 * ```ts
 * import { copy } from "../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const result = await copy(src, src + ".copy");
 * for (const file of result.failures) console.error(file.error?.message);
 * await Deno.remove(src);
 * await Deno.remove(src + ".copy");
 * ```
 */
export class FileTransferError extends Error {
  /** The source path. */
  readonly src: string;
  /** The destination path. */
  readonly dst: string;
  /** What kind of failure it is. */
  readonly code: FailureCode;

  /**
   * Creates a per-file error.
   *
   * @param src The source path.
   * @param dst The destination path.
   * @param reason The cause in plain words, e.g. `"no space left on the destination"`.
   * @param cause The underlying error.
   */
  constructor(src: string, dst: string, reason: string, cause?: unknown, code?: FailureCode) {
    super(
      `Cannot copy '${src}' to '${dst}': ${reason}`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "FileTransferError";
    this.src = src;
    this.dst = dst;
    this.code = code ?? failureCodeOf(cause);
  }
}

/**
 * The kind of a file's failure, for scripts, retries and tests (the message
 * is for people):
 * - `differs`: the destination exists and differs; the policy left it alone;
 * - `exists`: a destination appeared during the copy and was left alone;
 * - `source-changed`: the source changed while it was copied;
 * - `corrupted`: the copy read back did not match the source's digest;
 * - `no-space`: the destination is full (or over quota);
 * - `permission`: access was refused (by the system or by Deno's grants);
 * - `not-found`: a path went missing;
 * - `not-regular`: a device, FIFO or socket, never read;
 * - `bad-name`: a name that is not valid UTF-8;
 * - `is-directory`: the destination is a folder;
 * - `same-file`: source and destination are one file (hard links);
 * - `io`: anything else the storage said (the message names it).
 */
export type FailureCode =
  | "differs"
  | "exists"
  | "source-changed"
  | "corrupted"
  | "no-space"
  | "permission"
  | "not-found"
  | "not-regular"
  | "bad-name"
  | "is-directory"
  | "same-file"
  | "io";

/**
 * The failure code of an error from Deno's file APIs or a worker: by errno
 * and error class; a ferry error may carry its own as `failure`.
 *
 * @param error What was thrown.
 * @returns The code; `io` when nothing more precise is known.
 *
 * @example
 * ```ts
 * import { failureCodeOf } from "./errors.ts";
 *
 * console.log(failureCodeOf(new Deno.errors.NotFound("gone"))); // "not-found"
 * ```
 */
export function failureCodeOf(error: unknown): FailureCode {
  const own = (error as { failure?: unknown })?.failure;
  if (typeof own === "string") return own as FailureCode;
  const code = (error as { code?: unknown })?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return "no-space";
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return "permission";
  if (code === "ENOENT") return "not-found";
  if (code === "EISDIR") return "is-directory";
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return "permission";
  }
  if (error instanceof Deno.errors.NotFound) return "not-found";
  if (error instanceof Error && (error as { cause?: unknown }).cause !== undefined) {
    return failureCodeOf((error as { cause?: unknown }).cause);
  }
  return "io";
}

const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOENT: "no such file or directory",
  EEXIST: "it already exists",
  EISDIR: "it is a directory",
  ENOTDIR: "a parent is not a directory",
  EIO: "input/output error (the storage failed)",
  ENAMETOOLONG: "the name is too long",
  EXDEV: "source and destination are on different file systems",
  EMFILE: "too many open files",
  ETIMEDOUT: "the storage timed out",
  ESTALE: "stale file handle (the network share changed under the copy)",
  EBUSY: "it is open elsewhere (device or resource busy)",
};

/**
 * Turns an error from Deno's file APIs into plain words without the path
 * (the caller's message names the path).
 *
 * @param error Anything thrown by a file operation.
 * @returns A short lower-case phrase, e.g. `"permission denied"`.
 *
 * @example
 * ```ts
 * import { describeError } from "./errors.ts";
 *
 * try {
 *   await Deno.readFile("/no/such/file");
 * } catch (error) {
 *   console.log(describeError(error)); // "no such file or directory"
 * }
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return "ferry was not granted access to it (see the --allow-read/--allow-write flags)";
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code in ERRNO_WORDS) return ERRNO_WORDS[code]!;
    return stripPathFromMessage(error.message);
  }
  return String(error);
}

/** Deno appends `: open '/path'` style suffixes; keep only the cause. */
function stripPathFromMessage(message: string): string {
  const cut = message.search(/: [a-z_]+ '/);
  const text = cut === -1 ? message : message.slice(0, cut);
  const lower = text.replace(/ \(os error \d+\)$/, "");
  return lower.charAt(0).toLowerCase() + lower.slice(1);
}

/**
 * Text in one of ferry's notations (a frame set, a sequence pattern, a
 * filter rule) that cannot be read: the base of their errors.
 *
 * @example
 * ```ts
 * import { NotationError } from "./errors.ts";
 *
 * console.log(new NotationError("frame set", "1-x", "'1-x' is not a range").message);
 * // Invalid frame set '1-x': '1-x' is not a range
 * ```
 */
export class NotationError extends Error {
  /** The text as given. */
  readonly text: string;

  /**
   * @param what What the text was meant to be, e.g. `"frame set"`.
   * @param text The text as given.
   * @param why What is wrong with it.
   */
  constructor(what: string, text: string, why: string) {
    super(`Invalid ${what} '${text}': ${why}`);
    this.text = text;
  }
}
