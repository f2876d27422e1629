/**
 * `ferry hash` against `xxhsum` on the same files, same run: 60 × 12 MiB
 * frames and one large file in tmpfs, each program on one core (`taskset`),
 * xxh64 and xxh128; ferry with `--allow-ffi` (libxxhash) and without
 * (hash-wasm); and the frames on the testbed's share (`net/`, 0.5 ms a
 * request) with every core. Whole processes, the deno binary itself with the
 * installed command's grants (with and without `--allow-ffi`), medians
 * of the rounds. ferry's start (the same command on an empty file) is
 * measured too, so the ratio of the hashing itself can be read beside the
 * whole-process one.
 *
 * ```sh
 * deno task bench:hash -- [--rounds 5] [--mib 1536]
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";
import { median } from "./empty_tree.ts";
import { headCommit, share, together, workDir, writeRandom } from "./process_measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    mib: { type: "string", default: "1536" },
    dir: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const mib = Number(values.mib);
const ROOT = new URL("..", import.meta.url).pathname;
const MIB = 1024 * 1024;
const FRAMES = 60;

const ferry = (ffi: boolean, ...args: string[]): string[] => [
  Deno.execPath(),
  "run",
  V8_FLAGS_ARG,
  "--allow-read",
  "--allow-write",
  "--allow-sys=hostname,statfs",
  ...(ffi ? ["--allow-ffi"] : []),
  join(ROOT, "cli.ts"),
  "hash",
  ...args,
];
const oneCore = (command: string[]): string[] => ["taskset", "-c", "0", ...command];
const XXHSUM = { xxh64: "-H1", xxh128: "-H2" } as const;

/** The median wall time of a command over the rounds (after one unmeasured run). */
async function timeOf(command: string[]): Promise<number> {
  await together([command]);
  const runs: number[] = [];
  for (let round = 0; round < rounds; round++) runs.push((await together([command])).all);
  return median(runs);
}

const local = join(await workDir(values.dir), "bench-hash");
await Deno.remove(local, { recursive: true }).catch(() => {});
await Deno.mkdir(local, { recursive: true });
const frames = Array.from({ length: FRAMES }, (_, i) => join(local, `f.${1001 + i}.exr`));
for (const frame of frames) await writeRandom(frame, 12 * MIB);
const big = join(local, "clip.mov");
await writeRandom(big, mib * MIB);
const empty = join(local, "empty");
await Deno.writeFile(empty, new Uint8Array());

const bed = await share();
const shared = bed === null ? [] : frames.map((_frame, i) => join(bed.net, `bench-hash.${i}.exr`));
if (bed !== null) {
  for (const [i, frame] of frames.entries()) {
    await Deno.copyFile(frame, join(bed.store, `bench-hash.${i}.exr`));
  }
}

const start = await timeOf(oneCore(ferry(true, empty)));
const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${await headCommit()}; medians of ${rounds} rounds, ` +
  `whole processes. ferry's start (hashing an empty file, one core): ${start.toFixed(2)} s.`,
  "",
  "| case | hash | cores | xxhsum (s) | ferry, libxxhash (s) | ferry, hash-wasm (s) | ferry vs xxhsum | less ferry's start |",
  "|---|---|---|---|---|---|---|---|",
];
const cases: [string, string[], boolean][] = [
  [`${FRAMES} × 12 MiB frames, tmpfs`, frames, true],
  [`one ${mib} MiB file, tmpfs`, [big], true],
  ...(bed === null ? [] : [[`${FRAMES} × 12 MiB frames, share`, shared, false] as [
    string,
    string[],
    boolean,
  ]]),
];
for (const [label, files, pinned] of cases) {
  for (const algorithm of ["xxh64", "xxh128"] as const) {
    const pin = pinned ? oneCore : (command: string[]) => command;
    const xxhsum = await timeOf(pin(["xxhsum", XXHSUM[algorithm], ...files]));
    const native = await timeOf(pin(ferry(true, "--hash", algorithm, ...files)));
    const wasm = await timeOf(pin(ferry(false, "--hash", algorithm, ...files)));
    lines.push(
      `| ${label} | ${algorithm} | ${pinned ? "1" : "all"} | ${xxhsum.toFixed(2)} | ${
        native.toFixed(2)
      } | ${wasm.toFixed(2)} | ${(xxhsum / native).toFixed(2)}× | ${
        (xxhsum / Math.max(0.001, native - start)).toFixed(2)
      }× |`,
    );
    console.error(lines.at(-1));
  }
}
await Deno.remove(local, { recursive: true });
for (const path of shared) await Deno.remove(path).catch(() => {});
console.log(lines.join("\n"));
