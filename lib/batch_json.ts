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
  mappings: BatchMapping[];
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
const MAPPING_KEYS = new Set(["src", "dst", "frames", "renumber", "offset", "rename"]);

/**
 * A batch's mapping. Where `src` is a frame-sequence pattern
 * (`plates/sh010.####.exr`), `dst` is a folder or a pattern, and the
 * sequence keys select and renumber its frames (see `lib/sequence/`).
 */
export interface BatchMapping extends Mapping {
  /** Only these frames: `"1001-1100"`. */
  frames?: string;
  /** The first selected frame becomes this one. */
  renumber?: number;
  /** Every frame moves by this many. */
  offset?: number;
  /** A new name pattern for the frames, for a `dst` folder. */
  rename?: string;
  /**
   * `"dst": [..]`: every path that gets a copy of `src` (read once, see
   * `lib/fanout/`); `dst` is the first of them.
   */
  destinations?: string[];
}

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
        throw new InputError(
          `Mapping ${index}: unknown key '${key}' (expected ${[...MAPPING_KEYS].join(", ")})`,
          { index },
        );
      }
    }
    const list = Array.isArray(item.dst) ? item.dst as unknown[] : undefined;
    if (list !== undefined && (list.length === 0 || list.some((d) => typeof d !== "string"))) {
      throw new InputError(`Mapping ${index}: 'dst' must be a path or a non-empty list of paths`, {
        index,
      });
    }
    const mapping: BatchMapping = {
      src: item.src as string,
      dst: (list?.[0] ?? item.dst) as string,
      ...(list === undefined ? {} : { destinations: list as string[] }),
    };
    for (const key of ["frames", "rename"] as const) {
      if (item[key] === undefined) continue;
      if (typeof item[key] !== "string") {
        throw new InputError(`Mapping ${index}: '${key}' must be a string`, { index });
      }
      mapping[key] = item[key] as string;
    }
    for (const key of ["renumber", "offset"] as const) {
      if (item[key] === undefined) continue;
      if (!Number.isSafeInteger(item[key])) {
        throw new InputError(`Mapping ${index}: '${key}' must be a whole frame number`, { index });
      }
      mapping[key] = item[key] as number;
    }
    batch.mappings.push(mapping);
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
