/**
 * ASC MHL directory hashes, as the reference implementation computes them:
 * a directory's content hash is the hash of its children's content digests
 * sorted and concatenated; its structure hash is the hash of the sorted
 * digests of each child's name followed by the child's digest (a file's
 * content, a folder's structure).
 *
 * @module
 */

import { digestFromC4, type HashAlgorithm, hashBytes } from "../hash.ts";

/** A directory's two hashes. */
export interface DirectoryHash {
  /** Over the contents. */
  content: string;
  /** Over the names and contents. */
  structure: string;
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
 * The folder part of a relative path (`""` for a name at the root).
 *
 * @param path Relative, with `/`.
 * @returns Its parent.
 */
export function parentOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at === -1 ? "" : path.slice(0, at);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function depth(path: string): number {
  return path === "" ? 0 : path.split("/").length;
}

/**
 * Content and structure hashes of every directory (`""` is the root).
 *
 * @param algorithm The algorithm of the files' digests.
 * @param files The files (path relative to the root, digest in `algorithm`).
 * @param dirs Directories to include even when empty.
 * @returns Per directory path, its content and structure hashes.
 *
 * @example
 * ```ts
 * import { directoryHashes } from "./directory_hash.ts";
 *
 * const hashes = await directoryHashes("xxh64", []);
 * console.log(hashes.get("")?.content); // "ef46db3751d8e999" (the hash of nothing)
 * ```
 */
export async function directoryHashes(
  algorithm: HashAlgorithm,
  files: readonly { path: string; digest: string }[],
  dirs: readonly string[] = [],
): Promise<Map<string, DirectoryHash>> {
  const children = new Map<
    string,
    { files: { path: string; digest: string }[]; dirs: Set<string> }
  >();
  const node = (dir: string): { files: { path: string; digest: string }[]; dirs: Set<string> } => {
    let n = children.get(dir);
    if (!n) {
      children.set(dir, n = { files: [], dirs: new Set() });
      if (dir !== "") node(parentOf(dir)).dirs.add(dir);
    }
    return n;
  };
  node("");
  for (const dir of dirs) node(dir);
  for (const file of files) node(parentOf(file.path)).files.push(file);
  const out = new Map<string, DirectoryHash>();
  const order = [...children.keys()].sort((a, b) => depth(b) - depth(a));
  for (const dir of order) {
    const n = children.get(dir)!;
    const content: string[] = [];
    const structure: string[] = [];
    for (const file of n.files) {
      content.push(file.digest);
      structure.push(await hashOfNamed(algorithm, baseOf(file.path), file.digest));
    }
    for (const sub of n.dirs) {
      const h = out.get(sub)!;
      content.push(h.content);
      structure.push(await hashOfNamed(algorithm, baseOf(sub), h.structure));
    }
    out.set(dir, {
      content: await hashOfList(algorithm, content),
      structure: await hashOfList(algorithm, structure),
    });
  }
  return out;
}
