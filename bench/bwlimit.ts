/**
 * How close `--bwlimit` holds its rate: frames from the testbed's share
 * (`net/`) to tmpfs with `--bwlimit 200M`, the rate read from the `--json`
 * progress events (every 500 ms) over the middle 80 % of each run, and in
 * 2-second windows there; medians of the rounds. Unlimited, the same copy
 * runs at the bed's link speed (about 1.1 GiB/s), so the limit is what holds it.
 *
 * ```sh
 * deno task bench:bwlimit -- [--rounds 3] [--frames 200] [--limit 200M]
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./empty_tree.ts";
import { ferryCommand, headCommit, share, workDir, writeRandom } from "./process_measure.ts";
import { parseSize } from "../lib/size.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    frames: { type: "string", default: "200" },
    limit: { type: "string", default: "200M" },
  },
});
const MIB = 1024 * 1024;
const rounds = Number(values.rounds);
const frames = Number(values.frames);
const limit = parseSize(values.limit);
const bed = await share();
if (bed === null) throw new Error("the testbed is not up (as root: bash testbed.sh up)");
const seed = join(bed.store, "bench-bwlimit");
await Deno.remove(seed, { recursive: true }).catch(() => {});
await Deno.mkdir(seed, { recursive: true });
for (let f = 0; f < frames; f++) await writeRandom(join(seed, `A001.${1001 + f}.exr`), 12 * MIB);
const out = join(await workDir(undefined), "bench-bwlimit");

const whole: number[] = [];
const windows: number[] = [];
for (let round = 0; round < rounds; round++) {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const [program, ...args] = ferryCommand(
    "copy",
    "--json",
    "--no-ledger",
    "--bwlimit",
    values.limit,
    join(bed.net, "bench-bwlimit"),
    out,
  );
  const run = await new Deno.Command(program!, { args, stdout: "piped", stderr: "null" }).output();
  if (!run.success) throw new Error("the copy failed");
  const samples = new TextDecoder().decode(run.stdout).trim().split("\n").map((l) => JSON.parse(l))
    .filter((e) => e.event === "progress").map((e) => ({
      t: e.elapsed_ms / 1000,
      b: e.bytes_done,
    }));
  const end = samples.at(-1)!.t;
  const middle = samples.filter((s) => s.t >= end * 0.1 && s.t <= end * 0.9);
  const rate = (a: { t: number; b: number }, b: { t: number; b: number }): number =>
    (b.b - a.b) / (b.t - a.t);
  whole.push(rate(middle[0]!, middle.at(-1)!));
  for (let i = 0; i + 4 < middle.length; i += 4) windows.push(rate(middle[i]!, middle[i + 4]!));
}
await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.remove(seed, { recursive: true });
const off = (r: number): string => `${(((r - limit) / limit) * 100).toFixed(1)} %`;
console.log([
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${await headCommit()}. ${frames} × 12 MiB frames, ` +
  `share → tmpfs, \`--bwlimit ${values.limit}\` (${
    (limit / MIB).toFixed(0)
  } MiB/s); ${rounds} rounds.`,
  "",
  "| measure | rate (MiB/s) | off the limit |",
  "|---|---|---|",
  `| middle 80 % of each run (median) | ${(median(whole) / MIB).toFixed(1)} | ${
    off(median(whole))
  } |`,
  `| 2-second windows in it: lowest | ${(Math.min(...windows) / MIB).toFixed(1)} | ${
    off(Math.min(...windows))
  } |`,
  `| 2-second windows in it: highest | ${(Math.max(...windows) / MIB).toFixed(1)} | ${
    off(Math.max(...windows))
  } |`,
].join("\n"));
