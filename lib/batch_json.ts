/**
 * The original tool's JSON batch format:
 * `{"mappings": [{"src", "dst"}, ...], "operation_type": "copy"|"move",
 * "max_workers": 8, "file_workers": 4, "batch_id": "..."}`.
 *
 * @module
 */

import { InputError } from "./errors.ts";
import type { TransferSettings } from "./options.ts";
import type { Mapping } from "./plan/plan_item.ts";

/** A parsed batch: its mappings, and its settings in ferry's option names. */
export interface JsonBatch {
  /** The `{src, dst}` pairs, as given (the planner checks them). */
  mappings: Mapping[];
  /** `operation_type`, `max_workers`, `file_workers` and `batch_id`, as given. */
  settings: TransferSettings;
  /** The batch's own name of each setting, for messages (`'max_workers'`). */
  names: Partial<Record<keyof TransferSettings, string>>;
}

/** The batch's keys, and the setting each one gives. */
const SETTING_KEYS = {
  operation_type: "operation",
  max_workers: "maxWorkers",
  file_workers: "fileWorkers",
  batch_id: "batchId",
  filters: "filters",
} as const;
const TOP_KEYS = new Set(["mappings", ...Object.keys(SETTING_KEYS)]);
const MAPPING_KEYS = new Set(["src", "dst"]);

/**
 * Parses a batch in the original tool's JSON format: its syntax only (JSON,
 * an object, known keys, a non-empty list of mappings). The values are
 * checked where every option and mapping is, by the planner
 * ({@linkcode resolveOptions} with the batch's names, and the mapping checks).
 *
 * @param text The JSON text.
 * @param origin Where the text came from, for messages (a file name or `"stdin"`).
 * @returns The batch.
 * @throws {InputError} When the text is not a batch.
 *
 * @example
 * ```ts
 * import { parseBatch } from "../mod.ts";
 *
 * const batch = parseBatch(
 *   '{"mappings":[{"src":"/mnt/a.mov","dst":"/mnt/b.mov"}],"operation_type":"copy","max_workers":8}',
 * );
 * console.log(batch.settings.operation, batch.settings.maxWorkers); // copy 8
 * ```
 */
export function parseBatch(text: string, origin = "the batch"): JsonBatch {
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
  const { mappings } = data;
  if (!Array.isArray(mappings)) {
    throw new InputError(
      `Cannot read ${origin}: 'mappings' must be an array of {"src", "dst"} objects`,
    );
  }
  if (mappings.length === 0) throw new InputError(`Cannot read ${origin}: 'mappings' is empty`);
  const batch: JsonBatch = { mappings: [], settings: {}, names: {} };
  for (const [index, item] of mappings.entries()) {
    if (!isObject(item)) {
      throw new InputError(`Mapping ${index}: expected an object with "src" and "dst"`, { index });
    }
    for (const key of Object.keys(item)) {
      if (!MAPPING_KEYS.has(key)) {
        throw new InputError(`Mapping ${index}: unknown key '${key}' (expected src, dst)`, {
          index,
        });
      }
    }
    batch.mappings.push({ src: item.src as string, dst: item.dst as string });
  }
  for (const [key, name] of Object.entries(SETTING_KEYS)) {
    batch.names[name] = `'${key}'`;
    if (data[key] !== undefined) (batch.settings as Record<string, unknown>)[name] = data[key];
  }
  return batch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
