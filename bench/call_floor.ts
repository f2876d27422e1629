/**
 * The floor under a copy of many small local files: the same calls ferry
 * makes per file (a listing per folder, `lstat` per entry, then
 * `lib/fs/local_copy.ts`: O_EXCL temporary, copy, fstat of the source, mode,
 * times, `renameat2`), in one loop with nothing else — no plan items, lanes,
 * events or accounting. Against a whole ferry run on the same tree, it says
 * how much of the time is the engine and how much is the calls themselves.
 *
 * Usage (as root with the testbed up, or anywhere with a tmpfs path):
 *
 *     deno run -A bench/call_floor.ts [--dir /tmp/ferry-testbed/local] [--files 100000] [--rounds 3]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { LocalCopy } from "../lib/fs/local_copy.ts";
import { tempPathFor } from "../lib/fs/publish.ts";
import { makeEmptyTree, median } from "./empty_tree.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string", default: "/tmp/ferry-testbed/local" },
    files: { type: "string", default: "100000" },
    rounds: { type: "string", default: "3" },
  },
});
const ROOT = new URL("..", import.meta.url).pathname;
const count = Number(values.files);
const src = join(values.dir, "bench-floor-src");
const dst = join(values.dir, "bench-floor-dst");
const clear = (path: string) => Deno.remove(path, { recursive: true }).catch(() => {});

const local = LocalCopy.open();
if (local === null) throw new Error("libc cannot be loaded here (run with -A on Linux)");

/** The calls alone: seconds for the whole tree. */
function floor(): number {
  const start = performance.now();
  Deno.mkdirSync(dst);
  for (const folder of Deno.readDirSync(src)) {
    const from = `${src}/${folder.name}`;
    const to = `${dst}/${folder.name}`;
    Deno.mkdirSync(to);
    for (const entry of Deno.readDirSync(from)) {
      const path = `${from}/${entry.name}`;
      const info = Deno.lstatSync(path);
      const tmp = tempPathFor(`${to}/${entry.name}`, true);
      local!.copy({
        src: path,
        tmp,
        size: info.size,
        mtimeMs: info.mtime?.getTime() ?? null,
        atimeMs: info.atime?.getTime() ?? null,
        mode: info.mode ?? 0o644,
        owner: null,
        fsync: false,
      });
      if (local!.publish(tmp, `${to}/${entry.name}`, false) !== "published") {
        throw new Error(`${to}/${entry.name} exists`);
      }
    }
  }
  return (performance.now() - start) / 1000;
}

/** A whole ferry run, timed from outside (the deno binary itself). */
async function ferry(): Promise<number> {
  const start = performance.now();
  const args = ["run", "--allow-all", join(ROOT, "cli.ts"), "copy", "--quiet", src, dst];
  const out = await new Deno.Command(Deno.execPath(), { args }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return (performance.now() - start) / 1000;
}

await clear(src);
makeEmptyTree(src, count);
const floors: number[] = [];
const runs: number[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  await clear(dst);
  floors.push(floor());
  await clear(dst);
  runs.push(await ferry());
}
await clear(dst);
await clear(src);
local.close();
console.log(
  `- ${count} empty files: the calls alone ${median(floors).toFixed(2)} s, ` +
    `ferry ${median(runs).toFixed(2)} s (medians of ${floors.length}; ` +
    `ferry ÷ calls ${median(runs.map((r, i) => r / floors[i]!)).toFixed(2)}×).`,
);
