/**
 * Test helpers that keep every file's outcome: the engine hands each one to
 * `onFile` as it ends and keeps only the failures in its result, so tests that
 * look at every file collect them here, in plan order.
 *
 * @module
 */

import {
  applyMappings,
  CancelledError,
  copy,
  type FileResult,
  type Mapping,
  move,
  type TransferOptions,
  type TransferResult,
} from "../mod.ts";
import { byPlanOrder } from "../lib/transfer/result.ts";
import { join } from "node:path";
import { assert, assertEquals, assertNoTemps } from "./_helpers.ts";

/** A result with every file's outcome, in plan order. */
export type Outcome = TransferResult & { files: FileResult[] };

/** Collects outcomes: pass `onFile` in the options and read `files` afterwards. */
export class Outcomes {
  readonly #files: FileResult[] = [];

  /** The handler to pass as `onFile`. */
  readonly onFile = (file: FileResult): void => {
    this.#files.push(file);
  };

  /** The outcomes so far, in plan order (files found in a folder moved by one rename last). */
  get files(): FileResult[] {
    return [...this.#files].sort(byPlanOrder);
  }
}

/**
 * Runs a batch and returns its result with every file's outcome. A cancelled
 * batch throws its {@linkcode CancelledError} as usual, with the outcomes
 * added to `error.result` as `files`.
 */
async function collecting(
  run: (options: TransferOptions) => Promise<TransferResult>,
  options: TransferOptions,
): Promise<Outcome> {
  const outcomes = new Outcomes();
  const onFile = (file: FileResult): void => {
    outcomes.onFile(file);
    options.onFile?.(file);
  };
  try {
    return { ...await run({ ...options, onFile }), files: outcomes.files };
  } catch (error) {
    if (error instanceof CancelledError) Object.assign(error.result, { files: outcomes.files });
    throw error;
  }
}

/**
 * `copy()` with every file's outcome.
 *
 * @param src The source.
 * @param dst The destination.
 * @param options Options for `copy()`.
 * @returns The result and the outcomes.
 */
export function copyAll(src: string, dst: string, options: TransferOptions = {}): Promise<Outcome> {
  return collecting((o) => copy(src, dst, o), options);
}

/**
 * `move()` with every file's outcome.
 *
 * @param src The source.
 * @param dst The destination.
 * @param options Options for `move()`.
 * @returns The result and the outcomes.
 */
export function moveAll(src: string, dst: string, options: TransferOptions = {}): Promise<Outcome> {
  return collecting((o) => move(src, dst, o), options);
}

/**
 * `applyMappings()` with every file's outcome.
 *
 * @param mappings The mappings.
 * @param options Options for `applyMappings()`.
 * @returns The result and the outcomes.
 */
export function applyAll(
  mappings: readonly Mapping[],
  options: TransferOptions = {},
): Promise<Outcome> {
  return collecting((o) => applyMappings(mappings, o), options);
}

/**
 * The outcomes added to a cancelled batch's result by the helpers above.
 *
 * @param error The cancel error.
 * @returns The outcomes, in plan order.
 */
export function filesOf(error: CancelledError): FileResult[] {
  return (error.result as Partial<Outcome>).files ?? [];
}

/**
 * Copies `src` (files `names`) to `out`, and when the `at`th file has ended
 * writes "not ours" under every name still free there: exactly those files
 * must fail as `exists`, and what was written there must be left alone.
 *
 * @param src The source folder.
 * @param out The destination folder.
 * @param names The files in `src`.
 * @param at After how many ended files the names are taken.
 */
export async function assertTakenNamesLeftAlone(
  src: string,
  out: string,
  names: readonly string[],
  at: number,
): Promise<void> {
  const planted: string[] = [];
  let ended = 0;
  const result = await copyAll(src, out, {
    onFile: () => {
      if (++ended !== at) return;
      for (const name of names) {
        try {
          Deno.writeTextFileSync(join(out, name), "not ours", { createNew: true });
          planted.push(join(out, name));
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
      }
    },
  });
  assert(planted.length > 0, `some names were still free after ${at} files`);
  const failed = result.files.filter((f) => f.status === "failed");
  assertEquals(failed.map((f) => f.dst).sort(), planted.sort());
  assertEquals(new Set(failed.map((f) => f.error?.code)), new Set(["exists"]));
  for (const path of planted) assertEquals(await Deno.readTextFile(path), "not ours");
  await assertNoTemps(out);
}
