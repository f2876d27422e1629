/**
 * The chain file, `ascmhl/ascmhl_chain.xml`: every generation of a history
 * with the C4 hash of its manifest, so that a changed, removed or
 * rolled-back manifest is noticed.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { flushToStorage } from "../../fs/publish.ts";
import { describeError } from "../../errors.ts";
import { MhlError } from "./mhl_error.ts";
import { readXml } from "./xml_reader.ts";
import { xmlEscape } from "./xml_writer.ts";

/** The manifest folder inside a root. */
export const MHL_DIR = "ascmhl";
/** The chain file inside {@linkcode MHL_DIR}. */
export const CHAIN_FILE = "ascmhl_chain.xml";

/** One generation as the chain lists it. */
export interface ChainEntry {
  /** The generation number. */
  sequence: number;
  /** The manifest's file name inside `ascmhl/`. */
  file: string;
  /** The C4 hash of the manifest's bytes. */
  c4: string;
}

/**
 * Reads a history's chain file. A missing `ascmhl/` folder is an empty chain.
 *
 * Requires `--allow-read`.
 *
 * @param root The folder holding `ascmhl/`.
 * @returns The generations, by number.
 * @throws {MhlError} `MHL_NO_CHAIN` when `ascmhl/` holds manifests but no chain file;
 * `MHL_BAD_XML` or `MHL_UNREADABLE` when the chain cannot be read.
 *
 * @example
 * ```ts
 * import { readChain } from "./chain.ts";
 *
 * const root = await Deno.makeTempDir();
 * console.log(await readChain(root)); // []
 * await Deno.remove(root);
 * ```
 */
export async function readChain(root: string): Promise<ChainEntry[]> {
  const folder = join(root, MHL_DIR);
  const path = join(folder, CHAIN_FILE);
  try {
    await Deno.stat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new MhlError("MHL_UNREADABLE", `cannot read '${path}': ${describeError(error)}`, {
        path,
        cause: error,
      });
    }
    // No folder, or one with no manifest yet (a first generation being written): no history.
    const names = await Array.fromAsync(Deno.readDir(folder)).catch(() => []);
    if (!names.some((e) => e.name.endsWith(".mhl") && !e.name.startsWith("."))) return [];
    throw new MhlError(
      "MHL_NO_CHAIN",
      `the ASC MHL history in '${root}' has no chain file: '${path}' is missing`,
      { path },
    );
  }
  const out: ChainEntry[] = [];
  let current: Partial<ChainEntry> | undefined;
  const bad = (why: string): MhlError =>
    new MhlError("MHL_BAD_XML", `'${path}' is not an ASC MHL chain file (${why})`, { path });
  let rootName: string | undefined;
  await readXml(path, {
    open(name, ancestors): void {
      if (ancestors.length === 0) {
        rootName = name;
        if (name !== "ascmhldirectory") throw bad(`its root element is <${name}>`);
      }
      if (name === "hashlist" && ancestors.length === 1) current = {};
    },
    close({ name, attributes, text, ancestors }): void {
      if (current === undefined) return;
      if (name === "path") current.file = text;
      else if (name === "c4") current.c4 = text.trim();
      else if (name === "hashlist" && ancestors.length === 1) {
        const sequence = Number(attributes.sequencenr);
        if (!Number.isSafeInteger(sequence) || sequence < 1) {
          throw bad(`a <hashlist> with sequencenr '${attributes.sequencenr ?? ""}'`);
        }
        if (current.file === undefined || current.c4 === undefined) {
          throw bad(`generation ${sequence} has no <path> or <c4>`);
        }
        out.push({ sequence, file: current.file, c4: current.c4 });
        current = undefined;
      }
    },
  });
  if (rootName === undefined) throw bad("it is empty");
  return out.sort((a, b) => a.sequence - b.sequence);
}

/**
 * Writes a chain file through a temporary name and a rename, so that a reader
 * never sees half of it and a failed write leaves the old chain in place.
 *
 * Requires `--allow-write` on `root/ascmhl`.
 *
 * @param root The folder holding `ascmhl/`.
 * @param chain Every generation.
 * @param fsync Flush the file before the rename.
 *
 * @example
 * ```ts
 * import { readChain, writeChain } from "./chain.ts";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/ascmhl`);
 * await writeChain(root, [{ sequence: 1, file: "0001_x.mhl", c4: "c4abc" }], false);
 * console.log((await readChain(root)).length); // 1
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeChain(
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
  const tmp = join(dirname(path), `.${CHAIN_FILE}.${Deno.pid}.tmp`);
  try {
    await Deno.writeTextFile(tmp, lines.join("\n"));
    if (fsync) await flushToStorage(tmp);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw new MhlError(
      "MHL_WRITE_FAILED",
      `cannot write the chain file '${path}': ${describeError(error)}`,
      { path, cause: error },
    );
  }
}
