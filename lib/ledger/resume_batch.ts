/**
 * Finishing a journaled batch from a script: the library's `ferry resume`.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { rerunOptions } from "../options.ts";
import { applyMappings, type TransferOptions } from "../transfer/batch.ts";
import type { TransferResult } from "../transfer/result.ts";
import { batchStatus } from "./status.ts";

/**
 * Runs a batch of the ledger again with the mappings and settings it was
 * journaled with, as another run of it: files already published are left
 * alone, a large file a killed run was writing is continued from its
 * journaled ranges, the rest is copied. Options given override the
 * journaled ones (the batch id and the ledger excepted).
 *
 * Requires `--allow-read` and `--allow-write` on the ledger, the sources and
 * the destinations.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch.
 * @param options Run options and settings to override.
 * @returns The run's result.
 * @throws {InputError} When the ledger has no such batch.
 *
 * @example
 * ```ts
 * import { applyMappings, resumeBatch } from "../../mod.ts";
 *
 * const ledger = await Deno.makeTempDir();
 * const src = await Deno.makeTempFile();
 * await applyMappings([{ src, dst: `${src}.copy` }], { ledger, batchId: "nightly" });
 * const again = await resumeBatch(ledger, "nightly");
 * console.log(again.totals.filesSkipped); // 1 (already there)
 * await Deno.remove(ledger, { recursive: true });
 * await Deno.remove(src);
 * await Deno.remove(`${src}.copy`);
 * ```
 */
export async function resumeBatch(
  ledger: string,
  batchId: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  const status = await batchStatus(ledger, batchId);
  if (status === null) {
    throw new InputError(`There is no batch '${batchId}' in the ledger '${ledger}'`, {
      path: ledger,
    });
  }
  return await applyMappings(status.mappings, {
    ...options,
    ...rerunOptions(status.settings, options),
    batchId: status.batchId,
    ledger,
  });
}
