import { dirname, join, normalize, relative } from "node:path";
import { type ExistingPolicy, InputError, type Mapping } from "../mod.ts";
import { applyAll, type Outcome } from "./_outcomes.ts";
import { assert, snapshot, withTempDir } from "./_helpers.ts";

/** A small seeded generator (mulberry32), so that a failing batch can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The tree every batch starts from: files, folders, nested folders and symbolic links. */
async function makeTree(root: string): Promise<void> {
  for (const dir of ["a", "a/sub", "b", "c/d/e", "v1", "v2"]) {
    await Deno.mkdir(join(root, dir), { recursive: true });
  }
  const files: Record<string, string> = {
    "a/1.exr": "a one",
    "a/2.exr": "a two",
    "a/sub/3.exr": "a sub three",
    "b/1.exr": "b one",
    "c/d/e/deep.exr": "deep",
    "v1/frame.exr": "v1 frame",
    "v2/frame.exr": "v2 frame",
    "v2/extra.exr": "v2 extra",
    "top.mov": "top movie",
  };
  for (const [path, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(root, path), text);
  }
  await Deno.symlink("1.exr", join(root, "a", "link.exr"));
  await Deno.symlink("../v1", join(root, "b", "to_v1"));
}

const SOURCES = [
  "a",
  "a/sub",
  "a/1.exr",
  "a/link.exr",
  "b",
  "b/to_v1",
  "c",
  "c/d",
  "v1",
  "v2",
  "v1/frame.exr",
  "top.mov",
];
const DESTINATIONS = [
  ...SOURCES,
  "out",
  "out/x",
  "a/new",
  "b/1.exr",
  "v3",
  "c/d/e/deep.exr",
  "top2.mov",
  "v2/frame.exr",
];
const POLICIES: ExistingPolicy[] = ["error", "overwrite", "skip", "update"];

const rel = (root: string, path: string): string => relative(root, path);

/** A path of the tree with the symbolic links on its way resolved, as the listing saw them. */
function resolve(listing: Record<string, string>, path: string): string {
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    const kind = listing[prefix];
    if (kind?.startsWith("link:")) {
      const target = normalize(join(dirname(prefix), kind.slice(5)));
      return resolve(listing, [target, ...parts.slice(i)].join("/"));
    }
  }
  return path;
}

/** What a listing holds at a path, through symbolic links. */
function at(listing: Record<string, string>, path: string): string | undefined {
  return listing[path] ?? listing[resolve(listing, path)];
}

/** Checks what a batch did against what the tree held before it. */
function check(
  root: string,
  before: Record<string, string>,
  after: Record<string, string>,
  result: Outcome,
  operation: "copy" | "move",
): string | null {
  const touched = new Set<string>();
  for (const file of result.files) {
    const src = rel(root, file.src);
    const dst = rel(root, file.dst);
    touched.add(dst);
    if (operation === "move") touched.add(src);
    const original = at(before, src);
    let was = original;
    const left = at(after, src);
    if (was?.startsWith("link:") && operation === "copy" && !after[dst]?.startsWith("link:")) {
      // A mapping's own source that is a link: a copy follows it, as cp does.
      was = at(before, normalize(join(dirname(src), was.slice(5))));
    }
    if (file.status === "copied" || file.status === "moved") {
      if (after[dst] !== was) return `${dst} holds ${after[dst]}, its source ${src} held ${was}`;
    } else if (after[dst] !== before[dst] && after[dst] !== was) {
      return `${file.status} ${dst} changed to ${after[dst]} (was ${before[dst]})`;
    }
    if (left === undefined && !(file.status === "moved" && after[dst] === was)) {
      return `source ${src} (${was}) is gone, and ${dst} does not hold it (${file.status})`;
    }
    if (operation === "copy" && left !== original) return `copy changed its source ${src}`;
  }
  for (const [path, kind] of Object.entries(before)) {
    if (kind === "dir" || touched.has(path)) continue;
    if (after[path] !== kind) {
      return `${path}, in no mapping, changed from ${kind} to ${after[path]}`;
    }
  }
  for (const path of Object.keys(after)) {
    if (path.includes(".ferry-partial") || path.includes(".ferry-run.")) return `left ${path}`;
  }
  return null;
}

Deno.test("500 random batches: each is refused untouched, or every destination holds its source and no source is lost", async () => {
  const seed = Number(Deno.env.get("FERRY_PROPERTY_SEED") ?? 20261202);
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  let refused = 0;
  let completed = 0;
  await withTempDir(async (dir) => {
    for (let round = 0; round < 500; round++) {
      const root = join(dir, String(round));
      await Deno.mkdir(root);
      await makeTree(root);
      const count = 1 + Math.floor(next() * 6);
      const mappings: Mapping[] = Array.from({ length: count }, () => ({
        src: join(root, pick(SOURCES)),
        dst: join(root, pick(DESTINATIONS)),
      }));
      const operation = next() < 0.5 ? "copy" : "move";
      const existing = pick(POLICIES);
      const before = await snapshot(root);
      const label = `seed ${seed} round ${round}: ${operation} ${existing} ${
        JSON.stringify(mappings.map((m) => [rel(root, m.src), rel(root, m.dst)]))
      }`;
      let result: Outcome | undefined;
      try {
        result = await applyAll(mappings, { operation, existing, spaceCheck: false });
      } catch (error) {
        if (!(error instanceof InputError)) throw new Error(`${label}: ${error}`, { cause: error });
        const after = await snapshot(root);
        assert(
          JSON.stringify(after) === JSON.stringify(before),
          `${label}: refused (${error.message}) but the tree changed`,
        );
        refused++;
      }
      if (result !== undefined) {
        const problem = check(root, before, await snapshot(root), result, operation);
        assert(problem === null, `${label}: ${problem}`);
        completed++;
      }
      await Deno.remove(root, { recursive: true });
    }
  });
  assert(
    refused > 50 && completed > 50,
    `${refused} refused, ${completed} run: both kinds are exercised`,
  );
});
