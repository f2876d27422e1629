/**
 * Planning: from `{src, dst}` mappings to a {@linkcode Plan}. The settings
 * and every mapping are checked before the plan is returned (bad input
 * touches nothing); the items are produced as the trees are walked, each
 * frozen, with a stable id and every decision made. Planning only reads.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { forEachLimit } from "../concurrency.ts";
import { describeError, failureCodeOf, InputError } from "../errors.ts";
import { libcAvailable } from "../fs/libc.ts";
import {
  type ResolvedSettings,
  type ResolveOptions,
  resolveOptions,
  type TransferSettings,
} from "../options.ts";
import { MIB } from "../size.ts";
import { copyPlanFor } from "./chunks.ts";
import {
  decideExisting,
  type DestinationListing,
  type Existing,
  existingAt,
  type ExistingDecision,
  listDestination,
} from "./existing.ts";
import { type CheckedMapping, checkMapping, checkMappings } from "./mapping_check.ts";
import { checkOverlaps, destinationsNest } from "./overlaps.ts";
import { type Filter, parseFilters } from "./filters.ts";
import {
  type Mapping,
  type Plan,
  PLAN_VERSION,
  type PlanHeader,
  type PlanItem,
  type PlannedDir,
  type PlannedFile,
} from "./plan_item.ts";
import {
  STAT_CONCURRENCY,
  type WalkedDir,
  type WalkedEntry,
  type WalkedFailure,
  walkTree,
} from "./walk.ts";

/**
 * Checks the settings and the mappings and returns the plan, whose items are
 * produced as they are read.
 *
 * Requires `--allow-read` on the sources and destinations.
 *
 * @param mappings The `{src, dst}` pairs.
 * @param options The settings; see {@linkcode TransferSettings}.
 * @param how The names and typed values of the options, for messages.
 * @returns The plan.
 * @throws {OptionError} For a setting that is not valid, before any I/O.
 * @throws {InputError} When a mapping is unusable: missing source, source and
 * destination the same, destination inside the source, two mappings writing
 * the same path, a file onto a directory or the other way round.
 *
 * @example Listing what a copy would do
 * ```ts
 * import { planBatch } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/frame.0001.exr`, "pixels");
 * const plan = await planBatch([{ src, dst: `${src}-copy` }]);
 * for await (const item of plan.items) console.log(item.kind, item.id); // dir 0, file 1
 * await Deno.remove(src, { recursive: true });
 * ```
 */
export async function planBatch(
  mappings: readonly Mapping[],
  options: TransferSettings = {},
  how: Pick<ResolveOptions, "names" | "values"> = {},
): Promise<Plan> {
  const settings = resolveOptions(options, { ...how, offloadAvailable: libcAvailable() });
  const { header, mappings: checked } = await checkBatch(mappings, settings);
  return { header, items: planItems(checked, settings) };
}

/** A batch checked before anything is written: its plan header, and its mappings as checked. */
export interface CheckedBatch {
  /** The plan's header. */
  header: PlanHeader;
  /** The mappings with what their roots are. */
  mappings: CheckedMapping[];
}

/**
 * Checks every mapping root and the overlaps between the mappings (bad input
 * touches nothing), and makes the plan's header.
 *
 * @param mappings The `{src, dst}` pairs.
 * @param settings The resolved settings.
 * @returns The header and the checked mappings.
 * @throws {InputError} When a mapping is unusable.
 */
export async function checkBatch(
  mappings: readonly Mapping[],
  settings: ResolvedSettings,
): Promise<CheckedBatch> {
  const checked = await checkMappings(mappings, settings.operation, STAT_CONCURRENCY);
  checkOverlaps(checked, settings.operation);
  return {
    header: Object.freeze({
      version: PLAN_VERSION,
      mappings: Object.freeze(checked.map((m) => Object.freeze({ src: m.src, dst: m.dst }))),
      settings: Object.freeze(settings),
    }),
    mappings: checked,
  };
}

/**
 * Whether a file has holes: fewer 512-byte blocks allocated than its size
 * needs, by 1 MiB or more.
 *
 * @param info What lstat said of it.
 * @returns `true` for a sparse file.
 */
export function isSparse(info: Deno.FileInfo): boolean {
  return info.isFile && info.blocks !== null && info.blocks * 512 + MIB <= info.size;
}

/** An empty listing: the folder is new, nothing can be there. */
const NOTHING: DestinationListing = { names: new Map(), strays: [] };

/**
 * The items of a tree whose rename was refused at run time (across mount
 * points of one file system): a copy that removes each source, planned
 * then, with ids from the counter given.
 *
 * @param mapping The folder and its destination.
 * @param index The mapping's index in the batch.
 * @param settings The batch's settings.
 * @param ids The next id to give, advanced as items are made.
 * @returns The items.
 */
export async function* planTreeCopy(
  mapping: Mapping,
  index: number,
  settings: ResolvedSettings,
  ids: { next: number },
): AsyncGenerator<PlanItem> {
  const checked = await checkMapping(mapping, index, settings.operation);
  yield* planItems([{ ...checked, sameFs: false }], settings, ids);
}

/**
 * Where the planner learns what the sources are: the file systems (the
 * default), or a plan stored earlier (`plan_file.ts`), whose items keep the
 * ids they were stored with.
 */
export interface SourceFacts {
  /** The entry of a mapping whose source is a file or a link. */
  root(mapping: CheckedMapping): Promise<WalkedEntry>;
  /**
   * The folders of a mapping whose source is a folder, parents first; the
   * filter leaves files and folders out (a stored plan was filtered when it
   * was made).
   */
  walk(mapping: CheckedMapping, filter?: Filter | null): AsyncIterable<WalkedDir | WalkedFailure>;
}

/** The sources as they are now. */
export const LIVE_SOURCES: SourceFacts = {
  async root(m): Promise<WalkedEntry> {
    const entry: WalkedEntry = { name: basename(m.dst), src: m.src, dst: m.dst, info: m.info };
    if (m.info.isSymlink) {
      try {
        entry.linkTarget = await Deno.readLink(m.src);
      } catch (error) {
        entry.failure = { reason: describeError(error), code: failureCodeOf(error) };
      }
    }
    return entry;
  },
  walk: (m, filter) => walkTree(m.src, m.dst, m.info, filter ?? null),
};

/**
 * The plan's items for checked mappings, the destinations decided as they
 * are now.
 *
 * @param mappings The checked mappings.
 * @param settings The settings.
 * @param ids The next id to give to an item the sources do not number.
 * @param sources Where the sources' facts come from.
 * @param treeRename Whether a tree moved on one file system goes with one
 * rename (not in a shard's run: every shard moves its own files, and the
 * source folders stay until `ferry finalize`).
 * @returns The items, as they are produced.
 */
export async function* planItems(
  mappings: readonly CheckedMapping[],
  settings: ResolvedSettings,
  ids: { next: number } = { next: 0 },
  sources: SourceFacts = LIVE_SOURCES,
  treeRename = true,
): AsyncGenerator<PlanItem> {
  // Two files can share a destination only when destinations nest.
  const owners = destinationsNest(mappings)
    ? new Map<string, { mapping: number; dir: boolean }>()
    : null;
  const scanned = new Set<string>();
  const move = settings.operation === "move";
  const filter = parseFilters(settings.filters ?? []);
  for (const m of mappings) {
    if (!m.info.isDirectory) {
      const folder = dirname(m.dst);
      if (!scanned.has(folder)) {
        scanned.add(folder);
        for (const path of (await listDestination(folder)).strays) {
          yield Object.freeze({ kind: "stray", id: ids.next++, path });
        }
      }
      const entry = await sources.root(m);
      const listing: DestinationListing = {
        names: new Map(m.dstInfo === null ? [] : [[entry.name, m.dstInfo]]),
        strays: [],
      };
      const [file] = await decideFiles([entry], listing, m, settings, entry.id ?? ids.next++);
      yield owned(file!, owners);
      continue;
    }
    const dirOf = (
      src: string,
      dst: string,
      info: Deno.FileInfo,
      rename: boolean,
      id = ids.next++,
    ): PlannedDir =>
      Object.freeze({
        kind: "dir",
        id,
        mapping: m.index,
        src,
        dst,
        mode: (info.mode ?? 0o755) & 0o7777,
        mtimeMs: info.mtime?.getTime() ?? null,
        uid: info.uid,
        gid: info.gid,
        rename,
      });
    // With rules, what they leave out stays: no tree moves whole.
    if (move && m.sameFs && m.dstInfo === null && treeRename && filter === null) {
      yield dirOf(m.src, m.dst, m.info, true); // the whole tree, with one rename
      continue;
    }
    for await (const walked of sources.walk(m, filter)) {
      if (walked.type === "failed") {
        const { src, dst, reason, code } = walked;
        yield owned(failedFile(walked.id ?? ids.next++, m.index, src, dst, reason, code), owners);
        continue;
      }
      const dir = dirOf(walked.src, walked.dst, walked.info, false, walked.id ?? ids.next++);
      owners?.set(dir.dst, { mapping: m.index, dir: true });
      yield dir;
      // Under a destination root that did not exist, nothing can be there yet.
      const listing = m.dstInfo === null ? NOTHING : await listDestination(walked.dst);
      for (const path of listing.strays) {
        yield Object.freeze({ kind: "stray", id: ids.next++, path });
      }
      const files = await decideFiles(walked.entries, listing, m, settings, ids.next);
      ids.next += files.length;
      for (const file of files) yield owned(file, owners);
    }
  }
}

/**
 * A file whose destination another file or folder of the batch has: bad
 * input, which refuses the batch when it is found before the first write.
 */
function owned(
  file: PlannedFile,
  owners: Map<string, { mapping: number; dir: boolean }> | null,
): PlannedFile {
  if (owners === null) return file;
  const other = owners.get(file.dst);
  if (other === undefined) {
    owners.set(file.dst, { mapping: file.mapping, dir: false });
    return file;
  }
  const what = other.dir ? "a directory of" : "also written by";
  return Object.freeze({
    ...file,
    action: "fail",
    copier: "none",
    chunks: Object.freeze([]),
    reason: `destination '${file.dst}' is ${what} mapping ${other.mapping}`,
    code: "exists",
    refuses: true,
  });
}

/**
 * The files of one folder, with the existing destinations decided: at once
 * where the folder's listing says nothing is there, with several looks at
 * once where a destination must be looked at.
 */
async function decideFiles(
  entries: readonly WalkedEntry[],
  listing: DestinationListing,
  mapping: CheckedMapping,
  settings: ResolvedSettings,
  firstId: number,
): Promise<PlannedFile[]> {
  const files: PlannedFile[] = new Array(entries.length);
  const toLook: number[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const free = listing.names !== null && !listing.names.has(entry.name);
    if (free || entry.failure !== undefined || entry.info === undefined) {
      files[i] = planFile(entry, entry.id ?? firstId + i, mapping, settings, null, false);
    } else {
      toLook.push(i);
    }
  }
  await forEachLimit(toLook, STAT_CONCURRENCY, async (i) => {
    const entry = entries[i]!;
    const id = entry.id ?? firstId + i;
    let there: Existing | undefined;
    try {
      there = await existingAt(listing, entry.name, entry.dst);
    } catch (error) {
      const why = `the destination cannot be checked: ${describeError(error)}`;
      files[i] = failedFile(id, mapping.index, entry.src, entry.dst, why, failureCodeOf(error));
      return;
    }
    const info = entry.info!;
    const decision = there === undefined || (!info.isFile && !info.isSymlink)
      ? null
      : await decideExisting(
        {
          action: info.isFile ? "copy" : "symlink",
          dst: entry.dst,
          size: info.size,
          mtimeMs: info.mtime?.getTime() ?? null,
          ...(entry.linkTarget === undefined ? {} : { linkTarget: entry.linkTarget }),
        },
        there,
        settings.existing,
        settings.operation,
      );
    const replaces = there !== undefined && (decision === null || decision.action === "compare");
    files[i] = planFile(entry, id, mapping, settings, decision, replaces);
  });
  return files;
}

/**
 * One file's plan item, its destination decided (`null`: go on as planned);
 * `replaces`: something is at the destination and the copy replaces it.
 */
function planFile(
  entry: WalkedEntry,
  id: number,
  mapping: CheckedMapping,
  settings: ResolvedSettings,
  decision: ExistingDecision | null,
  replaces: boolean,
): PlannedFile {
  const { src, dst, info, failure } = entry;
  if (failure !== undefined || info === undefined) {
    const why = failure ?? { reason: "cannot be looked at", code: "io" as const };
    return failedFile(id, mapping.index, src, dst, why.reason, why.code);
  }
  if (!info.isFile && !info.isSymlink) {
    const reason = "not a regular file, directory or symbolic link";
    return failedFile(id, mapping.index, src, dst, reason, "not-regular");
  }
  let action: PlannedFile["action"] = info.isFile ? "copy" : "symlink";
  let reason: string | undefined;
  let code: PlannedFile["code"];
  if (decision !== null) ({ action, reason, code } = decision);
  if (action === "copy" && settings.operation === "move" && mapping.sameFs) action = "rename";
  const moves = action === "copy" || action === "rename" || action === "compare";
  const bytes = moves
    ? copyPlanFor({ size: info.size, sparse: isSparse(info), sameFs: mapping.sameFs }, settings)
    : { copier: "none" as const, chunks: [], offload: false, sparse: false };
  return Object.freeze({
    kind: "file",
    id,
    mapping: mapping.index,
    src,
    dst,
    size: info.isFile ? info.size : 0,
    mode: (info.mode ?? 0o644) & 0o7777,
    mtimeMs: info.mtime?.getTime() ?? null,
    atimeMs: info.atime?.getTime() ?? null,
    uid: info.uid,
    gid: info.gid,
    dev: info.dev,
    action,
    copier: bytes.copier,
    chunks: Object.freeze(bytes.chunks),
    offload: bytes.offload,
    sparse: bytes.sparse,
    ...(reason === undefined ? {} : { reason }),
    ...(code === undefined ? {} : { code }),
    ...(replaces && moves ? { replaces: true } : {}),
    ...(entry.linkTarget === undefined ? {} : { linkTarget: entry.linkTarget }),
  });
}

/**
 * A file that cannot be copied, found while planning.
 *
 * @param id Its id.
 * @param mapping Its mapping's index.
 * @param src The source path.
 * @param dst The destination path.
 * @param reason Why, in plain words.
 * @param code The failure's kind.
 * @returns The frozen item.
 */
export function failedFile(
  id: number,
  mapping: number,
  src: string,
  dst: string,
  reason: string,
  code: NonNullable<PlannedFile["code"]>,
): PlannedFile {
  return Object.freeze({
    kind: "file",
    id,
    mapping,
    src,
    dst,
    size: 0,
    mode: 0o644,
    mtimeMs: null,
    atimeMs: null,
    uid: null,
    gid: null,
    dev: 0,
    action: "fail",
    copier: "none",
    chunks: Object.freeze([]),
    offload: false,
    sparse: false,
    reason,
    code,
  });
}

/**
 * The batch's refusal for a file that carries bad input (see {@linkcode PlannedFile.refuses}).
 *
 * @param file The file.
 * @param mappings The plan's mappings.
 * @returns The error to throw.
 */
export function refusal(file: PlannedFile, mappings: readonly Mapping[]): InputError {
  return new InputError(
    `Mapping ${file.mapping} ('${mappings[file.mapping]?.src}'): ${file.reason}`,
    { index: file.mapping, path: file.dst },
  );
}
