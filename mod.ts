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

export * from "./lib/transfer.ts";
export * from "./lib/plan.ts";
export * from "./lib/result.ts";
export * from "./lib/progress.ts";
export * from "./lib/errors.ts";
export * from "./lib/batch_json.ts";
export * from "./lib/hash.ts";
export * from "./lib/file_hasher.ts";
export { CHAIN_FILE, type ChainEntry, MHL_DIR, readChain } from "./lib/mhl/chain.ts";
export { type DirectoryHash, directoryHashes } from "./lib/mhl/directory_hash.ts";
export {
  type GenerationFile,
  type GenerationOptions,
  writeGeneration,
} from "./lib/mhl/generation_writer.ts";
export { loadHistory, type MhlHistory, type RecordedFile } from "./lib/mhl/history.ts";
export { DEFAULT_IGNORE, IgnoreSpec } from "./lib/mhl/ignore_spec.ts";
export {
  type MhlAction,
  type MhlEntry,
  type MhlHash,
  type MhlManifest,
  type MhlReference,
  readManifest,
} from "./lib/mhl/manifest.ts";
export { MhlError, type MhlErrorCode } from "./lib/mhl/mhl_error.ts";
export * from "./lib/verify.ts";
export * from "./lib/version.ts";
