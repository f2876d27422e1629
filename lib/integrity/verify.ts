/**
 * Checking deliveries after the fact: re-hash a folder against its whole
 * ASC MHL history (and record the check as a new generation), or compare
 * two folders by hash.
 *
 * @module
 */

import { join, relative, sep } from "node:path";
import { forEachLimit } from "../concurrency.ts";
import { describeError } from "../errors.ts";
import { DEFAULT_HASH, type HashAlgorithm } from "./hash.ts";
import { DEFAULT_HASH_CONCURRENCY, FileHasher } from "./file_hasher.ts";
import { listFiles } from "./list_files.ts";
import { MHL_DIR } from "./mhl/chain.ts";
import { type GenerationFile, writeGeneration } from "./mhl/generation_writer.ts";
import { loadHistory, ownerOf, recordedPaths, recordOf } from "./mhl/history.ts";
import { IgnoreSpec } from "./mhl/ignore_spec.ts";
import { MhlError } from "./mhl/mhl_error.ts";
import { isTempName } from "../fs/publish.ts";
import { leaseRunOf } from "../fs/temp_lease.ts";

/** The `error` of an unreadable file's check. */
function cannotRead(path: string, error: unknown): string {
  return `cannot read '${path}': ${describeError(error)}`;
}

/** How one file compares. */
export type CheckStatus = "ok" | "mismatch" | "missing" | "new" | "unreadable";

/** One file's check. */
export interface FileCheck {
  /** Path relative to the root, with `/` (a folder's ends in `/`). */
  path: string;
  /** The outcome. */
  status: CheckStatus;
  /** The format of `expected` and `actual`. */
  algorithm?: HashAlgorithm;
  /** The digest expected (first recorded in the history, or the first tree's). */
  expected?: string;
  /** The digest found. */
  actual?: string;
  /** Which file could not be read and why, in plain words (status `"unreadable"`). */
  error?: string;
}

/** Options for {@linkcode verifyTree} and {@linkcode compareTrees}. */
export interface VerifyOptions {
  /**
   * Files hashed at once. Files up to 1 MiB are read on the main thread;
   * larger ones in 8 MiB ranges by up to 8 workers.
   * @default {16}
   */
  concurrency?: number;
  /**
   * Called as each file's check ends (in the order they end, not sorted), so
   * that a long check can be followed as it goes.
   */
  onCheck?: (check: FileCheck) => void;
  /**
   * The algorithm for files the history does not record (and for {@linkcode compareTrees}).
   * @default {the history's latest, or "xxh64"}
   */
  hash?: HashAlgorithm;
  /**
   * Record the check as a new `in-place` generation ({@linkcode verifyTree} only).
   * @default {true}
   */
  record?: boolean;
  /**
   * The hasher to read with, when the caller wants to follow its
   * {@linkcode FileHasher.bytesHashed}; the caller closes it.
   * @default {a new one, closed at the end}
   */
  hasher?: FileHasher;
}

/** What {@linkcode verifyTree} found. */
export interface VerifyReport {
  /** Every file, sorted by path. */
  files: FileCheck[];
  /** The newest manifest of the history checked against. */
  manifest: string;
  /** The new generation of the root that records this check, or `null` when none was written. */
  generation: string | null;
  /** Why no generation was written although one was asked for (e.g. a read-only delivery). */
  recordError?: string;
  /** `true` when every recorded file is present and matches, and nothing is new or unreadable. */
  ok: boolean;
}

/** What is on disk under a delivery's root. */
interface Tree {
  files: string[];
  dirs: Set<string>;
  nested: string[];
  unreadable: Map<string, string>;
}

/** Walks a delivery: files, folders, nested histories, and folders that cannot be listed. */
async function walkTree(root: string): Promise<Tree> {
  const tree: Tree = { files: [], dirs: new Set(), nested: [], unreadable: new Map() };
  async function walk(dir: string, prefix: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      tree.unreadable.set(prefix, `cannot list the folder '${dir}': ${describeError(error)}`);
      return;
    }
    for (const entry of entries) {
      if (isTempName(entry.name) || leaseRunOf(entry.name) !== null) continue;
      if (entry.name === MHL_DIR && entry.isDirectory) {
        if (prefix !== "") tree.nested.push(prefix);
        continue;
      }
      const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) {
        tree.dirs.add(rel);
        await walk(join(dir, entry.name), rel);
      } else if (entry.isFile) tree.files.push(rel);
    }
  }
  await walk(root, "");
  return tree;
}

/**
 * Re-hashes `root` against its whole ASC MHL history, as the ASC reference
 * implementation does: each file against the hash recorded when it first
 * entered the history (in every format recorded), nested histories against
 * their own, and the ignore patterns the history records. Reports every file
 * as ok, mismatch, missing (recorded in any generation, not on disk), new (on
 * disk, never recorded) or unreadable (the rest is still checked), and
 * appends an `in-place` generation recording the check (`verified` for
 * matches, `failed` for mismatches). New files are not recorded, so they are
 * reported again on the next check, as a mismatch or a missing file is.
 *
 * Requires `--allow-read` and `--allow-write` on `root`.
 *
 * @param root A folder with an `ascmhl/` history.
 * @param options Concurrency, the algorithm for new files, whether to record.
 * @returns The report.
 * @throws {MhlError} When `root` has no history, or a history cannot be read
 * or trusted (a changed, missing or unchained manifest, a garbled chain).
 *
 * @example
 * ```ts
 * import { copy, verifyTree } from "../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/a.exr`, "pixels");
 * await copy(src, `${src}-delivery`, { mhl: true });
 * const report = await verifyTree(`${src}-delivery`);
 * console.log(report.ok); // true
 * await Deno.remove(src, { recursive: true });
 * await Deno.remove(`${src}-delivery`, { recursive: true });
 * ```
 */
export async function verifyTree(root: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { concurrency = DEFAULT_HASH_CONCURRENCY, record = true } = options;
  const tree = await walkTree(root);
  const top = await loadHistory(root, tree.nested);
  if (top.chain.length === 0) {
    throw new MhlError(
      "MHL_NO_HISTORY",
      `Cannot verify '${root}': it has no ASC MHL history (no ${MHL_DIR}/ folder)`,
      { path: root },
    );
  }
  const specs = new Map(
    [top, ...top.children].map((h) => [h, new IgnoreSpec([], h.ignore)]),
  );
  const ignored = (path: string): boolean => {
    const isDir = path.endsWith("/");
    const own = ownerOf(top, isDir ? path.slice(0, -1) : path);
    return own.path !== "" && specs.get(own.history)!.ignores(own.path, isDir);
  };
  const algorithm = options.hash ?? top.latestAlgorithm ?? DEFAULT_HASH;
  const present = new Set(tree.files.filter((p) => !ignored(p)));
  const expected = [...recordedPaths(top)].filter((p) => !ignored(p));
  const paths = [...new Set([...present, ...expected])].sort();
  const files: (FileCheck | undefined)[] = new Array(paths.length);
  const generation: GenerationFile[] = [];
  const unreadableAbove = (path: string): string | undefined => {
    for (const [dir, error] of tree.unreadable) {
      if (dir === "" || path.startsWith(`${dir}/`)) return error;
    }
    return undefined;
  };
  await using own = options.hasher === undefined ? new FileHasher() : undefined;
  const hasher = options.hasher ?? own!;
  await forEachLimit(paths, concurrency, async (path, i) => {
    const check = await checkOne(path);
    files[i] = check;
    if (check !== undefined) options.onCheck?.(check);
  });
  const checks = files.filter((f): f is FileCheck => f !== undefined);
  for (const [dir, error] of tree.unreadable) {
    const check: FileCheck = { path: `${dir}/`, status: "unreadable", error };
    options.onCheck?.(check);
    checks.push(check);
  }
  checks.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const report: VerifyReport = {
    files: checks,
    manifest: top.chain.at(-1)!.file,
    generation: null,
    ok: checks.every((f) => f.status === "ok"),
  };
  if (record) {
    try {
      const dirs = [...tree.dirs].filter((d) => !ignored(`${d}/`));
      const written = await writeGeneration(root, generation, {
        process: "in-place",
        dirs,
        history: top,
      });
      report.generation = written.at(-1) ?? null;
    } catch (error) {
      if (!(error instanceof MhlError)) throw error;
      report.recordError = error.message;
    }
  }
  return report;

  async function checkOne(path: string): Promise<FileCheck | undefined> {
    if (path.endsWith("/")) {
      // A recorded folder: only its absence is news.
      const dir = path.slice(0, -1);
      if (tree.dirs.has(dir)) return undefined;
      const error = unreadableAbove(dir);
      return error === undefined
        ? { path, status: "missing" }
        : { path, status: "unreadable", error };
    }
    const recorded = recordOf(top, path)?.hashes ?? [];
    const first = recorded[0];
    const expect = first === undefined
      ? {}
      : { algorithm: first.algorithm, expected: first.digest };
    if (!present.has(path)) {
      const error = unreadableAbove(path);
      return error === undefined
        ? { path, status: "missing", ...expect }
        : { path, status: "unreadable", ...expect, error };
    }
    const full = join(root, path);
    try {
      const info = await Deno.stat(full);
      if (first === undefined) {
        const actual = await hasher.hash(full, algorithm, info.size);
        return { path, status: "new", algorithm, actual };
      }
      const hashes: GenerationFile["hashes"] = [];
      let verdict: FileCheck = { path, status: "ok", ...expect };
      for (const want of recorded) {
        const digest = await hasher.hash(full, want.algorithm, info.size);
        hashes.push({ algorithm: want.algorithm, digest });
        if (want === first) verdict.actual = digest;
        if (digest !== want.digest && verdict.status === "ok") {
          verdict = {
            path,
            status: "mismatch",
            algorithm: want.algorithm,
            expected: want.digest,
            actual: digest,
          };
        }
      }
      generation.push({ path, size: info.size, mtime: info.mtime, hashes });
      return verdict;
    } catch (error) {
      // One unreadable file is reported, and the rest is still checked.
      return { path, status: "unreadable", ...expect, error: cannotRead(full, error) };
    }
  }
}

/**
 * Compares two folders by hash, without MHL: `missing` is in `expected` but
 * not in `actual`, `new` the other way round.
 *
 * Requires `--allow-read` on both.
 *
 * @param expected The reference folder (e.g. the source).
 * @param actual The folder to check (e.g. the delivery).
 * @param options Concurrency and algorithm.
 * @returns Every file's check, sorted by path.
 *
 * @example
 * ```ts
 * import { compareTrees } from "../../mod.ts";
 *
 * const a = await Deno.makeTempDir();
 * const checks = await compareTrees(a, a);
 * console.log(checks.length); // 0
 * await Deno.remove(a);
 * ```
 */
export async function compareTrees(
  expected: string,
  actual: string,
  options: VerifyOptions = {},
): Promise<FileCheck[]> {
  const { concurrency = DEFAULT_HASH_CONCURRENCY, hash = DEFAULT_HASH } = options;
  const unlisted: FileCheck[] = [];
  const listBoth = (root: string): Promise<string[]> =>
    listFiles(root, (dir, error) => {
      const path = `${relative(root, dir).split(sep).join("/")}/`;
      if (unlisted.some((u) => u.path === path)) return;
      unlisted.push({
        path,
        status: "unreadable",
        error: `cannot list the folder '${dir}': ${describeError(error)}`,
      });
    });
  const [left, right] = await Promise.all([listBoth(expected), listBoth(actual)]);
  const inRight = new Set(right);
  const inLeft = new Set(left);
  const paths = [...new Set([...left, ...right])].sort();
  const out: FileCheck[] = new Array(paths.length);
  await using own = options.hasher === undefined ? new FileHasher() : undefined;
  const hasher = options.hasher ?? own!;
  await forEachLimit(paths, concurrency, async (path, i) => {
    try {
      out[i] = await compareOne(path);
    } catch (error) {
      out[i] = { path, status: "unreadable", error: (error as Error).message };
    }
    options.onCheck?.(out[i]!);
  });
  for (const check of unlisted) options.onCheck?.(check);
  return [...out, ...unlisted].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  async function hashIn(root: string, path: string): Promise<string> {
    const full = join(root, path);
    try {
      return await hasher.hash(full, hash);
    } catch (error) {
      throw new Error(cannotRead(full, error), { cause: error });
    }
  }

  async function compareOne(path: string): Promise<FileCheck> {
    if (!inRight.has(path)) {
      return { path, status: "missing", expected: await hashIn(expected, path) };
    }
    if (!inLeft.has(path)) return { path, status: "new", actual: await hashIn(actual, path) };
    const [e, a] = await Promise.all([hashIn(expected, path), hashIn(actual, path)]);
    return { path, status: e === a ? "ok" : "mismatch", expected: e, actual: a };
  }
}
