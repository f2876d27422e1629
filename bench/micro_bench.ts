// Micro-benchmarks (`deno task bench`): fast, no mounts. Planning a large
// batch, the control block's per-buffer cost, and worker start-up.
import { join } from "node:path";
import { ControlBlock } from "../lib/workers/control.ts";
import { createHasher } from "../lib/integrity/hash.ts";
import { copyPlanFor } from "../lib/plan/chunks.ts";
import { planTransfer } from "../lib/plan/transfer_plan.ts";
import { resolveOptions } from "../lib/options.ts";
import { MIB } from "../lib/size.ts";

const FILES = 100_000;
const tree = await Deno.makeTempDir({ prefix: "ferry-bench-" });
for (let d = 0; d < 100; d++) {
  const dir = join(tree, `d${d}`);
  await Deno.mkdir(dir);
  for (let f = 0; f < FILES / 100; f++) await Deno.writeFile(join(dir, `f${f}`), new Uint8Array(0));
}
addEventListener("unload", () => Deno.removeSync(tree, { recursive: true }));

const settings = resolveOptions({ offload: "never" });
Deno.bench("copyPlanFor() for 100k files of 12 MiB", { group: "plan" }, () => {
  for (let i = 0; i < FILES; i++) {
    copyPlanFor({ size: 12 * MIB, sparse: false, sameFs: false }, settings);
  }
});

Deno.bench(
  "planTransfer() of a 100k-file tree (stat + readDir)",
  { group: "plan", n: 3 },
  async () => {
    await planTransfer([{ src: tree, dst: `${tree}-copy` }]);
  },
);

const control = new ControlBlock(8);
Deno.bench("control block: cancel check + byte count per 1 MiB buffer (x1024 = 1 GiB)", () => {
  for (let i = 0; i < 1024; i++) {
    if (control.cancelled) throw new Error("cancelled");
    control.addBytes(3, MIB);
  }
});

Deno.bench("worker start-up: spawn one chunk worker until it is ready", { n: 20 }, async () => {
  const worker = new Worker(new URL("../lib/workers/copy_worker.ts", import.meta.url), {
    type: "module",
  });
  await new Promise<void>((resolve) => {
    worker.onmessage = () => resolve();
    worker.postMessage({ type: "init", slot: 0, control: control.buffer, bufferBytes: MIB });
  });
  worker.terminate();
});

const data = crypto.getRandomValues(new Uint8Array(64 * 1024)).slice();
const block = new Uint8Array(16 * MIB);
for (let at = 0; at < block.length; at += data.length) block.set(data, at);
for (const algorithm of ["xxh64", "xxh3", "xxh128", "md5", "sha1", "c4"] as const) {
  const hasher = await createHasher(algorithm);
  Deno.bench(`hash 16 MiB with ${algorithm}`, { group: "hash" }, () => {
    hasher.reset();
    hasher.update(block);
    hasher.digest();
  });
}
