/**
 * `ferry finalize PLAN`: the one step after every shard of a plan has run.
 * It publishes the files split across shards (each once every range is
 * journaled: size and source checked, hashed where the plan hashes — the
 * whole file read in order, since no shard saw all of it — and verified
 * with `verify: "source"`), gives the folders the shards created their
 * source's modes and times (a move: removes the emptied source folders),
 * and writes each destination's ASC MHL generation once, from the digests
 * the shards journaled. It is a run of the batch with a journal of its own.
 * Idempotent: a batch finalized well is not finalized again; two finalizes
 * at once publish once (see `finalize_lock.ts`).
 *
 * @module
 */

import { DEFAULTS } from "../options.ts";
import { InputError } from "../errors.ts";
import { startJournal } from "../ledger/journal.ts";
import { batchDir, journalsIn } from "../ledger/ledger_dir.ts";
import { readJournal } from "../ledger/schema.ts";
import { isCovered, shardJournals } from "../ledger/shared_ranges.ts";
import { batchRuns, batchStatus, type ShardState, shardStates } from "../ledger/status.ts";
import type { HashAlgorithm } from "../integrity/hash.ts";
import { openPlanFile, readPlanHeader } from "../plan/plan_file.ts";
import { publishStaged } from "../transfer/file_transfer.ts";
import { Deliveries } from "../transfer/manifests.ts";
import type { FileResult, ManifestOutcome } from "../transfer/result.ts";
import { Run } from "../transfer/run.ts";
import { FileJob } from "../transfer/file_job.ts";
import { hostName } from "../host.ts";
import { lastFinalize, takeFinalizeLock } from "./finalize_lock.ts";
import { isSharedTemp, sharedTempPath } from "./shard.ts";

/** Options of {@linkcode finalizePlan}. */
export interface FinalizeOptions {
  /** The ledger the shards journaled into (`<PLAN>.ledger` in the CLI). */
  ledger: string;
  /**
   * How long to wait for another finalize of the batch that is running, in ms.
   * @default {600000}
   */
  waitMs?: number;
  /**
   * Batches in the ledger whose runs all ended more than this many days ago are removed.
   * @default {30}
   */
  ledgerDays?: number;
  /** Called once per file split across shards as it is published (or fails). */
  onFile?: (file: FileResult) => void;
}

/** What {@linkcode finalizePlan} did. */
export interface FinalizeResult {
  /** The batch. */
  batchId: string;
  /** `finalized` now, or `already` finalized well by an earlier finalize. */
  outcome: "finalized" | "already";
  /** Each shard's latest run. */
  shards: ShardState[];
  /** The files split across shards: published now, already there, or failed. */
  files: FileResult[];
  /** The ASC MHL generations written (with `mhl`). */
  manifests?: ManifestOutcome[];
  /** Files of the whole batch whose latest outcome is a failure. */
  failed: number;
  /** Whether every file of the batch is delivered and every history written. */
  ok: boolean;
  /** The finalize's journal. */
  journal?: string;
}

/**
 * Not every shard has ended: nothing was done. `shards` says which did not.
 */
export class NotReadyError extends InputError {
  /** The failure code. */
  readonly code = "not-ready";
  /** Every shard's latest run. */
  readonly shards: ShardState[];

  /**
   * @param message Which shards have not ended.
   * @param shards Every shard's latest run.
   */
  constructor(message: string, shards: ShardState[]) {
    super(message);
    this.name = "NotReadyError";
    this.shards = shards;
  }
}

/** Whether a shard's latest run ended on its own (done, or done with failed files). */
function ended(shard: ShardState): boolean {
  return shard.run?.state === "done" || shard.run?.state === "failed";
}

/**
 * Finalizes a plan whose shards have all run (see the module
 * documentation). Requires every shard's latest run to have ended (`done`,
 * or `failed` for some of its files); otherwise nothing is done.
 *
 * Requires `--allow-read` and `--allow-write` on the plan, the ledger, the
 * sources and the destinations.
 *
 * @param path The plan file.
 * @param options The ledger, and how long to wait for another finalize.
 * @returns What was done.
 * @throws {NotReadyError} When a shard has not ended (or none ran).
 * @throws {InputError} When the plan cannot be read, or another finalize holds the batch past `waitMs`.
 *
 * @example
 * ```ts
 * import { applyPlan, finalizePlan, openPlanFile, planToFile } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/frame.0001.exr`, "pixels");
 * await planToFile([{ src, dst: `${src}-copy` }], `${src}.plan`);
 * const ledger = `${src}.plan.ledger`;
 * for (const index of [0, 1]) {
 *   await applyPlan(await openPlanFile(`${src}.plan`, { shard: { index, count: 2 } }), { ledger });
 * }
 * console.log((await finalizePlan(`${src}.plan`, { ledger })).ok); // true
 * for (const path of [src, `${src}-copy`, `${src}.plan`, ledger]) {
 *   await Deno.remove(path, { recursive: true });
 * }
 * ```
 */
export async function finalizePlan(
  path: string,
  options: FinalizeOptions,
): Promise<FinalizeResult> {
  const { ledger } = options;
  const header = readPlanHeader(path);
  const { batchId } = header.settings;
  const folder = await batchDir(ledger, batchId);
  const shards = shardStates(await batchRuns(ledger, batchId));
  const notReady = shards.length === 0 ? undefined : shards.filter((s) => !ended(s));
  if (notReady === undefined || notReady.length > 0) {
    throw new NotReadyError(notReadyMessage(path, shards, notReady), shards);
  }
  const lock = await takeFinalizeLock(folder, options.waitMs ?? 600_000);
  if (lock === "busy") {
    throw new InputError(
      `Cannot finalize '${path}': another finalize of batch ${batchId} is still running`,
      { path },
    );
  }
  if (lock === "done" || lastFinalize(folder)?.ok === true) {
    if (lock !== "done") await lock.release();
    const failed = (await batchStatus(ledger, batchId))?.failures.length ?? 0;
    return { batchId, outcome: "already", shards, files: [], failed, ok: failed === 0 };
  }
  try {
    const result = await finalizeLocked(path, options, shards);
    await lock.release({
      ok: result.ok,
      endedMs: Date.now(),
      host: hostName(),
      published: result.files.filter((f) => f.status === "copied" || f.status === "moved").length,
      failed: result.failed,
    });
    return result;
  } catch (error) {
    await lock.release();
    throw error;
  }
}

function notReadyMessage(
  path: string,
  shards: readonly ShardState[],
  notReady: readonly ShardState[] | undefined,
): string {
  if (notReady === undefined) {
    return `Cannot finalize '${path}': no shard of it has run (run: ferry apply ${path} --shard K/N)`;
  }
  const count = shards[0]!.count;
  const said = notReady.map((s) =>
    `${s.index}/${count} (${
      s.run === undefined ? "never ran" : `${s.run.state} on ${s.run.host}, pid ${s.run.pid}`
    })`
  );
  return `Cannot finalize '${path}' yet: ${notReady.length} of ${count} shards have not ended: ${
    said.join(", ")
  }; run them (ferry apply ${path} --shard K/${count}), then finalize`;
}

/** What finalize reads of the batch's journals. */
interface Journaled {
  /** Each destination's latest outcome, with its digest (only with `mhl`). */
  outcomes: Map<string, FileResult>;
  /** Shared temporaries the shards began. */
  shared: Set<string>;
  /** Folders the shards created. */
  created: Set<string>;
}

function readJournals(journals: readonly string[], withOutcomes: boolean): Journaled {
  const found: Journaled = { outcomes: new Map(), shared: new Set(), created: new Set() };
  for (const journal of journals) {
    readJournal(journal, (db) => {
      for (const { tmp } of db.prepare("SELECT tmp FROM partial").all() as { tmp: string }[]) {
        found.shared.add(tmp);
      }
      const dirs = db.prepare("SELECT path FROM dir WHERE event = 'created'").all() as {
        path: string;
      }[];
      for (const { path } of dirs) found.created.add(path);
      if (!withOutcomes) return;
      const rows = db.prepare(
        "SELECT src, dst, bytes, status, reason, algorithm, digest, verified FROM file ORDER BY seq",
      ).all() as {
        src: string;
        dst: string;
        bytes: number;
        status: FileResult["status"];
        reason: string | null;
        algorithm: string | null;
        digest: string | null;
        verified: number | null;
      }[];
      for (const row of rows) {
        const before = found.outcomes.get(row.dst);
        // A file a run published and a later one found already there stays published.
        if (
          row.status === "skipped" && (before?.status === "copied" || before?.status === "moved")
        ) {
          continue;
        }
        const result: FileResult = {
          src: row.src,
          dst: row.dst,
          bytes: row.bytes,
          status: row.status,
        };
        if (row.reason !== null) result.reason = row.reason;
        if (row.digest !== null && row.algorithm !== null) {
          result.hash = {
            algorithm: row.algorithm as HashAlgorithm,
            digest: row.digest,
            verified: row.verified === 1,
          };
        }
        found.outcomes.set(row.dst, result);
      }
    });
  }
  return found;
}

async function finalizeLocked(
  path: string,
  options: FinalizeOptions,
  shards: ShardState[],
): Promise<FinalizeResult> {
  const { ledger } = options;
  const plan = await openPlanFile(path, { finalize: true });
  const { settings } = plan.header;
  const { batchId } = settings;
  const journals = journalsIn(await batchDir(ledger, batchId));
  const journaled = readJournals(journals, settings.mhl);
  const { ranges: written, runs } = await shardJournals(ledger, batchId);
  const journal = await startJournal(
    ledger,
    plan.header,
    options.ledgerDays ?? DEFAULTS.ledgerDays,
    "finalize",
  );
  const files: FileResult[] = [];
  const run = new Run(settings, {
    onFile: (file) => {
      files.push(file);
      options.onFile?.(file);
    },
  }, performance.now());
  run.journal = journal;
  run.dirs.record = (change) => journal.dir(change);
  for (const dir of journaled.created) run.dirs.adopt(dir);
  // Every shard's latest run has ended: what any run of the batch left is a stray.
  run.temporaries.endedRuns = runs;
  const deliveries = settings.mhl ? new Deliveries() : undefined;
  run.observe = (file, result) => {
    deliveries?.file(file, result);
    journal.file(file, result);
  };
  let manifests: ManifestOutcome[] | undefined;
  try {
    for await (const item of plan.items) {
      if (item.kind === "stray") {
        if (!isSharedTemp(item.path)) await run.temporaries.reclaim(item.path);
        continue;
      }
      if (item.kind === "dir") {
        deliveries?.dir(item);
        await run.dirs.make(item);
        continue;
      }
      const before = journaled.outcomes.get(item.dst);
      const tmp = await sharedTempPath(item.dst, batchId, item.id);
      const published = before?.status === "copied" || before?.status === "moved";
      if (journaled.shared.has(tmp) && !published && item.copier !== "none") {
        const missing = item.chunks.filter((range) => !isCovered(written.get(tmp), range));
        if (missing.length > 0) {
          new FileJob(run, item).fail(
            `${missing.length} of its ${item.chunks.length} ranges were not written by their ` +
              "shards: run the failed shards again, then finalize",
            undefined,
            "io",
          );
          continue;
        }
        await publishStaged(run, item, tmp);
        continue;
      }
      if (deliveries === undefined) continue;
      // Published by a shard: its digest is in the shard's journal.
      if (before !== undefined) deliveries.file(item, before);
      else if (item.action === "skip") {
        deliveries.file(item, {
          src: item.src,
          dst: item.dst,
          bytes: item.size,
          status: "skipped",
        });
      } else {deliveries.file(item, {
          src: item.src,
          dst: item.dst,
          bytes: item.size,
          status: "failed",
        });}
    }
    await run.temporaries.settleBusy();
    if (deliveries !== undefined && settings.hash !== null) {
      manifests = await deliveries.write(settings.hash, settings.fsync);
    }
    await run.dirs.finish();
  } finally {
    await run.close();
  }
  const failures = files.filter((f) => f.status === "failed").length;
  const failed = (await batchStatusAfter(ledger, batchId, journal)) ?? failures;
  const ok = failed === 0 &&
    (manifests ?? []).every((m) => m.error === undefined && m.notWritten === undefined);
  journal.close(ok ? "done" : "failed", run.accounting.totals, run.accounting.totals.bytesDone);
  return {
    batchId,
    outcome: "finalized",
    shards,
    files,
    ...(manifests === undefined ? {} : { manifests }),
    failed,
    ok,
    journal: journal.path,
  };
}

/** The batch's failures counted once this finalize's outcomes are written. */
async function batchStatusAfter(
  ledger: string,
  batchId: string,
  journal: { flush(): void },
): Promise<number | undefined> {
  journal.flush();
  return (await batchStatus(ledger, batchId))?.failures.length;
}
