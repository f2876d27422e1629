/**
 * ASC MHL v2.0 histories: one `ascmhl/` folder per delivered root with a
 * numbered manifest per generation (`NNNN_<folder>_<YYYY-MM-DD>_<HHMMSSZ>.mhl`)
 * and `ascmhl_chain.xml` listing every manifest with its C4 hash. Directory
 * hashes follow the ASC MHL reference implementation: a directory's content
 * hash is the hash of its children's content digests sorted and concatenated;
 * its structure hash is the hash of the sorted digests of each child's name
 * followed by the child's digest (a file's content, a folder's structure).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { c4FromDigest, digestFromC4, type HashAlgorithm, hashBytes } from "./hash.ts";
import { VERSION } from "./version.ts";
import { flushToStorage } from "./publish.ts";

/** The manifest folder inside a root. */
export const MHL_DIR = "ascmhl";
/** The chain file inside {@linkcode MHL_DIR}. */
export const CHAIN_FILE = "ascmhl_chain.xml";
/** Names ferry never lists in a manifest. */
export const MHL_IGNORE: readonly string[] = [".DS_Store", MHL_DIR];

/** What a manifest says about one file. */
export interface MhlEntry {
  /** Path relative to the root, with `/`, no leading slash. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Modification time. */
  mtime: Date | null;
  /** The algorithm of `digest`. */
  algorithm: HashAlgorithm;
  /** The digest. */
  digest: string;
  /** `original` (hashed from the source), `verified` or `failed` (re-checked). */
  action: "original" | "verified" | "failed";
}

/** A manifest read back. */
export interface MhlManifest {
  /** Its file name inside `ascmhl/`. */
  file: string;
  /** Its generation number. */
  sequence: number;
  /** The files it lists. */
  entries: MhlEntry[];
}

/** Options for {@linkcode writeGeneration}. */
export interface GenerationOptions {
  /**
   * `transfer` for a copy, `in-place` for a verification of files where they are.
   * @default {"transfer"}
   */
  process?: "transfer" | "in-place" | "flatten";
  /**
   * Directories (relative, with `/`) to list even when empty.
   * @default {[]}
   */
  dirs?: string[];
  /**
   * The time the generation is dated.
   * @default {now}
   */
  date?: Date;
  /**
   * Flush the manifest, the chain file and the `ascmhl/` folder to storage
   * (as the transfer's `fsync` option does for the files).
   * @default {false}
   */
  fsync?: boolean;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function xmlUnescape(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(
    /&apos;/g,
    "'",
  ).replace(/&amp;/g, "&");
}

function xmlDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function digestBytes(algorithm: HashAlgorithm, digest: string): Uint8Array {
  if (algorithm === "c4") return digestFromC4(digest);
  return Uint8Array.from(digest.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** Hash of a list of digests: sorted as text, concatenated as bytes. */
async function hashOfList(algorithm: HashAlgorithm, digests: string[]): Promise<string> {
  const parts = [...digests].sort().map((d) => digestBytes(algorithm, d));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return await hashBytes(algorithm, all);
}

/** Hash of a child's name followed by its digest. */
async function hashOfNamed(
  algorithm: HashAlgorithm,
  name: string,
  digest: string,
): Promise<string> {
  const nameBytes = new TextEncoder().encode(name);
  const digestPart = digestBytes(algorithm, digest);
  const all = new Uint8Array(nameBytes.length + digestPart.length);
  all.set(nameBytes);
  all.set(digestPart, nameBytes.length);
  return await hashBytes(algorithm, all);
}

/**
 * Content and structure hashes of every directory (`""` is the root).
 *
 * @param algorithm The algorithm of the entries' digests.
 * @param entries The files.
 * @param dirs Directories to include even when empty.
 * @returns Per directory path, its content and structure hashes.
 *
 * @example
 * ```ts
 * import { directoryHashes } from "./mhl.ts";
 *
 * const hashes = await directoryHashes("xxh64", []);
 * console.log(hashes.get("")?.content); // "ef46db3751d8e999" (the hash of nothing)
 * ```
 */
export async function directoryHashes(
  algorithm: HashAlgorithm,
  entries: readonly MhlEntry[],
  dirs: readonly string[] = [],
): Promise<Map<string, { content: string; structure: string }>> {
  const children = new Map<string, { files: MhlEntry[]; dirs: Set<string> }>();
  const node = (dir: string): { files: MhlEntry[]; dirs: Set<string> } => {
    let n = children.get(dir);
    if (!n) {
      children.set(dir, n = { files: [], dirs: new Set() });
      if (dir !== "") node(parentOf(dir)).dirs.add(dir);
    }
    return n;
  };
  node("");
  for (const dir of dirs) node(dir);
  for (const entry of entries) node(parentOf(entry.path)).files.push(entry);
  const out = new Map<string, { content: string; structure: string }>();
  const order = [...children.keys()].sort((a, b) => depth(b) - depth(a));
  for (const dir of order) {
    const n = children.get(dir)!;
    const content: string[] = [];
    const structure: string[] = [];
    for (const file of n.files) {
      content.push(file.digest);
      structure.push(await hashOfNamed(algorithm, basename(file.path), file.digest));
    }
    for (const sub of n.dirs) {
      const h = out.get(sub)!;
      content.push(h.content);
      structure.push(await hashOfNamed(algorithm, basename(sub), h.structure));
    }
    out.set(dir, {
      content: await hashOfList(algorithm, content),
      structure: await hashOfList(algorithm, structure),
    });
  }
  return out;
}

function parentOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at === -1 ? "" : path.slice(0, at);
}

function depth(path: string): number {
  return path === "" ? 0 : path.split("/").length;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown"; // needs --allow-sys=hostname
  }
}

/**
 * Writes a new generation into `root/ascmhl/`: the manifest and an updated chain file.
 *
 * Requires `--allow-read` and `--allow-write` on `root` (and `--allow-sys=hostname`
 * to record the host name; without it the manifest says `unknown`).
 *
 * @param root The delivered folder.
 * @param entries The files, with their digests (all of one algorithm).
 * @param options Process type, empty directories, date.
 * @returns The manifest's path.
 *
 * @example
 * ```ts
 * import { writeGeneration } from "./mhl.ts";
 *
 * const root = await Deno.makeTempDir();
 * const manifest = await writeGeneration(root, [{
 *   path: "a.exr", size: 3, mtime: new Date(), algorithm: "xxh64",
 *   digest: "ef46db3751d8e999", action: "original",
 * }]);
 * console.log(manifest.endsWith(".mhl")); // true
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeGeneration(
  root: string,
  entries: readonly MhlEntry[],
  options: GenerationOptions = {},
): Promise<string> {
  const { process = "transfer", dirs = [], date = new Date(), fsync = false } = options;
  const algorithm = entries[0]?.algorithm ?? "xxh64";
  const folder = join(root, MHL_DIR);
  await Deno.mkdir(folder, { recursive: true });
  const chain = await readChain(root);
  const sequence = chain.reduce((max, c) => Math.max(max, c.sequence), 0) + 1;
  const stamp = xmlDate(date);
  const name = `${String(sequence).padStart(4, "0")}_${basename(root)}_${stamp.slice(0, 10)}_${
    stamp.slice(11, 19).replace(/:/g, "")
  }Z.mhl`;
  const hashes = await directoryHashes(algorithm, entries, dirs);
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">`,
    `  <creatorinfo>`,
    `    <creationdate>${stamp}</creationdate>`,
    `    <hostname>${xmlEscape(hostname())}</hostname>`,
    `    <tool version="${VERSION}">ferry</tool>`,
    `  </creatorinfo>`,
    `  <processinfo>`,
    `    <process>${process}</process>`,
    `    <roothash>`,
    `      <content><${algorithm} hashdate="${stamp}">${
      hashes.get("")!.content
    }</${algorithm}></content>`,
    `      <structure><${algorithm} hashdate="${stamp}">${
      hashes.get("")!.structure
    }</${algorithm}></structure>`,
    `    </roothash>`,
    `    <ignore>`,
    ...MHL_IGNORE.map((p) => `      <pattern>${xmlEscape(p)}</pattern>`),
    `    </ignore>`,
    `  </processinfo>`,
  ];
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (sorted.length > 0 || hashes.size > 1) lines.push(`  <hashes>`);
  for (const e of sorted) {
    const mtime = e.mtime === null ? "" : ` lastmodificationdate="${xmlDate(e.mtime)}"`;
    lines.push(
      `    <hash>`,
      `      <path size="${e.size}"${mtime}>${xmlEscape(e.path)}</path>`,
      `      <${e.algorithm} action="${e.action}" hashdate="${stamp}">${e.digest}</${e.algorithm}>`,
      `    </hash>`,
    );
  }
  for (const [dir, h] of [...hashes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (dir === "") continue;
    lines.push(
      `    <directoryhash>`,
      `      <path>${xmlEscape(dir)}</path>`,
      `      <content><${algorithm} hashdate="${stamp}">${h.content}</${algorithm}></content>`,
      `      <structure><${algorithm} hashdate="${stamp}">${h.structure}</${algorithm}></structure>`,
      `    </directoryhash>`,
    );
  }
  if (sorted.length > 0 || hashes.size > 1) lines.push(`  </hashes>`);
  lines.push(`</hashlist>`, ``);
  const text = lines.join("\n");
  const path = join(folder, name);
  await Deno.writeTextFile(path, text, { createNew: true });
  if (fsync) await flushToStorage(path);
  const c4 = await manifestC4(new TextEncoder().encode(text));
  chain.push({ sequence, file: name, c4 });
  await writeChain(root, chain, fsync);
  if (fsync) await flushToStorage(folder);
  return path;
}

async function manifestC4(bytes: Uint8Array): Promise<string> {
  const data = bytes as Uint8Array<ArrayBuffer>;
  return c4FromDigest(new Uint8Array(await crypto.subtle.digest("SHA-512", data)));
}

interface ChainEntry {
  sequence: number;
  file: string;
  c4: string;
}

async function readChain(root: string): Promise<ChainEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, MHL_DIR, CHAIN_FILE));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const out: ChainEntry[] = [];
  for (const m of text.matchAll(/<hashlist\s+sequencenr="(\d+)"\s*>([\s\S]*?)<\/hashlist>/g)) {
    const file = /<path>([\s\S]*?)<\/path>/.exec(m[2]!)?.[1];
    const c4 = /<c4[^>]*>([\s\S]*?)<\/c4>/.exec(m[2]!)?.[1];
    if (file !== undefined && c4 !== undefined) {
      out.push({ sequence: Number(m[1]), file: xmlUnescape(file.trim()), c4: c4.trim() });
    }
  }
  return out;
}

async function writeChain(
  root: string,
  chain: readonly ChainEntry[],
  fsync: boolean,
): Promise<void> {
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">`,
    ...chain.flatMap((c) => [
      `  <hashlist sequencenr="${c.sequence}">`,
      `    <path>${xmlEscape(c.file)}</path>`,
      `    <c4>${c.c4}</c4>`,
      `  </hashlist>`,
    ]),
    `</ascmhldirectory>`,
    ``,
  ];
  const path = join(root, MHL_DIR, CHAIN_FILE);
  const tmp = join(dirname(path), `.${CHAIN_FILE}.tmp`);
  await Deno.writeTextFile(tmp, lines.join("\n"));
  if (fsync) await flushToStorage(tmp);
  await Deno.rename(tmp, path);
}

/**
 * Reads the newest manifest of a root's history, checking it against the
 * C4 hash the chain file records for it.
 *
 * Requires `--allow-read`.
 *
 * @param root The delivered folder.
 * @returns The manifest, or `null` when the root has no history.
 * @throws {Error} When the manifest does not match its chain entry.
 *
 * @example
 * ```ts
 * import { readLatestManifest } from "./mhl.ts";
 *
 * const root = await Deno.makeTempDir();
 * console.log(await readLatestManifest(root)); // null
 * await Deno.remove(root);
 * ```
 */
export async function readLatestManifest(root: string): Promise<MhlManifest | null> {
  const chain = await readChain(root);
  const last = chain.sort((a, b) => a.sequence - b.sequence).at(-1);
  if (last === undefined) return null;
  const bytes = await Deno.readFile(join(root, MHL_DIR, last.file));
  if ((await manifestC4(bytes)) !== last.c4) {
    throw new Error(
      `The manifest '${last.file}' was changed after it was written (its C4 hash does not match the chain)`,
    );
  }
  const text = new TextDecoder().decode(bytes);
  const entries: MhlEntry[] = [];
  for (const m of text.matchAll(/<hash>([\s\S]*?)<\/hash>/g)) {
    const body = m[1]!;
    const path = /<path([^>]*)>([\s\S]*?)<\/path>/.exec(body);
    const digest = /<(xxh64|xxh3|xxh128|md5|sha1|c4)([^>]*)>([\s\S]*?)<\/\1>/.exec(body);
    if (!path || !digest) continue;
    const size = /size="(\d+)"/.exec(path[1]!)?.[1];
    const mtime = /lastmodificationdate="([^"]+)"/.exec(path[1]!)?.[1];
    const action = /action="(original|verified|failed)"/.exec(digest[2]!)?.[1] ?? "original";
    entries.push({
      path: xmlUnescape(path[2]!.trim()),
      size: Number(size ?? 0),
      mtime: mtime === undefined ? null : new Date(mtime),
      algorithm: digest[1] as HashAlgorithm,
      digest: digest[3]!.trim(),
      action: action as MhlEntry["action"],
    });
  }
  return { file: last.file, sequence: last.sequence, entries };
}
