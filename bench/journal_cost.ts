/**
 * What the ledger costs a copy: ferry with its journal (the CLI's default)
 * against `--no-ledger`, alternating round by round on the same data, as
 * whole processes (the deno binary itself, not npx). Cases: frames and one
 * big file from the testbed's share to its tmpfs, and empty files on the
 * tmpfs (where the per-file record weighs most).
 *
 * ```sh
 * deno task bench:journal -- --rounds 5
 * ```
 *
 * Prints a Markdown section for bench/RESULTS.md.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeSampleFile } from "../cli/sample_shot.ts";
import { makeEmptyTree, median } from "./empty_tree.ts";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    frames: { type: "string", default: "100" },
    "big-mib": { type: "string", default: "1024" },
    empty: { type: "string", default: "100000" },
  },
});
const ROUNDS = Number(values.rounds);
const ROOT = new URL("..", import.meta.url).pathname;
const MIB = 1024 * 1024;

/** The testbed's folders (`testbed.sh env`). */
async function bed(): Promise<{ net: string; local: string }> {
  const out = await new Deno.Command("bash", {
    args: [join(ROOT, "..", "shared", "testbed", "testbed.sh"), "env"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const env = Object.fromEntries(
    new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => l.split("=", 2)),
  );
  if (env.TESTBED_NET === undefined) throw new Error("the testbed is not up (testbed.sh up)");
  return { net: env.TESTBED_NET, local: env.TESTBED_LOCAL };
}

/** Wall seconds of one ferry copy. */
async function timeCopy(src: string, dst: string, ledger: string[]): Promise<number> {
  await Deno.remove(dst, { recursive: true }).catch(() => {});
  const start = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      V8_FLAGS_ARG,
      "--allow-all",
      join(ROOT, "cli.ts"),
      "copy",
      "--quiet",
      ...ledger,
      src,
      dst,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return seconds;
}

const { net, local } = await bed();
const ledger = await Deno.makeTempDir({ dir: local, prefix: "bench-ledger-" });
const frames = join(net, "bench-journal-frames");
const big = join(net, "bench-journal-big");
const empty = join(local, "bench-journal-empty");
await Deno.mkdir(frames, { recursive: true });
for (let i = 0; i < Number(values.frames); i++) {
  await writeSampleFile(join(frames, `f.${1001 + i}.exr`), 12 * MIB, i);
}
await Deno.mkdir(big, { recursive: true });
await writeSampleFile(join(big, "movie.mov"), Number(values["big-mib"]) * MIB, 7);
makeEmptyTree(empty, Number(values.empty));

const cases: [string, string][] = [
  [`${values.frames} frames of 12 MiB, share → tmpfs`, frames],
  [`one ${values["big-mib"]} MiB file, share → tmpfs`, big],
  [`${values.empty} empty files, tmpfs → tmpfs`, empty],
];
const lines = [
  `Command: \`deno task bench:journal --rounds ${ROUNDS}\`, ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC; ${Deno.build.os}, ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}.`,
  "",
  "| case | journaled, median s | --no-ledger, median s | journaled ÷ not |",
  "|---|---:|---:|---:|",
];
const dst = join(local, "bench-journal-dst");
for (const [name, src] of cases) {
  const on: number[] = [];
  const off: number[] = [];
  await timeCopy(src, dst, ["--ledger", ledger]); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first.
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const journaled of order) {
      const seconds = await timeCopy(src, dst, journaled ? ["--ledger", ledger] : ["--no-ledger"]);
      (journaled ? on : off).push(seconds);
    }
  }
  const ratios = on.map((s, i) => s / off[i]!);
  lines.push(
    `| ${name} | ${median(on).toFixed(3)} | ${median(off).toFixed(3)} | ${
      median(ratios).toFixed(3)
    } |`,
  );
}
for (const path of [frames, big, empty, dst, ledger]) {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}
console.log(lines.join("\n"));
