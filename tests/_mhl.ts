/**
 * Helpers of the ASC MHL tests: the newest manifest of a root, schema
 * validation with xmllint, and the ASC MHL reference implementation from
 * ../shared/ascmhl-ref as the oracle.
 *
 * @module
 */

import { join } from "node:path";
import { type MhlManifest, readManifest } from "../mod.ts";
import { assertEquals, listTree, ROOT } from "./_helpers.ts";

const XSD = join(ROOT, "..", "shared", "ascmhl-xsd");
const REF = join(ROOT, "..", "shared", "ascmhl-ref");

/** Why xmllint schema validation cannot run here, or `null`. */
export const noSchemaCheck: string | null = await (async () => {
  try {
    await new Deno.Command("xmllint", { args: ["--version"], stderr: "null" }).output();
  } catch {
    return "no xmllint (Debian libxml2-utils)";
  }
  const haveXsd = await Deno.stat(join(XSD, "ASCMHL.xsd")).then(() => true, () => false);
  return haveXsd ? null : `no schemas in ${XSD}`;
})();

/** Why the reference implementation cannot run here, or `null`. */
export const noReference: string | null = await (async () => {
  const script = join(REF, "ascmhl");
  if (!(await Deno.stat(script).then(() => true, () => false))) return `no ${script}`;
  let probe: Deno.CommandOutput | null = null;
  try {
    probe = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import click, lxml, xxhash, dateutil, pathspec"],
      stderr: "null",
    }).output();
  } catch {
    // no python3
  }
  return probe?.success
    ? null
    : `the reference's Python packages are missing (sh ${REF}/install-deps.sh)`;
})();

/** The example histories the reference implementation ships. */
export const SCENARIOS = join(REF, "examples", "scenarios", "Output");

/** What the reference tool printed and returned. */
export interface RefRun {
  code: number;
  output: string;
}

/**
 * Runs the reference implementation (`ascmhl create|info|diff …`).
 *
 * @param args Its arguments.
 * @returns Exit code and combined output.
 */
export async function runReference(args: string[]): Promise<RefRun> {
  const out = await new Deno.Command("sh", {
    args: [join(REF, "ascmhl"), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/**
 * The names of a root's manifests, by generation.
 *
 * @param root A folder with `ascmhl/`.
 * @returns The file names.
 */
export async function manifestNames(root: string): Promise<string[]> {
  return (await listTree(join(root, "ascmhl"))).filter((n) => /^\d{4,}_.*\.mhl$/.test(n)).sort();
}

/**
 * Reads the newest manifest of a root.
 *
 * @param root A folder with `ascmhl/`.
 * @returns The manifest.
 */
export async function latestManifest(root: string): Promise<MhlManifest> {
  const names = await manifestNames(root);
  return await readManifest(join(root, "ascmhl", names.at(-1)!));
}

/**
 * The root hash (content, structure) a manifest records.
 *
 * @param path The manifest.
 * @returns The two digests.
 */
export async function rootHashOf(path: string): Promise<[string, string]> {
  const text = await Deno.readTextFile(path);
  const match =
    /<roothash>\s*<content>\s*<\w+[^>]*>([^<]+)<\/\w+>\s*<\/content>\s*<structure>\s*<\w+[^>]*>([^<]+)</
      .exec(text);
  return [match?.[1] ?? "", match?.[2] ?? ""];
}

/**
 * Copies a folder (a fixture from shared/, which is read-only in CI) into `dir`.
 *
 * @param src The folder.
 * @param dst Where the copy goes.
 */
export async function copyFixture(src: string, dst: string): Promise<void> {
  const out = await new Deno.Command("cp", { args: ["-a", src, dst] }).output();
  assertEquals(out.code, 0, `cp -a ${src} ${dst}`);
  await new Deno.Command("chmod", { args: ["-R", "u+w", dst] }).output();
}

/**
 * Validates every manifest and the chain file of a root with xmllint against the ASC MHL schemas.
 *
 * @param root A folder with `ascmhl/`.
 * @param scratch A writable folder for the patched chain schema.
 */
export async function validate(root: string, scratch: string): Promise<void> {
  const folder = join(root, "ascmhl");
  const manifests = (await manifestNames(root)).map((n) => join(folder, n));
  const run = await new Deno.Command("xmllint", {
    args: ["--noout", "--schema", join(XSD, "ASCMHL.xsd"), ...manifests],
    stderr: "piped",
  }).output();
  assertEquals(run.code, 0, new TextDecoder().decode(run.stderr));
  // The chain schema imports ASCMHL.xsd from the web: point it at the local copy.
  const chainXsd = join(scratch, "chain.xsd");
  const text = await Deno.readTextFile(join(XSD, "ASCMHLDirectory.xsd"));
  await Deno.writeTextFile(
    chainXsd,
    text.replace(/schemaLocation="[^"]+"/, `schemaLocation="${join(XSD, "ASCMHL.xsd")}"`),
  );
  const chain = await new Deno.Command("xmllint", {
    args: ["--noout", "--schema", chainXsd, join(folder, "ascmhl_chain.xml")],
    stderr: "piped",
  }).output();
  assertEquals(chain.code, 0, new TextDecoder().decode(chain.stderr));
}

if (noSchemaCheck !== null) console.warn(`SKIPPED MHL schema validation: ${noSchemaCheck}`);
if (noReference !== null) {
  console.warn(`SKIPPED checks against the ASC MHL reference: ${noReference}`);
}
