/**
 * What a read buffer's address costs: a file in the page cache read in
 * 1 MiB `pread` calls (libc through FFI, as the copy workers make them) into buffers that start at
 * different offsets from a page boundary — 16 bytes in is where `malloc`
 * puts a large `ArrayBuffer` (`lib/fs/aligned_bytes.ts`). Medians of the
 * rounds, milliseconds per pass over the file.
 *
 * ```sh
 * deno task bench:align -- [--dir /tmp/ferry-testbed/local] [--mib 512] [--rounds 5]
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./empty_tree.ts";
import { workDir, writeRandom } from "./process_measure.ts";
import { ALIGN_BYTES, alignmentGap } from "../lib/fs/aligned_bytes.ts";
import { KernelCopy } from "../lib/fs/offload.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string" },
    mib: { type: "string", default: "512" },
    rounds: { type: "string", default: "5" },
  },
});
const MIB = 1024 * 1024;
const path = join(await workDir(values.dir), "bench-aligned-read.bin");
await writeRandom(path, Number(values.mib) * MIB);

// The workers' own binding: the same pread calls a copy makes.
const opened = KernelCopy.open();
if (opened === null) throw new Error("bench:align needs FFI (libc) and --allow-ffi");
const kernel: KernelCopy = opened;
const memory = new ArrayBuffer(MIB + 2 * ALIGN_BYTES);
const pageStart = alignmentGap(memory, 0);

/** One pass over the file into the buffer `offset` bytes past a page boundary, in ms. */
function pass(offset: number): number {
  const buffer = new Uint8Array(memory, pageStart + offset, MIB);
  const fd = kernel.openFile(path, false);
  const start = performance.now();
  for (let at = 0;;) {
    const got = kernel.readAt(fd, buffer, at);
    if (got <= 0) break;
    at += got;
  }
  const ms = performance.now() - start;
  kernel.closeFile(fd);
  return ms;
}

const offsets = [0, 16, 32, 64, 2048];
const times = new Map<number, number[]>(offsets.map((o) => [o, []]));
pass(0); // into the page cache
for (let round = 0; round < Number(values.rounds); round++) {
  for (const offset of offsets) times.get(offset)!.push(pass(offset));
}
const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(
  /model name\s*:\s*(.*)/,
)?.[1] ?? "unknown CPU";
console.log(
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${cpu}; ${values.mib} MiB in the page cache ` +
    `(${values.dir ?? "the default folder"}), 1 MiB preads; medians of ${values.rounds} rounds.\n`,
);
console.log("| buffer start, bytes past a page | ms per pass | GiB/s |");
console.log("|---|---:|---:|");
for (const offset of offsets) {
  const ms = median(times.get(offset)!);
  const rate = (Number(values.mib) / 1024) / (ms / 1000);
  console.log(`| ${offset} | ${ms.toFixed(0)} | ${rate.toFixed(1)} |`);
}
await Deno.remove(path);
