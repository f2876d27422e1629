/**
 * A plan written to a file (`ferry plan … --out PLAN`) and run later, here
 * or on other machines (`ferry apply PLAN`). The file is an SQLite database
 * holding what planning learnt of the sources — every folder and file with
 * its stable id, size, mode and times, and the byte ranges of every file
 * copied in parallel — with the mappings and every setting. It is written
 * as the sources are walked (a million files never in memory at once) under
 * a temporary name, and appears under its name only when complete. It is
 * never written again: every run opens it read-only — immutable, without
 * any lock, where Deno lets SQLite's URI through (all permissions granted),
 * else with shared read locks only — so many processes on many machines can
 * read it at once; each run keeps its own journal in the ledger, and decides what is at the
 * destinations when it runs. A source that changed since the plan fails
 * that file (`source-changed`); plan again to take the change.
 *
 * @module
 */

import { basename } from "node:path";
import { pathToFileURL } from "node:url";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { describeError, type FailureCode, InputError } from "../errors.ts";
import { hostName } from "../host.ts";
import { libcAvailable } from "../fs/libc.ts";
import {
  rerunOptions,
  type ResolvedSettings,
  type ResolveOptions,
  resolveOptions,
  type TransferSettings,
} from "../options.ts";
import {
  type Chunk,
  type Mapping,
  type Plan,
  type PlanHeader,
  type PlanItem,
} from "./plan_item.ts";
import { copyPlanFor, MAX_CHUNK_BYTES } from "./chunks.ts";
import { emptyPlanTotals, type PlanTotals } from "./plan_totals.ts";
import {
  checkBatch,
  type CheckedBatch,
  isSparse,
  LIVE_SOURCES,
  planItems,
  type SourceFacts,
} from "./planner.ts";
import { child, type WalkedDir, type WalkedEntry, type WalkedFailure } from "./walk.ts";
import { tempPathFor } from "../fs/publish.ts";
import { type Shard, type ShardSplit, sharedTempPath, splitPlan } from "../farm/shard.ts";
import { parseFilters } from "./filters.ts";

/** The plan file format this ferry writes and reads. */
export const PLAN_FILE_FORMAT = 1;

/** Rows written per transaction while planning. */
const ROWS_PER_COMMIT = 20_000;

/** Ids of items a run plans itself (temporaries found, a tree moved with one rename): above every stored id. */
const RUN_ID_BASE = 2 ** 47;

const SCHEMA = `
  CREATE TABLE plan (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE root (
    mapping INTEGER PRIMARY KEY, id INTEGER NOT NULL, kind TEXT, size INTEGER, mode INTEGER,
    mtime_ms INTEGER, atime_ms INTEGER, uid INTEGER, gid INTEGER, dev INTEGER, blocks INTEGER,
    link_target TEXT, reason TEXT, code TEXT);
  CREATE TABLE folder (
    id INTEGER PRIMARY KEY, mapping INTEGER NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,
    mode INTEGER, mtime_ms INTEGER, atime_ms INTEGER, uid INTEGER, gid INTEGER, dev INTEGER,
    reason TEXT, code TEXT);
  CREATE TABLE entry (
    id INTEGER PRIMARY KEY, folder INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT, size INTEGER,
    mode INTEGER, mtime_ms INTEGER, atime_ms INTEGER, uid INTEGER, gid INTEGER, dev INTEGER,
    blocks INTEGER, link_target TEXT, reason TEXT, code TEXT);
  CREATE TABLE range (
    file INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
    PRIMARY KEY (file, offset)) WITHOUT ROWID;`;

/** What `ferry plan` wrote. */
export interface PlanFileSummary {
  /** The plan file. */
  path: string;
  /** The plan's header: mappings and settings (with the batch id its runs are journaled under). */
  header: PlanHeader;
  /**
   * Files, folders, bytes, ranges copied in parallel, and files that cannot
   * be copied (the sources' side only: `bytesToCopy` is every file's bytes;
   * what the destinations hold is decided when the plan runs).
   */
  totals: PlanTotals;
}

/**
 * Plans a batch into a file, without copying: checks the settings and the
 * mappings (bad input writes nothing), walks the sources and writes every
 * folder and file with its id, size, mode and times, and the ranges of the
 * files copied in parallel.
 *
 * Requires `--allow-read` on the sources and destinations, `--allow-write`
 * on the plan's folder.
 *
 * @param mappings The `{src, dst}` pairs.
 * @param out The plan file to write (replaced if it exists).
 * @param options The settings, fixed in the plan.
 * @returns What was planned.
 * @throws {OptionError} For a setting that is not valid.
 * @throws {InputError} When a mapping is unusable, or the file cannot be written.
 *
 * @example
 * ```ts
 * import { applyPlan, openPlanFile, planToFile } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/frame.0001.exr`, "pixels");
 * const planned = await planToFile([{ src, dst: `${src}-copy` }], `${src}.plan`);
 * console.log(planned.totals.files); // 1
 * const result = await applyPlan(await openPlanFile(`${src}.plan`));
 * console.log(result.ok); // true
 * for (const path of [src, `${src}-copy`, `${src}.plan`]) await Deno.remove(path, { recursive: true });
 * ```
 */
export async function planToFile(
  mappings: readonly Mapping[],
  out: string,
  options: TransferSettings = {},
  how: Pick<ResolveOptions, "names" | "values"> = {},
): Promise<PlanFileSummary> {
  const settings = resolveOptions(options, { ...how, offloadAvailable: libcAvailable() });
  const { header, mappings: checked } = await checkBatch(mappings, settings);
  const tmp = tempPathFor(out);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(tmp);
  } catch (error) {
    throw new InputError(`Cannot write the plan '${out}': ${describeError(error)}`, {
      path: out,
      cause: error,
    });
  }
  try {
    db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
    db.exec(SCHEMA);
    const writer = new PlanWriter(db);
    // Sources only: what is at the destinations is decided by each run.
    const totals = emptyPlanTotals();
    const count = (entry: WalkedEntry, sameFs: boolean): void => {
      totals.files++;
      const info = entry.info;
      if (info === undefined || entry.failure !== undefined) {
        totals.failing++;
        return;
      }
      if (!info.isFile) {
        if (!info.isSymlink) totals.failing++; // not a file, folder or link
        return;
      }
      totals.bytes += info.size;
      totals.bytesToCopy += info.size;
      const how = copyPlanFor({ size: info.size, sparse: isSparse(info), sameFs }, settings);
      if (how.copier !== "ranges") return;
      totals.chunks += how.chunks.length;
      writer.ranges(entry.id!, how.chunks);
    };
    for (const m of checked) {
      if (!m.info.isDirectory) {
        count(writer.root(m.index, await LIVE_SOURCES.root(m)), m.sameFs);
        continue;
      }
      const walk = LIVE_SOURCES.walk(m, parseFilters(settings.filters));
      for await (const walked of writer.walk(m.index, walk)) {
        if (walked.type === "failed") {
          totals.failing++;
          continue;
        }
        totals.dirs++;
        for (const entry of walked.entries) count(entry, m.sameFs);
      }
    }
    writer.finish(header, totals);
    db.exec("PRAGMA journal_mode = DELETE");
    db.close();
    await Deno.rename(tmp, out);
    return { path: out, header, totals };
  } catch (error) {
    try {
      db.close();
    } catch { /* closed */ }
    await Deno.remove(tmp).catch(() => {});
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot write the plan '${out}': ${describeError(error)}`, {
      path: out,
      cause: error,
    });
  }
}

/** Writes the walk into a plan file, in transactions of many rows. */
class PlanWriter {
  #db: DatabaseSync;
  #root: StatementSync;
  #folder: StatementSync;
  #entry: StatementSync;
  #range: StatementSync;
  #rows = 0;
  #next = 0;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#root = db.prepare(
      `INSERT INTO root VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#folder = db.prepare(`INSERT INTO folder VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#entry = db.prepare(
      `INSERT INTO entry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#range = db.prepare(`INSERT INTO range VALUES (?, ?, ?)`);
    db.exec("BEGIN");
  }

  root(mapping: number, entry: WalkedEntry): WalkedEntry {
    const id = this.#next++;
    this.#root.run(mapping, id, ...entryFacts(entry));
    this.#wrote(1);
    return { ...entry, id };
  }

  async *walk(
    mapping: number,
    walk: AsyncIterable<WalkedDir | WalkedFailure>,
  ): AsyncGenerator<WalkedDir | WalkedFailure> {
    for await (const walked of walk) {
      const id = this.#next++;
      if (walked.type === "failed") {
        this.#folder.run(
          id,
          mapping,
          walked.src,
          walked.dst,
          null,
          null,
          null,
          null,
          null,
          null,
          walked.reason,
          walked.code,
        );
        this.#wrote(1);
        walked.id = id;
        yield walked;
        continue;
      }
      const { info } = walked;
      this.#folder.run(
        id,
        mapping,
        walked.src,
        walked.dst,
        info.mode,
        ms(info.mtime),
        ms(info.atime),
        info.uid,
        info.gid,
        info.dev,
        null,
        null,
      );
      // The walk's objects are fresh: numbered in place, not copied.
      for (const entry of walked.entries) {
        entry.id = this.#next++;
        this.#entry.run(entry.id, id, entry.name, ...entryFacts(entry));
      }
      this.#wrote(1 + walked.entries.length);
      walked.id = id;
      yield walked;
    }
  }

  ranges(file: number, chunks: readonly { offset: number; length: number }[]): void {
    for (const chunk of chunks) this.#range.run(file, chunk.offset, chunk.length);
    this.#wrote(chunks.length);
  }

  finish(header: PlanHeader, totals: PlanTotals): void {
    const put = this.#db.prepare("INSERT INTO plan VALUES (?, ?)");
    put.run("format", String(PLAN_FILE_FORMAT));
    put.run("header", JSON.stringify(header));
    put.run("totals", JSON.stringify(totals));
    put.run("host", hostName());
    put.run("created_ms", String(Date.now()));
    this.#db.exec("COMMIT");
  }

  #wrote(rows: number): void {
    this.#rows += rows;
    if (this.#rows < ROWS_PER_COMMIT) return;
    this.#rows = 0;
    this.#db.exec("COMMIT; BEGIN");
  }
}

function ms(date: Date | null): number | null {
  return date?.getTime() ?? null;
}

/** An entry's facts as the columns after `id` (and `folder`, `name`) store them. */
function entryFacts(entry: WalkedEntry): (string | number | null)[] {
  const info = entry.info;
  const kind = info === undefined
    ? null
    : info.isFile
    ? "file"
    : info.isSymlink
    ? "link"
    : info.isDirectory
    ? "dir"
    : "other";
  return [
    kind,
    info?.size ?? null,
    info?.mode ?? null,
    ms(info?.mtime ?? null),
    ms(info?.atime ?? null),
    info?.uid ?? null,
    info?.gid ?? null,
    info?.dev ?? null,
    info?.blocks ?? null,
    entry.linkTarget ?? null,
    entry.failure?.reason ?? null,
    entry.failure?.code ?? null,
  ];
}

/** The columns a stored folder and a stored file share. */
interface StatColumns {
  mode: number | null;
  mtime_ms: number | null;
  atime_ms: number | null;
  uid: number | null;
  gid: number | null;
  dev: number | null;
  /** Why it cannot be read (`null`: it can). */
  reason: string | null;
  code: FailureCode | null;
}

interface FactRow extends StatColumns {
  id: number;
  kind: string | null;
  size: number | null;
  blocks: number | null;
  link_target: string | null;
}

interface EntryRow extends FactRow {
  folder: number;
  name: string;
}

interface FolderRow extends StatColumns {
  id: number;
  src: string;
  dst: string;
}

/** What a stored row says as the FileInfo the planner reads. */
function infoOf(row: Omit<FactRow, "id" | "link_target" | "reason" | "code">): Deno.FileInfo {
  const date = (value: number | null) => value === null ? null : new Date(value);
  return {
    isFile: row.kind === "file",
    isDirectory: row.kind === "dir",
    isSymlink: row.kind === "link",
    size: row.size ?? 0,
    mtime: date(row.mtime_ms),
    atime: date(row.atime_ms),
    birthtime: null,
    ctime: null,
    dev: row.dev ?? 0,
    ino: null,
    mode: row.mode,
    nlink: null,
    uid: row.uid,
    gid: row.gid,
    rdev: null,
    blksize: null,
    blocks: row.blocks,
    isBlockDevice: null,
    isCharDevice: null,
    isFifo: null,
    isSocket: null,
  };
}

function entryOf(row: FactRow, name: string, src: string, dst: string): WalkedEntry {
  const entry: WalkedEntry = { name, src, dst, id: row.id };
  if (row.reason !== null) entry.failure = { reason: row.reason, code: row.code ?? "io" };
  else entry.info = infoOf(row);
  if (row.link_target !== null) entry.linkTarget = row.link_target;
  return entry;
}

/**
 * Opens a plan file to run: read-only and immutable, its format and
 * completeness checked, its mappings checked again (a source root must still
 * be there). The items are the stored files with their ids, the destinations
 * decided as they are now. Some settings may be given again for this run:
 * those that do not change what is copied or how it is split.
 *
 * Requires `--allow-read` on the plan, the sources and the destinations.
 *
 * With `shard`, the plan's items are only that shard's (see
 * `lib/farm/shard.ts`): its files, its ranges of the files split across
 * shards, and every folder.
 *
 * @param path The plan file.
 * @param run Settings for this run: `concurrency`, `maxWorkers`, `fileWorkers`,
 * `smallFileWorkers`, `bufferBytes`, `offload`; and `shard`.
 * @returns The plan, to give to `applyPlan`.
 * @throws {InputError} When it is not a plan file ferry can read, or a mapping is unusable now.
 */
export async function openPlanFile(
  path: string,
  run: OpenPlanOptions = {},
): Promise<Plan> {
  const { shard, finalize = false, ...knobs } = run;
  const sharded = shard !== undefined || finalize;
  const db = openImmutable(path);
  let header: PlanHeader;
  try {
    header = headerOf(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
  const settings: ResolvedSettings = resolveOptions(rerunOptions(header.settings, knobs), {
    offloadAvailable: libcAvailable(),
  });
  let checked: CheckedBatch;
  try {
    checked = await checkBatch(header.mappings, settings);
  } catch (error) {
    db.close();
    throw error;
  }
  const split = shard === undefined ? undefined : splitPlan(db, shard.count);
  // A shard reads only the rows its items can be among.
  const stored = storedSources(db, split?.idsOf(shard!.index));
  const sources = split === undefined ? stored : shardSources(stored, split, shard!);
  const roots = db.prepare("SELECT * FROM root WHERE mapping = ?");
  // The source roots as planned: a file's facts are the plan's, not what is there now.
  for (const m of checked.mappings) {
    const row = roots.get(m.index) as FactRow | undefined;
    if (row !== undefined && row.reason === null) m.info = infoOf(row);
  }
  async function* items(): AsyncGenerator<PlanItem> {
    try {
      const ids = { next: RUN_ID_BASE };
      // Shards, and the finalize after them, move file by file: no shard owns a whole tree.
      const all = planItems(checked.mappings, settings, ids, sources, !sharded);
      yield* split === undefined ? all : shardItems(all, split, shard!, settings.batchId);
    } finally {
      db.close();
    }
  }
  const plan = { header: checked.header, items: items() };
  return shard === undefined ? plan : { ...plan, shard };
}

/** Options of {@linkcode openPlanFile}: the run knobs a plan leaves open, and the shard. */
export interface OpenPlanOptions extends
  Pick<
    TransferSettings,
    "concurrency" | "maxWorkers" | "fileWorkers" | "smallFileWorkers" | "bufferBytes" | "offload"
  > {
  /** Run only this shard of the plan (`--shard K/N`). */
  shard?: Shard;
  /** For `ferry finalize`: the whole plan, planned as its shards planned it. */
  finalize?: boolean;
}

/**
 * The stored walk as a shard sees it: in each folder only the entries it
 * copies (whole or in part), so that nothing is decided, looked up at the
 * destination or held for the others' files; a folder with none of them only
 * for the shard it belongs to (which makes it, empty or not).
 */
function shardSources(sources: SourceFacts, split: ShardSplit, shard: Shard): SourceFacts {
  const mine = (id: number | undefined): boolean =>
    id === undefined || split.ownerOf(id) === shard.index ||
    (split.rangesOf(id)?.some((r) => r.shard === shard.index) ?? false);
  return {
    root: sources.root,
    async *walk(m): AsyncGenerator<WalkedDir | WalkedFailure> {
      for await (const walked of sources.walk(m)) {
        if (walked.type === "dir") {
          const entries = walked.entries.filter((entry) => mine(entry.id));
          if (entries.length === 0 && split.ownerOf(walked.id!) !== shard.index) continue;
          walked.entries = entries;
        } else if (split.ownerOf(walked.id!) !== shard.index) continue;
        yield walked;
      }
    },
  };
}

/**
 * A shard's items: the folders its sources left in (see
 * {@linkcode shardSources}; shards never move a tree by one rename), stray
 * temporaries, the files it owns, and its ranges of the files split across
 * shards.
 */
async function* shardItems(
  items: AsyncIterable<PlanItem>,
  split: ShardSplit,
  shard: Shard,
  batchId: string,
): AsyncGenerator<PlanItem> {
  for await (const item of items) {
    if (item.kind !== "file") yield item;
    else {
      const ranges = split.rangesOf(item.id);
      if (ranges !== undefined && item.action === "copy" && item.copier !== "none") {
        const range = ({ offset, length }: Chunk): Chunk => Object.freeze({ offset, length });
        const mine = ranges.filter((r) => r.shard === shard.index).map(range);
        if (mine.length === 0) continue;
        const chunks = ranges.map(range);
        const part = Object.freeze({
          tmp: await sharedTempPath(item.dst, batchId, item.id),
          ranges: Object.freeze(mine),
          // Ranges copied in parallel keep their size; one kernel range goes in large pieces.
          step: item.copier === "ranges"
            ? Math.max(...item.chunks.map((c) => c.length))
            : MAX_CHUNK_BYTES,
        });
        yield Object.freeze({ ...item, chunks: Object.freeze(chunks), part });
      } else if (split.ownerOf(item.id) === shard.index) yield item;
    }
  }
}

/** A plan file's header, its format checked. */
function headerOf(db: DatabaseSync, path: string): PlanHeader {
  try {
    const values = new Map(
      (db.prepare("SELECT key, value FROM plan").all() as { key: string; value: string }[])
        .map((row) => [row.key, row.value]),
    );
    const format = Number(values.get("format"));
    if (!(format >= 1)) throw new Error("it is not a complete ferry plan");
    if (format > PLAN_FILE_FORMAT) {
      throw new Error(
        `it has format ${format}, newer than this ferry's ${PLAN_FILE_FORMAT}: update ferry`,
      );
    }
    return JSON.parse(values.get("header")!) as PlanHeader;
  } catch (error) {
    throw new InputError(`Cannot read the plan '${path}': ${describeError(error)}`, {
      path,
      cause: error,
    });
  }
}

/**
 * A plan file's header: its mappings and settings, with the batch id its
 * runs are journaled under (what `ferry status PLAN` looks up).
 *
 * @param path The plan file.
 * @returns The header.
 * @throws {InputError} When it is not a plan file ferry can read.
 */
export function readPlanHeader(path: string): PlanHeader {
  const db = openImmutable(path);
  try {
    return headerOf(db, path);
  } finally {
    db.close();
  }
}

/**
 * Opens a plan without taking any lock where SQLite's `immutable` URI can
 * be given (Deno passes URIs through only with every permission granted);
 * otherwise read-only, with SQLite's shared read locks (the plan is never
 * written again, so no reader ever waits for a writer).
 */
function openImmutable(path: string): DatabaseSync {
  try {
    const url = pathToFileURL(path);
    url.search = "immutable=1";
    return new DatabaseSync(url.href, { readOnly: true });
  } catch { /* scoped permissions: a plain path */ }
  try {
    return new DatabaseSync(path, { readOnly: true });
  } catch (error) {
    throw new InputError(`Cannot read the plan '${path}': ${describeError(error)}`, {
      path,
      cause: error,
    });
  }
}

/** The sources as a plan file saw them. */
function storedSources(
  db: DatabaseSync,
  ids: { from: number; to: number } = { from: 0, to: Number.MAX_SAFE_INTEGER },
): SourceFacts {
  const root = db.prepare("SELECT * FROM root WHERE mapping = ?");
  const folders = db.prepare("SELECT * FROM folder WHERE mapping = ? AND id < ? ORDER BY id");
  const entries = db.prepare("SELECT * FROM entry WHERE id > ? AND id < ? ORDER BY id");
  return {
    root(m): Promise<WalkedEntry> {
      const row = root.get(m.index) as FactRow | undefined;
      if (row === undefined) return LIVE_SOURCES.root(m);
      return Promise.resolve(entryOf(row, basename(m.dst), m.src, m.dst));
    },
    async *walk(m): AsyncGenerator<WalkedDir | WalkedFailure> {
      let cursor: Iterator<EntryRow> | undefined;
      let pending: EntryRow | undefined;
      for (const row of folders.iterate(m.index, ids.to) as Iterable<FolderRow>) {
        if (row.reason !== null) {
          yield {
            type: "failed",
            id: row.id,
            src: row.src,
            dst: row.dst,
            reason: row.reason,
            code: row.code ?? "io",
          };
          continue;
        }
        // A folder's entries follow it: their ids are above its own and below the next folder's.
        if (cursor === undefined) {
          const after = Math.max(row.id, ids.from - 1);
          cursor = (entries.iterate(after, ids.to) as Iterable<EntryRow>)[Symbol.iterator]();
          pending = cursor.next().value ?? undefined;
        }
        while (pending !== undefined && pending.folder < row.id) {
          pending = cursor.next().value ?? undefined;
        }
        const list: WalkedEntry[] = [];
        while (pending !== undefined && pending.folder === row.id) {
          list.push(
            entryOf(
              pending,
              pending.name,
              child(row.src, pending.name),
              child(row.dst, pending.name),
            ),
          );
          pending = cursor.next().value ?? undefined;
        }
        yield {
          type: "dir",
          id: row.id,
          src: row.src,
          dst: row.dst,
          info: infoOf({ ...row, kind: "dir", size: 0, blocks: null }),
          entries: list,
        };
      }
      cursor?.return?.();
    },
  };
}

/**
 * How a plan file splits into shards (`lib/farm/shard.ts`): each shard's
 * bytes, files and weight, the same split every shard computes.
 *
 * Requires `--allow-read` on the plan.
 *
 * @param path The plan file.
 * @param count How many shards.
 * @returns The split.
 * @throws {InputError} When it is not a plan file ferry can read.
 *
 * @example
 * ```ts
 * import { planToFile, splitPlanFile } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/a.exr`, "pixels");
 * await planToFile([{ src, dst: `${src}-copy` }], `${src}.plan`);
 * console.log(splitPlanFile(`${src}.plan`, 2).files); // [ 1, 0 ]
 * await Deno.remove(src, { recursive: true });
 * await Deno.remove(`${src}.plan`);
 * ```
 */
export function splitPlanFile(path: string, count: number): ShardSplit {
  const db = openImmutable(path);
  try {
    headerOf(db, path);
    return splitPlan(db, count);
  } finally {
    db.close();
  }
}

/**
 * Whether a file is a plan file (an SQLite database) rather than a JSON batch.
 *
 * @param path A file given to `ferry apply`.
 * @returns `true` when it starts as an SQLite database does.
 */
export async function isPlanFile(path: string): Promise<boolean> {
  try {
    using file = await Deno.open(path, { read: true });
    const head = new Uint8Array(16);
    const n = await file.read(head);
    return n === 16 && new TextDecoder().decode(head) === "SQLite format 3\0";
  } catch {
    return false;
  }
}
