/**
 * The original tool's JSON batch format:
 * `{"mappings": [{"src", "dst"}, ...], "operation_type": "copy"|"move",
 * "max_workers": 8, "file_workers": 4, "batch_id": "..."}`.
 *
 * @module
 */

import { resolve } from "node:path";
import { InputError } from "./errors.ts";
import { FILE_WORKERS_LIMIT, MAX_WORKERS_LIMIT } from "./plan/plan.ts";
import type { Mapping } from "./plan/plan.ts";

/** A parsed batch, in ferry's option names. */
export interface Batch {
  /** The `{src, dst}` pairs. */
  mappings: Mapping[];
  /** `operation_type`. */
  operation: "copy" | "move";
  /** `max_workers`, when given. */
  maxWorkers?: number;
  /** `file_workers`, when given. */
  fileWorkers?: number;
  /** `batch_id`, when given. */
  batchId?: string;
}

const TOP_KEYS = new Set(["mappings", "operation_type", "max_workers", "file_workers", "batch_id"]);
const MAPPING_KEYS = new Set(["src", "dst"]);

/**
 * Parses and checks a batch in the original tool's JSON format. Rejects
 * unknown keys, wrong types, empty mappings and two mappings with the same
 * destination, naming the mapping (index and path).
 *
 * @param text The JSON text.
 * @param origin Where the text came from, for messages (a file name or `"stdin"`).
 * @returns The batch.
 * @throws {InputError} When the text is not a valid batch.
 *
 * @example
 * ```ts
 * import { parseBatch } from "../mod.ts";
 *
 * const batch = parseBatch(
 *   '{"mappings":[{"src":"/mnt/a.mov","dst":"/mnt/b.mov"}],"operation_type":"copy","max_workers":8}',
 * );
 * console.log(batch.operation, batch.maxWorkers); // copy 8
 * ```
 */
export function parseBatch(text: string, origin = "the batch"): Batch {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError(`Cannot read ${origin}: not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (!isObject(data)) throw new InputError(`Cannot read ${origin}: expected a JSON object`);
  for (const key of Object.keys(data)) {
    if (!TOP_KEYS.has(key)) {
      throw new InputError(
        `Cannot read ${origin}: unknown key '${key}' (expected ${[...TOP_KEYS].join(", ")})`,
      );
    }
  }
  const { mappings, operation_type: operation = "copy" } = data;
  if (!Array.isArray(mappings)) {
    throw new InputError(
      `Cannot read ${origin}: 'mappings' must be an array of {"src", "dst"} objects`,
    );
  }
  if (mappings.length === 0) throw new InputError(`Cannot read ${origin}: 'mappings' is empty`);
  if (operation !== "copy" && operation !== "move") {
    throw new InputError(
      `Cannot read ${origin}: 'operation_type' must be "copy" or "move", not ${
        JSON.stringify(operation)
      }`,
    );
  }
  const batch: Batch = { mappings: [], operation };
  const destinations = new Map<string, number>();
  for (const [index, item] of mappings.entries()) {
    const where = `Mapping ${index}`;
    if (!isObject(item)) {
      throw new InputError(`${where}: expected an object with "src" and "dst"`, { index });
    }
    for (const key of Object.keys(item)) {
      if (!MAPPING_KEYS.has(key)) {
        throw new InputError(`${where}: unknown key '${key}' (expected src, dst)`, { index });
      }
    }
    const { src, dst } = item;
    if (typeof src !== "string" || src === "") {
      throw new InputError(`${where}: 'src' must be a non-empty string`, { index });
    }
    if (typeof dst !== "string" || dst === "") {
      throw new InputError(`${where} ('${src}'): 'dst' must be a non-empty string`, {
        index,
        path: src,
      });
    }
    const key = resolve(dst);
    const earlier = destinations.get(key);
    if (earlier !== undefined) {
      throw new InputError(
        `${where} ('${src}'): destination '${dst}' is also the destination of mapping ${earlier}`,
        { index, path: dst },
      );
    }
    destinations.set(key, index);
    batch.mappings.push({ src, dst });
  }
  for (
    const [key, name, max] of [
      ["max_workers", "maxWorkers", MAX_WORKERS_LIMIT],
      ["file_workers", "fileWorkers", FILE_WORKERS_LIMIT],
    ] as const
  ) {
    const value = data[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new InputError(
        `Cannot read ${origin}: '${key}' must be a whole number from 1 to ${max}`,
      );
    }
    batch[name] = value;
  }
  if (data.batch_id !== undefined) {
    if (typeof data.batch_id !== "string") {
      throw new InputError(`Cannot read ${origin}: 'batch_id' must be a string`);
    }
    batch.batchId = data.batch_id;
  }
  return batch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
