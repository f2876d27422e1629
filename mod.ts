/**
 * ferry moves big media across storage as fast as the hardware allows and
 * never lies about the result: large files are split into byte ranges copied
 * in parallel by a pool of Web Workers, small files are copied whole, and a
 * destination path only ever holds a complete, verified file.
 *
 * @example Copy a plate sequence and check the result
 * ```ts
 * import { copy } from "./mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/plate.0001.exr`, "pixels");
 * const result = await copy(src, `${src}-delivery`, {
 *   onProgress: (p) => console.log(`${p.bytesDone}/${p.bytesTotal} bytes`),
 * });
 * if (!result.ok) {
 *   for (const file of result.files) if (file.error) console.error(file.error.message);
 * }
 * await Deno.remove(src, { recursive: true });
 * await Deno.remove(`${src}-delivery`, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./lib/transfer/batch.ts";
export * from "./lib/plan/plan.ts";
export * from "./lib/transfer/result.ts";
export * from "./lib/transfer/progress.ts";
export * from "./lib/errors.ts";
export * from "./lib/batch_json.ts";
export * from "./lib/integrity/hash.ts";
export * from "./lib/integrity/file_hasher.ts";
export { CHAIN_FILE, type ChainEntry, MHL_DIR, readChain } from "./lib/integrity/mhl/chain.ts";
export { type DirectoryHash, directoryHashes } from "./lib/integrity/mhl/directory_hash.ts";
export {
  type GenerationFile,
  type GenerationOptions,
  writeGeneration,
} from "./lib/integrity/mhl/generation_writer.ts";
export { loadHistory, type MhlHistory, type RecordedFile } from "./lib/integrity/mhl/history.ts";
export { DEFAULT_IGNORE, IgnoreSpec } from "./lib/integrity/mhl/ignore_spec.ts";
export {
  type MhlAction,
  type MhlEntry,
  type MhlHash,
  type MhlManifest,
  type MhlReference,
  readManifest,
} from "./lib/integrity/mhl/manifest.ts";
export { MhlError, type MhlErrorCode } from "./lib/integrity/mhl/mhl_error.ts";
export * from "./lib/integrity/verify.ts";
export * from "./lib/version.ts";
