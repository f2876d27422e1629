/**
 * One ASC MHL manifest (a generation): what it records, and reading it back
 * with a streaming XML parser.
 *
 * @module
 */

import { HASH_ALGORITHMS, type HashAlgorithm } from "../hash.ts";
import { MhlError } from "./mhl_error.ts";
import { readXml } from "./xml_reader.ts";

/** What a generation says it did with a hash. */
export type MhlAction = "original" | "verified" | "failed";

/** One hash of a file in one generation. */
export interface MhlHash {
  /** The format (the element's name in the manifest). */
  algorithm: HashAlgorithm;
  /** The digest, as `xxhsum`/`md5sum` print it (hex in lower case, C4 as is). */
  digest: string;
  /** `original` (first recorded), `verified` or `failed` (a later check). */
  action: MhlAction;
}

/** What a manifest records about one file. */
export interface MhlEntry {
  /** Path relative to the history's root, with `/`, exactly as recorded (spaces kept). */
  path: string;
  /** Size in bytes, or `null` when not recorded. */
  size: number | null;
  /** Modification time, or `null` when not recorded. */
  mtime: Date | null;
  /** Its hashes, one per format. */
  hashes: MhlHash[];
  /** The path it had before a rename the generation recorded. */
  previousPath?: string;
}

/** A reference from a manifest to a manifest of a nested history. */
export interface MhlReference {
  /** Path of the referenced manifest relative to this history's root. */
  path: string;
  /** Its C4 hash. */
  c4: string;
}

/** A manifest read back. */
export interface MhlManifest {
  /** Its file name inside `ascmhl/`. */
  file: string;
  /** Its generation number (from the file name). */
  sequence: number;
  /** `transfer`, `in-place` or `flatten`. */
  process: string;
  /** The tool that wrote it, as its `<tool>` element names it. */
  tool: string;
  /** The ignore patterns it records (gitignore syntax). */
  ignore: string[];
  /** The files it lists. */
  entries: MhlEntry[];
  /** The directories it lists (`directoryhash`), relative with `/`. */
  directories: string[];
  /** Manifests of nested histories it references. */
  references: MhlReference[];
}

const ALGORITHMS = new Set<string>(HASH_ALGORITHMS);
const ACTIONS = new Set<string>(["original", "verified", "failed"]);

/** The generation number in a manifest's name (`0007_A001_….mhl` → 7), or `null`. */
export function sequenceOf(name: string): number | null {
  const match = /^(\d{4,})(?:_.+)?\.mhl$/.exec(name);
  return match === null ? null : Number(match[1]);
}

/** A digest as ferry compares it: hex in lower case; C4 IDs are case-sensitive. */
export function normalDigest(algorithm: HashAlgorithm, digest: string): string {
  const trimmed = digest.trim();
  return algorithm === "c4" ? trimmed : trimmed.toLowerCase();
}

/**
 * Reads a manifest. With `onEntry`, each file is handed over as it is read
 * and `entries` stays empty, so a manifest of any size is read in bounded memory.
 *
 * Requires `--allow-read`.
 *
 * @param path The manifest.
 * @param onEntry Called for each file, in document order.
 * @returns The manifest.
 * @throws {MhlError} When it cannot be read, is not well-formed, or is not an ASC MHL manifest.
 *
 * @example
 * ```ts
 * import { copy, readManifest } from "../../../mod.ts";
 *
 * const src = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${src}/a.exr`, "pixels");
 * await copy(src, `${src}-out`, { mhl: true });
 * const [name] = [...Deno.readDirSync(`${src}-out/ascmhl`)].map((e) => e.name)
 *   .filter((n) => n.endsWith(".mhl"));
 * const manifest = await readManifest(`${src}-out/ascmhl/${name}`);
 * console.log(manifest.entries[0]?.path); // "a.exr"
 * await Deno.remove(src, { recursive: true });
 * await Deno.remove(`${src}-out`, { recursive: true });
 * ```
 */
export async function readManifest(
  path: string,
  onEntry?: (entry: MhlEntry) => void,
): Promise<MhlManifest> {
  const file = path.split("/").at(-1)!;
  const manifest: MhlManifest = {
    file,
    sequence: sequenceOf(file) ?? 0,
    process: "",
    tool: "",
    ignore: [],
    entries: [],
    directories: [],
    references: [],
  };
  let entry: MhlEntry | undefined;
  let directory: string | undefined;
  let reference: Partial<MhlReference> | undefined;
  let root: string | undefined;
  const notMhl = (why: string): MhlError =>
    new MhlError("MHL_BAD_XML", `'${path}' is not an ASC MHL manifest (${why})`, { path });
  await readXml(path, {
    open(name, ancestors): void {
      if (ancestors.length === 0) {
        root = name;
        if (name !== "hashlist") throw notMhl(`its root element is <${name}>, not <hashlist>`);
      }
      if (name === "hash") entry = { path: "", size: null, mtime: null, hashes: [] };
      else if (name === "directoryhash") directory = "";
      else if (name === "hashlistreference") reference = {};
    },
    close({ name, attributes, text, ancestors }): void {
      const parent = ancestors.at(-1);
      if (entry !== undefined) {
        if (name === "path" && parent === "hash") {
          entry.path = text;
          if (attributes.size !== undefined) entry.size = Number(attributes.size);
          const date = attributes.lastmodificationdate;
          if (date !== undefined) entry.mtime = new Date(date);
        } else if (name === "previousPath") entry.previousPath = text;
        else if (ALGORITHMS.has(name) && parent === "hash") {
          const algorithm = name as HashAlgorithm;
          const action = attributes.action ?? "original";
          if (!ACTIONS.has(action)) throw notMhl(`unknown action '${action}' for '${entry.path}'`);
          entry.hashes.push({
            algorithm,
            digest: normalDigest(algorithm, text),
            action: action as MhlAction,
          });
        } else if (name === "hash") {
          if (entry.path === "") throw notMhl("a <hash> without a <path>");
          if (onEntry !== undefined) onEntry(entry);
          else manifest.entries.push(entry);
          entry = undefined;
        }
      } else if (directory !== undefined) {
        if (name === "path" && parent === "directoryhash") directory = text;
        else if (name === "directoryhash") {
          manifest.directories.push(directory);
          directory = undefined;
        }
      } else if (reference !== undefined) {
        if (name === "path") reference.path = text;
        else if (name === "c4") reference.c4 = text.trim();
        else if (name === "hashlistreference") {
          if (reference.path === undefined || reference.c4 === undefined) {
            throw notMhl("a <hashlistreference> without <path> or <c4>");
          }
          manifest.references.push(reference as MhlReference);
          reference = undefined;
        }
      } else if (name === "process") manifest.process = text.trim();
      else if (name === "tool") manifest.tool = text.trim();
      else if (name === "pattern" && parent === "ignore") manifest.ignore.push(text);
    },
  });
  if (root === undefined) throw notMhl("it is empty");
  return manifest;
}
