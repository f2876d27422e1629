/**
 * What reading a verified copy back from its storage costs: one large file
 * from tmpfs to the testbed's XFS volume (a loop device) and to its share
 * (`net/`), with `--verify size`, `--verify cache` (read back from the page
 * cache) and `--verify source` (flushed, its cached pages dropped, read back
 * from the device or over the link). Whole processes, the deno binary
 * itself; medians of the rounds.
 *
 * ```sh
 * deno task bench:readback -- [--rounds 3] [--mib 1024]
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./empty_tree.ts";
import { ferryCommand, headCommit, together, writeRandom } from "./process_measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "3" }, mib: { type: "string", default: "1024" } },
});
const ROOT = new URL("..", import.meta.url).pathname;
const rounds = Number(values.rounds);
const mib = Number(values.mib);

const env = new TextDecoder().decode(
  (await new Deno.Command("bash", {
    args: [join(ROOT, "..", "shared", "testbed", "testbed.sh"), "env"],
    stdout: "piped",
    stderr: "null",
  }).output()).stdout,
);
const bed = (name: string): string => {
  const path = new RegExp(`^${name}=(.*)$`, "m").exec(env)?.[1];
  if (path === undefined) throw new Error("the testbed is not up (as root: bash testbed.sh up)");
  return path;
};
const src = join(bed("TESTBED_LOCAL"), "bench-read-back.mov");
await writeRandom(src, mib * 1024 * 1024);
const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${await headCommit()}. One ${mib} MiB file from tmpfs; ` +
  `medians of ${rounds} rounds, whole processes.`,
  "",
  "| destination | `--verify size` (s) | `--verify cache` (s) | `--verify source` (s) | source vs cache |",
  "|---|---|---|---|---|",
];
for (
  const [label, dir] of [["XFS (loop device)", bed("TESTBED_REFLINK")], [
    "share (net/)",
    bed("TESTBED_NET"),
  ]]
) {
  const dst = join(dir!, "bench-read-back.mov");
  const times: Record<string, number> = {};
  for (const verify of ["size", "cache", "source"]) {
    const runs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await Deno.remove(dst).catch(() => {});
      runs.push(
        (await together([ferryCommand(
          "copy",
          "--quiet",
          "--no-ledger",
          "--verify",
          verify,
          src,
          dst,
        )])).all,
      );
    }
    times[verify] = median(runs);
    await Deno.remove(dst).catch(() => {});
  }
  lines.push(
    `| ${label} | ${times.size!.toFixed(2)} | ${times.cache!.toFixed(2)} | ${
      times.source!.toFixed(2)
    } | ${(times.source! / times.cache!).toFixed(2)}× |`,
  );
}
await Deno.remove(src);
console.log(lines.join("\n"));
