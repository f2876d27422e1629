/**
 * Checking deliveries after the fact: re-hash a folder against its latest
 * ASC MHL manifest (and record the check as a new generation), or compare
 * two folders by hash.
 *
 * @module
 */

import { join } from "node:path";
import { forEachLimit } from "./concurrency.ts";
import { describeError, InputError } from "./errors.ts";
import { DEFAULT_HASH, type HashAlgorithm } from "./hash.ts";
import { DEFAULT_HASH_CONCURRENCY, FileHasher } from "./file_hasher.ts";
import { MHL_DIR, type MhlEntry, readLatestManifest, writeGeneration } from "./mhl.ts";
import { isTempName } from "./publish.ts";

/** The `error` of an unreadable file's check. */
function cannotRead(path: string, error: unknown): string {
  return `cannot read '${path}': ${describeError(error)}`;
}

/** How one file compares. */
export type CheckStatus = "ok" | "mismatch" | "missing" | "new" | "unreadable";

/** One file's check. */
export interface FileCheck {
  /** Path relative to the root, with `/`. */
  path: string;
  /** The outcome. */
  status: CheckStatus;
  /** The digest expected (from the manifest, or the first tree). */
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
   * The algorithm for files the manifest does not list (and for {@linkcode compareTrees}).
   * @default {the manifest's, or "xxh64"}
   */
  hash?: HashAlgorithm;
}

/** What {@linkcode verifyTree} found. */
export interface VerifyReport {
  /** Every file, sorted by path. */
  files: FileCheck[];
  /** The manifest checked against. */
  manifest: string;
  /** The new generation that records this check. */
  generation: string;
  /** `true` when every listed file is present and matches, and nothing is new. */
  ok: boolean;
}

/**
 * Lists the regular files under `root` (relative, with `/`), leaving out
 * `ascmhl/`, `.DS_Store` and ferry's temporary files.
 *
 * @param root A directory.
 * @returns The paths, sorted.
 */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name === ".DS_Store" || isTempName(entry.name)) continue;
      if (prefix === "" && entry.name === MHL_DIR) continue;
      const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) await walk(join(dir, entry.name), rel);
      else if (entry.isFile) out.push(rel);
    }
  }
  await walk(root, "");
  return out.sort();
}

/**
 * Re-hashes `root` against its latest ASC MHL manifest, reports every file
 * as ok, mismatch, missing, new or unreadable (the rest is still checked),
 * and appends a generation recording the
 * check (`verified` for matches, `failed` for mismatches, `original` for new files).
 *
 * Requires `--allow-read` and `--allow-write` on `root`.
 *
 * @param root A folder with an `ascmhl/` history.
 * @param options Concurrency and the algorithm for new files.
 * @returns The report.
 * @throws {InputError} When `root` has no history or its manifest was altered.
 *
 * @example
 * ```ts
 * import { copy, verifyTree } from "../mod.ts";
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
  const { concurrency = DEFAULT_HASH_CONCURRENCY } = options;
  let manifest;
  try {
    manifest = await readLatestManifest(root);
  } catch (error) {
    throw new InputError(`Cannot verify '${root}': ${describeError(error)}`, {
      path: root,
      cause: error,
    });
  }
  if (manifest === null) {
    throw new InputError(
      `Cannot verify '${root}': it has no ASC MHL history (no ${MHL_DIR}/ folder)`,
      {
        path: root,
      },
    );
  }
  const algorithm = options.hash ?? manifest.entries[0]?.algorithm ?? DEFAULT_HASH;
  const listed = new Map(manifest.entries.map((e) => [e.path, e]));
  const present = await listFiles(root);
  const paths = [...new Set([...listed.keys(), ...present])].sort();
  const onDisk = new Set(present);
  const files: FileCheck[] = new Array(paths.length);
  const generation: MhlEntry[] = [];
  await using hasher = new FileHasher();
  await forEachLimit(paths, concurrency, async (path, i) => {
    await checkOne(path, i);
    options.onCheck?.(files[i]!);
  });
  const written = await writeGeneration(root, generation, { process: "in-place" });
  return {
    files,
    manifest: manifest.file,
    generation: written,
    ok: files.every((f) => f.status === "ok"),
  };

  async function checkOne(path: string, i: number): Promise<void> {
    const entry = listed.get(path);
    if (!onDisk.has(path)) {
      files[i] = { path, status: "missing", ...(entry ? { expected: entry.digest } : {}) };
      return;
    }
    const full = join(root, path);
    let info: Deno.FileInfo;
    let actual: string;
    try {
      info = await Deno.stat(full);
      actual = await hasher.hash(full, entry?.algorithm ?? algorithm, info.size);
    } catch (error) {
      // One unreadable file is reported, and the rest is still checked.
      const expected = entry ? { expected: entry.digest } : {};
      files[i] = { path, status: "unreadable", ...expected, error: cannotRead(full, error) };
      return;
    }
    const status: CheckStatus = entry === undefined
      ? "new"
      : actual === entry.digest
      ? "ok"
      : "mismatch";
    files[i] = { path, status, ...(entry ? { expected: entry.digest } : {}), actual };
    generation.push({
      path,
      size: info.size,
      mtime: info.mtime,
      algorithm: entry?.algorithm ?? algorithm,
      digest: actual,
      action: status === "ok" ? "verified" : status === "mismatch" ? "failed" : "original",
    });
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
 * import { compareTrees } from "../mod.ts";
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
  const [left, right] = await Promise.all([listFiles(expected), listFiles(actual)]);
  const inRight = new Set(right);
  const inLeft = new Set(left);
  const paths = [...new Set([...left, ...right])].sort();
  const out: FileCheck[] = new Array(paths.length);
  await using hasher = new FileHasher();
  await forEachLimit(paths, concurrency, async (path, i) => {
    try {
      out[i] = await compareOne(path);
    } catch (error) {
      out[i] = { path, status: "unreadable", error: (error as Error).message };
    }
    options.onCheck?.(out[i]!);
  });
  return out;

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
