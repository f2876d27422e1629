/**
 * The error of an ASC MHL history that cannot be read, trusted or written.
 *
 * @module
 */

/**
 * What went wrong with a history:
 * - `MHL_NO_HISTORY`: the folder has no `ascmhl/` folder;
 * - `MHL_NO_CHAIN`: `ascmhl/` has no chain file;
 * - `MHL_MISSING_FILE`: the chain lists a manifest that is not there;
 * - `MHL_UNREADABLE`: a manifest or the chain cannot be read;
 * - `MHL_BAD_XML`: a manifest or the chain is not well-formed XML, or not ASC MHL;
 * - `MHL_CHANGED`: a manifest no longer matches the C4 hash the chain records;
 * - `MHL_ROLLED_BACK`: a manifest on disk is not in the chain (an entry was removed);
 * - `MHL_WRITE_FAILED`: a new generation could not be written.
 */
export type MhlErrorCode =
  | "MHL_NO_HISTORY"
  | "MHL_NO_CHAIN"
  | "MHL_MISSING_FILE"
  | "MHL_UNREADABLE"
  | "MHL_BAD_XML"
  | "MHL_CHANGED"
  | "MHL_ROLLED_BACK"
  | "MHL_WRITE_FAILED";

/**
 * A history that cannot be read, trusted or written; the message names the file.
 *
 * @example Telling a tampered history from a damaged delivery
 * ```ts
 * import { MhlError, verifyTree } from "../../../mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await verifyTree(dir);
 * } catch (error) {
 *   if (error instanceof MhlError) console.log(error.code); // "MHL_NO_HISTORY"
 * }
 * await Deno.remove(dir);
 * ```
 */
export class MhlError extends Error {
  /** What went wrong. */
  readonly code: MhlErrorCode;
  /** The file or folder the message is about. */
  readonly path: string;

  /**
   * Creates a history error.
   *
   * @param code What went wrong.
   * @param message The message, naming the file.
   * @param options The path and the underlying error.
   */
  constructor(code: MhlErrorCode, message: string, options: { path: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MhlError";
    this.code = code;
    this.path = options.path;
  }
}
