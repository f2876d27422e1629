/**
 * Reading `ferry apply`'s JSON batch from a file or stdin, with a size limit
 * so that an endless stream cannot fill memory.
 *
 * @module
 */

import { type JsonBatch, parseBatch } from "../lib/batch_json.ts";
import { describeError, InputError } from "../lib/errors.ts";
import { MIB } from "../lib/size.ts";
import { UsageError } from "./args.ts";

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

/**
 * Reads the batch named by `apply`'s operands (a file, or `-`/none for stdin).
 *
 * @param operands The operands.
 * @returns The parsed batch.
 * @throws {InputError} When it cannot be read or is not a batch.
 */
export async function readBatch(operands: string[]): Promise<JsonBatch> {
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
