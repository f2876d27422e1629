/**
 * A plan run in shards on this one machine: 1, 2 and 4 shard processes at
 * once against one `ferry apply PLAN` process and `cp -a`, on the same data
 * (frames and a clip larger than a shard's share, on tmpfs). The shards share
 * this machine's memory bandwidth and 2 cores, so this measures the overhead
 * of sharding and the balance, not bandwidth: it reports bytes per shard,
 * each shard's wall time, the whole run's, and the finalize's. Then the
 * split of a plan of many empty files (time of `splitPlanFile`, and of one
 * shard's items read from the plan).
 *
 * ```sh
 * deno task bench:shards -- [--rounds 3] [--frames 60] [--clip-mib 1024] [--files 1000000] [--dir DIR]
 * ```
 *
 * Prints a Markdown section for bench/RESULTS.md. Times are wall times of
 * whole processes, the deno binary itself, not `npx`; medians of the rounds.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { batchStatus, openPlanFile, planLedgerDir, splitPlanFile } from "../mod.ts";
import { readPlanHeader } from "../lib/plan/plan_file.ts";
import { makeEmptyTree, median } from "./empty_tree.ts";
import {
  ferryCommand,
  headCommit,
  share,
  together,
  workDir,
  writeRandom,
} from "./process_measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string" },
    rounds: { type: "string", default: "3" },
    frames: { type: "string", default: "60" },
    "clip-mib": { type: "string", default: "1024" },
    files: { type: "string", default: "1000000" },
  },
});
const MIB = 1024 * 1024;

const ferry = ferryCommand;

const dir = await workDir(values.dir);
const rounds = Number(values.rounds);
const frames = Number(values.frames);
const clipMiB = Number(values["clip-mib"]);
const work = join(dir, "bench-shards");
await Deno.remove(work, { recursive: true }).catch(() => {});
await Deno.mkdir(work, { recursive: true });
const dst = join(work, "out");
const commit = await headCommit();
const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${commit}. Data: ${frames} × 12 MiB frames and a ` +
  `${clipMiB} MiB clip, to tmpfs (${dir}); medians of ${rounds} rounds.`,
  "",
  "| source | run | wall (s) | vs one process | each shard's wall (s) | bytes per shard (MiB) | finalize (s) |",
  "|---|---|---|---|---|---|---|",
];

/** One source: cp -a, one process, 1, 2 and 4 shards. */
async function compare(label: string, seed: string, src: string): Promise<void> {
  await Deno.mkdir(seed, { recursive: true });
  for (let f = 0; f < frames; f++) await writeRandom(join(seed, `A001.${1001 + f}.exr`), 12 * MIB);
  await writeRandom(join(seed, "A001C001.mov"), clipMiB * MIB);
  const plan = join(work, "card.plan");
  await Deno.remove(plan).catch(() => {});
  await together([ferry("plan", "--quiet", src, dst, "--out", plan)]);
  const ledger = planLedgerDir(plan);
  const { batchId } = readPlanHeader(plan).settings;
  const fresh = async (): Promise<void> => {
    await Deno.remove(dst, { recursive: true }).catch(() => {});
    await Deno.remove(ledger, { recursive: true }).catch(() => {});
    await Deno.remove(join(work, "one"), { recursive: true }).catch(() => {});
  };
  const cpTimes: number[] = [];
  const oneTimes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await fresh();
    cpTimes.push((await together([["cp", "-a", src, dst]])).all);
    await fresh();
    oneTimes.push(
      (await together([ferry("apply", "--quiet", "--ledger", join(work, "one"), plan)])).all,
    );
  }
  const one = median(oneTimes);
  const cp = median(cpTimes);
  lines.push(`| ${label} | \`cp -a\` | ${cp.toFixed(2)} | ${(cp / one).toFixed(2)}× | | | |`);
  lines.push(`| ${label} | one \`ferry apply PLAN\` | ${one.toFixed(2)} | 1.00× | | | |`);
  for (const count of [1, 2, 4]) {
    const walls: number[] = [];
    const each: number[][] = [];
    const finals: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await fresh();
      const run = await together(
        Array.from(
          { length: count },
          (_, k) => ferry("apply", "--quiet", plan, "--shard", `${k}/${count}`),
        ),
      );
      walls.push(run.all);
      each.push(run.each);
      const status = await batchStatus(ledger, batchId);
      const finalize = status?.runs.find((r) => r.shard === "finalize");
      if (finalize === undefined || status?.finalized?.ok !== true) {
        throw new Error("not finalized");
      }
      finals.push(((finalize.endedMs ?? finalize.updatedMs) - finalize.startedMs) / 1000);
    }
    const split = splitPlanFile(plan, count);
    const wall = median(walls);
    const perShard = Array.from(
      { length: count },
      (_, k) => median(each.map((e) => e[k]!)).toFixed(2),
    );
    lines.push(
      `| ${label} | ${count} shard${count > 1 ? "s" : ""} at once | ${wall.toFixed(2)} | ` +
        `${(wall / one).toFixed(2)}× | ${perShard.join(" / ")} | ` +
        `${split.bytes.map((b) => (b / MIB).toFixed(0)).join(" / ")} | ${
          median(finals).toFixed(2)
        } |`,
    );
  }
  await fresh();
  await Deno.remove(seed, { recursive: true });
}

await compare("tmpfs", join(work, "card"), join(work, "card"));
const bed = await share();
if (bed !== null) {
  const seed = join(bed.store, "bench-shards-card");
  await compare("share (testbed net/)", seed, join(bed.net, "bench-shards-card"));
} else lines.push("", "(the testbed's share is not up: no share case)");

// The split of a plan of many empty files.
const files = Number(values.files);
const many = join(work, "many");
makeEmptyTree(many, files);
const manyPlan = join(work, "many.plan");
const planSeconds =
  (await together([ferry("plan", "--quiet", many, join(work, "many-out"), "--out", manyPlan)])).all;
const splitStart = performance.now();
const split = splitPlanFile(manyPlan, 4);
const splitSeconds = (performance.now() - splitStart) / 1000;
const readStart = performance.now();
let items = 0;
for await (const item of (await openPlanFile(manyPlan, { shard: { index: 1, count: 4 } })).items) {
  if (item.kind === "file") items++;
}
const readSeconds = (performance.now() - readStart) / 1000;
lines.push(
  "",
  `- ${files} empty files (1 000 a folder): \`ferry plan\` ${planSeconds.toFixed(1)} s; ` +
    `\`splitPlanFile(plan, 4)\` ${splitSeconds.toFixed(2)} s (files per shard ${
      split.files.join(" / ")
    }); ` +
    `shard 1/4's ${items} items read from the plan and decided against the destination ` +
    `${readSeconds.toFixed(1)} s.`,
);
await Deno.remove(work, { recursive: true });
console.log(lines.join("\n"));
