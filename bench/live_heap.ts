/**
 * What a copy of many empty files keeps alive: a V8 heap snapshot taken
 * half-way through (a snapshot collects garbage first, so it holds only
 * live objects), against the heap V8 has reserved and the process's RSS at
 * that moment. Tells memory that grows with the file count from memory V8
 * has not collected yet.
 *
 * Usage (as root with the testbed up, or anywhere with a tmpfs path):
 *
 *     deno run -A bench/live_heap.ts [--dir /tmp/ferry-testbed/local] [--files 100000,1000000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { copy } from "../mod.ts";
import { makeEmptyTree } from "./empty_tree.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string", default: "/tmp/ferry-testbed/local" },
    files: { type: "string", default: "100000,1000000" },
  },
});
const MIB = 1024 * 1024;

/** Sum of the self sizes of every node of a heap snapshot file, in bytes. */
async function liveBytes(path: string): Promise<number> {
  const snapshot = JSON.parse(await Deno.readTextFile(path));
  const fields: string[] = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const self = fields.indexOf("self_size");
  const nodes: number[] = snapshot.nodes;
  let total = 0;
  for (let i = self; i < nodes.length; i += width) total += nodes[i]!;
  return total;
}

const lines: string[] = [];
for (const count of values.files.split(",").map(Number)) {
  const src = join(values.dir, "bench-heap-src");
  const dst = join(values.dir, "bench-heap-dst");
  await Deno.remove(src, { recursive: true }).catch(() => {});
  await Deno.remove(dst, { recursive: true }).catch(() => {});
  makeEmptyTree(src, count);
  let taken: { rss: number; heapTotal: number; file: string } | undefined;
  let done = 0;
  await copy(src, dst, {
    onFile: () => {
      // Half-way: the plan, the lanes and the folders are all in use.
      if (taken !== undefined || ++done < count / 2) return;
      const { rss, heapTotal } = Deno.memoryUsage();
      taken = {
        rss,
        heapTotal,
        file: writeHeapSnapshot(join(values.dir, "bench-heap.heapsnapshot")),
      };
    },
  });
  const live = await liveBytes(taken!.file);
  await Deno.remove(taken!.file);
  lines.push(
    `- ${count} empty files, half-way: live heap ${(live / MIB).toFixed(1)} MiB, ` +
      `heap reserved ${(taken!.heapTotal / MIB).toFixed(0)} MiB, RSS ${
        (taken!.rss / MIB).toFixed(0)
      } MiB.`,
  );
  await Deno.remove(src, { recursive: true });
  await Deno.remove(dst, { recursive: true });
}
console.log(lines.join("\n"));
