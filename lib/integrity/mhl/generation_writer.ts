/**
 * Writing a new generation into a history (and into each nested history
 * that holds some of its files, with references from the enclosing one, as
 * the ASC MHL reference implementation does). Each file's hashes are
 * compared with what the history recorded first: `original` for a file never
 * recorded, `verified` or `failed` for one that was.
 *
 * A generation's number is claimed atomically: the manifest is written whole
 * under a temporary name, then linked to its numbered name, which fails if
 * another run took that number first (the next one is tried); the chain is
 * rewritten through a rename; writers take turns on a lock of `ascmhl/`.
 * A manifest that cannot be written whole leaves nothing behind.
 *
 * @module
 */

import { basename, join } from "node:path";
import { describeError } from "../../errors.ts";
import { FileHasher } from "../file_hasher.ts";
import { type HashAlgorithm, hashBytes } from "../hash.ts";
import { flushToStorage } from "../../fs/publish.ts";
import { VERSION } from "../../version.ts";
import { hostName } from "../../host.ts";
import { MHL_DIR, readChain, writeChain } from "./chain.ts";
import { directoryHashes } from "./directory_hash.ts";
import { withFolderLock } from "./folder_lock.ts";
import { loadHistory, type MhlHistory, ownerOf, recordOf } from "./history.ts";
import { IgnoreSpec } from "./ignore_spec.ts";
import { type MhlHash, sequenceOf } from "./manifest.ts";
import { MhlError } from "./mhl_error.ts";
import { xmlDate, xmlEscape } from "./xml_writer.ts";

/** A file to record: where it is, and the digests just computed of it. */
export interface GenerationFile {
  /** Path relative to the root, with `/`, no leading slash. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Modification time. */
  mtime: Date | null;
  /** Its digests, at least one. */
  hashes: { algorithm: HashAlgorithm; digest: string }[];
}

/** Options for {@linkcode writeGeneration}. */
export interface GenerationOptions {
  /**
   * `transfer` for a copy, `in-place` for a verification of files where they are.
   * @default {"transfer"}
   */
  process?: "transfer" | "in-place";
  /**
   * Directories (relative, with `/`) to list even when empty.
   * @default {[]}
   */
  dirs?: readonly string[];
  /**
   * The time the generation is dated.
   * @default {now}
   */
  date?: Date;
  /**
   * Flush each manifest, the chain file and the `ascmhl/` folder to storage.
   * @default {false}
   */
  fsync?: boolean;
  /**
   * The history of `root`, when the caller has read it already.
   * @default {read from root}
   */
  history?: MhlHistory;
  /**
   * Ignore patterns added to the ones the history records (which are kept).
   * @default {[]}
   */
  ignore?: readonly string[];
}

/** One history's part of the generation. */
interface Part {
  history: MhlHistory;
  files: { path: string; size: number; mtime: Date | null; hashes: MhlHash[] }[];
  dirs: Set<string>;
  references: { path: string; c4: string }[];
}

/**
 * The hashes to record for a file, with their actions, hashing the file again
 * in a format the history recorded and the caller did not compute.
 */
async function hashesToRecord(
  top: MhlHistory,
  root: string,
  file: GenerationFile,
  hasher: FileHasher,
): Promise<MhlHash[]> {
  const record = recordOf(top, file.path);
  if (record === undefined || record.hashes.length === 0) {
    return file.hashes.map((h) => ({ ...h, action: "original" }));
  }
  const out: MhlHash[] = [];
  for (const recorded of record.hashes) {
    const digest = file.hashes.find((h) => h.algorithm === recorded.algorithm)?.digest ??
      await hasher.hash(join(root, file.path), recorded.algorithm, file.size);
    out.push({
      algorithm: recorded.algorithm,
      digest,
      action: digest === recorded.digest ? "verified" : "failed",
    });
  }
  // A format new to this file is only as good as the recorded ones it was checked with.
  if (out.every((h) => h.action === "verified")) {
    for (const h of file.hashes) {
      if (!out.some((o) => o.algorithm === h.algorithm)) out.push({ ...h, action: "verified" });
    }
  }
  return out;
}

function manifestText(
  part: Part,
  algorithm: HashAlgorithm,
  hashes: Map<string, { content: string; structure: string }>,
  process: string,
  ignore: readonly string[],
  date: Date,
): string {
  const stamp = xmlDate(date);
  const prefix = part.history.prefix;
  const dirHash = (rel: string) =>
    hashes.get(prefix === "" ? rel : rel === "" ? prefix : `${prefix}/${rel}`)!;
  const twoHashes = (h: { content: string; structure: string }, indent: string): string[] => [
    `${indent}<content><${algorithm} hashdate="${stamp}">${h.content}</${algorithm}></content>`,
    `${indent}<structure><${algorithm} hashdate="${stamp}">${h.structure}</${algorithm}></structure>`,
  ];
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">`,
    `  <creatorinfo>`,
    `    <creationdate>${stamp}</creationdate>`,
    `    <hostname>${xmlEscape(hostName())}</hostname>`,
    `    <tool version="${VERSION}">ferry</tool>`,
    `  </creatorinfo>`,
    `  <processinfo>`,
    `    <process>${process}</process>`,
    `    <roothash>`,
    ...twoHashes(dirHash(""), "      "),
    `    </roothash>`,
    `    <ignore>`,
    ...ignore.map((p) => `      <pattern>${xmlEscape(p)}</pattern>`),
    `    </ignore>`,
    `  </processinfo>`,
    `  <hashes>`,
  ];
  const byPath = <T extends { path: string }>(a: T, b: T): number =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  for (const file of [...part.files].sort(byPath)) {
    const mtime = file.mtime === null ? "" : ` lastmodificationdate="${xmlDate(file.mtime)}"`;
    lines.push(
      `    <hash>`,
      `      <path size="${file.size}"${mtime}>${xmlEscape(file.path)}</path>`,
    );
    for (const h of [...file.hashes].sort((a, b) => a.algorithm < b.algorithm ? -1 : 1)) {
      lines.push(
        `      <${h.algorithm} action="${h.action}" hashdate="${stamp}">${h.digest}</${h.algorithm}>`,
      );
    }
    lines.push(`    </hash>`);
  }
  for (const dir of [...part.dirs].sort()) {
    lines.push(
      `    <directoryhash>`,
      `      <path>${xmlEscape(dir)}</path>`,
      ...twoHashes(dirHash(dir), "      "),
      `    </directoryhash>`,
    );
  }
  lines.push(`  </hashes>`);
  if (part.references.length > 0) {
    lines.push(`  <references>`);
    for (const ref of part.references) {
      lines.push(
        `    <hashlistreference>`,
        `      <path>${xmlEscape(ref.path)}</path>`,
        `      <c4>${ref.c4}</c4>`,
        `    </hashlistreference>`,
      );
    }
    lines.push(`  </references>`);
  }
  lines.push(`</hashlist>`, ``);
  return lines.join("\n");
}

/**
 * Adds a manifest to the history of `root` under the next free number and
 * chains it. Nothing is left behind when it fails.
 *
 * @returns The manifest's file name and C4 hash.
 */
async function appendManifest(
  root: string,
  text: string,
  date: Date,
  fsync: boolean,
): Promise<{ name: string; c4: string }> {
  const folder = join(root, MHL_DIR);
  const failed = (path: string, error: unknown): MhlError =>
    error instanceof MhlError ? error : new MhlError(
      "MHL_WRITE_FAILED",
      `cannot write the ASC MHL manifest '${path}': ${describeError(error)}`,
      { path, cause: error },
    );
  try {
    await Deno.mkdir(folder, { recursive: true });
  } catch (error) {
    throw failed(folder, error);
  }
  const bytes = new TextEncoder().encode(text);
  const c4 = await hashBytes("c4", bytes);
  const stamp = xmlDate(date);
  const nameFor = (sequence: number): string =>
    `${String(sequence).padStart(4, "0")}_${basename(root)}_${stamp.slice(0, 10)}_${
      stamp.slice(11, 19).replace(/:/g, "")
    }Z.mhl`;
  return await withFolderLock(folder, true, async () => {
    const chain = await readChain(root);
    let sequence = chain.reduce((max, c) => Math.max(max, c.sequence), 0);
    for await (const entry of Deno.readDir(folder)) {
      sequence = Math.max(sequence, sequenceOf(entry.name) ?? 0);
    }
    sequence++;
    const tmp = join(folder, `.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.mhl.tmp`);
    let final = join(folder, nameFor(sequence));
    let claimedEmpty = false;
    try {
      await Deno.writeFile(tmp, bytes, { createNew: true });
      if (fsync) await flushToStorage(tmp);
      for (;;) {
        final = join(folder, nameFor(sequence));
        try {
          await Deno.link(tmp, final); // fails if another run claimed this number
          break;
        } catch (error) {
          if (error instanceof Deno.errors.AlreadyExists) {
            sequence++;
            continue;
          }
          // No hard links here (many NAS shares): claim the name by exclusive create.
          const claimed = await Deno.open(final, { write: true, createNew: true }).then(
            (f) => (f.close(), true),
            (e) => {
              if (e instanceof Deno.errors.AlreadyExists) return false;
              throw e;
            },
          );
          if (!claimed) {
            sequence++;
            continue;
          }
          claimedEmpty = true;
          await Deno.rename(tmp, final);
          claimedEmpty = false;
          break;
        }
      }
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      if (claimedEmpty) await Deno.remove(final).catch(() => {});
      throw failed(final, error);
    }
    await Deno.remove(tmp).catch(() => {});
    try {
      chain.push({ sequence, file: basename(final), c4 });
      await writeChain(root, chain, fsync);
      if (fsync) await flushToStorage(folder);
    } catch (error) {
      // An unchained manifest would read as a rolled-back history: take it back.
      await Deno.remove(final).catch(() => {});
      throw failed(final, error);
    }
    return { name: basename(final), c4 };
  });
}

/**
 * Writes a new generation into `root/ascmhl/` (and into nested histories
 * below `root` that hold some of the files): the manifests and updated chain files.
 *
 * Requires `--allow-read` and `--allow-write` on `root` (and `--allow-sys=hostname`
 * to record the host name; without it the manifest says `unknown`).
 *
 * @param root The delivered folder.
 * @param files The files, with their digests.
 * @param options Process type, empty directories, date, flushing, the history.
 * @returns The manifests written, nested ones first, `root`'s last.
 * @throws {MhlError} `MHL_WRITE_FAILED` when a manifest or chain cannot be
 * written (nothing half-written stays), or any reading error of the history.
 *
 * @example
 * ```ts
 * import { writeGeneration } from "./generation_writer.ts";
 *
 * const root = await Deno.makeTempDir();
 * const [manifest] = await writeGeneration(root, [{
 *   path: "a.exr", size: 3, mtime: new Date(),
 *   hashes: [{ algorithm: "xxh64", digest: "ef46db3751d8e999" }],
 * }]);
 * console.log(manifest?.endsWith(".mhl")); // true
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeGeneration(
  root: string,
  files: readonly GenerationFile[],
  options: GenerationOptions = {},
): Promise<string[]> {
  const { process = "transfer", dirs = [], date = new Date(), fsync = false } = options;
  const top = options.history ?? await loadHistory(root);
  const histories = [top, ...top.children];
  const specs = new Map(histories.map((h) => [h, new IgnoreSpec(options.ignore, h.ignore)]));
  const parts = new Map<MhlHistory, Part>(
    histories.map((h) => [h, { history: h, files: [], dirs: new Set(), references: [] }]),
  );
  const algorithm = files[0]?.hashes[0]?.algorithm ?? top.latestAlgorithm ?? "xxh64";
  const forHashes: { path: string; digest: string }[] = [];
  await using hasher = new FileHasher();
  for (const file of files) {
    const own = ownerOf(top, file.path);
    if (specs.get(own.history)!.ignores(own.path, false)) continue;
    const hashes = await hashesToRecord(top, root, file, hasher);
    if (hashes.length === 0) continue;
    parts.get(own.history)!.files.push({ ...file, path: own.path, hashes });
    const digest = hashes.find((h) => h.algorithm === algorithm)?.digest;
    if (digest !== undefined) forHashes.push({ path: file.path, digest });
  }
  const allDirs: string[] = [];
  const addDir = (dir: string): void => {
    const own = ownerOf(top, dir);
    if (own.history !== top && own.path === "") return;
    if (specs.get(own.history)!.ignores(own.path, true)) return;
    parts.get(own.history)!.dirs.add(own.path);
    allDirs.push(dir);
  };
  for (const dir of dirs) addDir(dir);
  for (const file of files) {
    for (let at = file.path.indexOf("/"); at !== -1; at = file.path.indexOf("/", at + 1)) {
      addDir(file.path.slice(0, at));
    }
  }
  const hashes = await directoryHashes(algorithm, forHashes, allDirs);
  const written: string[] = [];
  // Deepest first, so that each enclosing history can reference its children's new manifests.
  const order = [...top.children].sort((a, b) => b.prefix.length - a.prefix.length);
  for (const history of [...order, top]) {
    const part = parts.get(history)!;
    if (history !== top && part.files.length === 0 && part.references.length === 0) continue;
    const text = manifestText(part, algorithm, hashes, process, specs.get(history)!.patterns, date);
    const { name, c4 } = await appendManifest(history.root, text, date, fsync);
    written.push(join(history.root, MHL_DIR, name));
    if (history === top) continue;
    const parent = ownerOf(top, history.prefix).history;
    const within = parent === top ? history.prefix : history.prefix.slice(parent.prefix.length + 1);
    const parentPart = parts.get(parent)!;
    parentPart.references.push({ path: `${within}/${MHL_DIR}/${name}`, c4 });
    parentPart.dirs.add(within);
  }
  return written;
}
