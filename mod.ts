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
 *   for (const file of result.failures) console.error(file.error?.message);
 * }
 * await Deno.remove(src, { recursive: true });
 * await Deno.remove(`${src}-delivery`, { recursive: true });
 * ```
 *
 * @module
 */

export {
  applyMappings,
  applyPlan,
  copy,
  move,
  type RunOptions,
  type TransferOptions,
} from "./lib/transfer/batch.ts";
export type { RunEvents } from "./lib/transfer/run.ts";
export {
  type DestinationResult,
  fanOut,
  type FanOutMapping,
  type FanOutOptions,
  type FanOutResult,
  offload,
} from "./lib/fanout/fan_out.ts";
export type { ShareStats } from "./lib/fanout/read_share.ts";
export { planBatch } from "./lib/plan/planner.ts";
export { collectPlan, planTransfer, type TransferPlan } from "./lib/plan/transfer_plan.ts";
export { planLines, readPlan } from "./lib/plan/plan_lines.ts";
export {
  isPlanFile,
  openPlanFile,
  type OpenPlanOptions,
  PLAN_FILE_FORMAT,
  type PlanFileSummary,
  planToFile,
  splitPlanFile,
} from "./lib/plan/plan_file.ts";
export * from "./lib/sequence/mod.ts";
export { type Filter, FilterRuleError, parseFilters } from "./lib/plan/filters.ts";
export {
  FILE_WEIGHT,
  type OwnedRange,
  parseShard,
  type Shard,
  shardLabel,
  type ShardSplit,
} from "./lib/farm/shard.ts";
export {
  type FinalizeOptions,
  finalizePlan,
  type FinalizeResult,
  NotReadyError,
} from "./lib/farm/finalize.ts";
export type {
  Chunk,
  Copier,
  FileAction,
  FilePart,
  Mapping,
  Plan,
  PlanHeader,
  PlanItem,
  PlannedDir,
  PlannedFile,
  PlannedStray,
} from "./lib/plan/plan_item.ts";
export {
  CONCURRENCY_MODES,
  type ConcurrencyMode,
  DEFAULTS,
  EXISTING_POLICIES,
  type ExistingPolicy,
  LIMITS,
  OFFLOAD_MODES,
  type OffloadMode,
  type Operation,
  OPERATIONS,
  OptionError,
  type ResolvedSettings,
  type ResolveOptions,
  resolveOptions,
  type TransferSettings,
  VERIFY_MODES,
  type VerifyMode,
} from "./lib/options.ts";
export {
  type Fallback,
  type FileResult,
  type FileStatus,
  type ManifestOutcome,
  summarize,
  type TemporaryReport,
  type TransferResult,
  type TransferTotals,
} from "./lib/transfer/result.ts";
export type {
  ConcurrencyChange,
  ConcurrencyInUse,
  Progress,
  StartInfo,
} from "./lib/transfer/progress.ts";
export { CancelledError, type FailureCode, FileTransferError, InputError } from "./lib/errors.ts";
export { type JsonBatch, parseBatch } from "./lib/batch_json.ts";
export {
  checksumLine,
  DEFAULT_HASH,
  HASH_ALGORITHMS,
  type HashAlgorithm,
  hashFile,
} from "./lib/integrity/hash.ts";
export { FileHasher, type FileHasherOptions } from "./lib/integrity/file_hasher.ts";
export {
  type CheckStatus,
  compareTrees,
  type FileCheck,
  type VerifyOptions,
  type VerifyReport,
  verifyTree,
} from "./lib/integrity/verify.ts";
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
export {
  type BatchStatus,
  batchStatus,
  type BatchSummary,
  type FailedFile,
  listBatches,
  pruneLedger,
  type ReadRunState,
  type RunStatus,
  type ShardState,
  shardStates,
} from "./lib/ledger/status.ts";
export { defaultLedgerDir, planLedgerDir } from "./lib/ledger/ledger_dir.ts";
export { type FinalizeRecord } from "./lib/farm/finalize_lock.ts";
export { resumeBatch } from "./lib/ledger/resume_batch.ts";
export { type RunState } from "./lib/ledger/journal.ts";
export {
  planUndo,
  type UndoLeft,
  type UndoLeftCode,
  type UndoPlan,
  type UndoStep,
} from "./lib/ledger/undo_plan.ts";
export { runUndo, undoBatch, type UndoOptions, type UndoResult } from "./lib/ledger/undo.ts";
export type { UndoRecord } from "./lib/ledger/undo_record.ts";
export { VERSION } from "./lib/version.ts";
