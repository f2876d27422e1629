/**
 * Planning into a file (`ferry plan … --out PLAN`): time and peak RSS for a
 * tree of a million empty files on tmpfs, as the installed command runs
 * (with its V8 flags) and with V8's defaults, medians of several rounds; the
 * plan file's size; and `ferry apply PLAN --dry-run` (the plan read back and
 * decided against the destination) on the same tree.
 *
 * ```sh
 * deno task bench:plan -- --files 1000000 --rounds 3 [--dir /tmp/ferry-testbed/local]
 * ```
 *
 * Prints a Markdown section for bench/RESULTS.md. Times are wall times of
 * whole processes (`/usr/bin/time`), the deno binary itself, not `npx`.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeEmptyTree, median } from "./empty_tree.ts";
import { headCommit, timed, workDir } from "./process_measure.ts";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string" },
    files: { type: "string", default: "1000000" },
    rounds: { type: "string", default: "3" },
  },
});
const ROOT = new URL("..", import.meta.url).pathname;

const ferry = (v8: string[], ...args: string[]): string[] => [
  Deno.execPath(),
  "run",
  ...v8,
  "--allow-all",
  join(ROOT, "cli.ts"),
  ...args,
];

const dir = await workDir(values.dir);
const count = Number(values.files);
const rounds = Number(values.rounds);
const src = join(dir, "bench-plan-src");
const dst = join(dir, "bench-plan-dst");
const plan = join(dir, "bench.plan");
await Deno.remove(src, { recursive: true }).catch(() => {});
makeEmptyTree(src, count);
const commit = await headCommit();
const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${commit}. Folder: ${dir} (tmpfs).`,
];
const cases: [string, string[]][] = [
  ["as installed", [V8_FLAGS_ARG]],
  ["with V8's defaults", []],
];
for (const [name, v8] of cases) {
  const runs: { seconds: number; mib: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    runs.push(await timed(ferry(v8, "plan", "--quiet", src, dst, "--out", plan)));
  }
  const size = (await Deno.stat(plan)).size / 1024 / 1024;
  lines.push(
    `- \`ferry plan\` of ${count} empty files (1 000 a folder), ${name}: median ` +
      `${median(runs.map((r) => r.seconds)).toFixed(1)} s, peak RSS median ` +
      `${median(runs.map((r) => r.mib)).toFixed(0)} MiB (max ${
        Math.max(...runs.map((r) => r.mib)).toFixed(0)
      }); plan file ${size.toFixed(0)} MiB.`,
  );
}
const applied = await timed(ferry([V8_FLAGS_ARG], "apply", "--dry-run", "--quiet", plan));
lines.push(
  `- \`ferry apply PLAN --dry-run\` of the same plan, as installed: ${
    applied.seconds.toFixed(1)
  } s, peak RSS ${applied.mib.toFixed(0)} MiB.`,
);
await Deno.remove(src, { recursive: true });
await Deno.remove(plan);
console.log(lines.join("\n"));
