/**
 * Many empty files: the per-file cost and the memory of a copy, against
 * `cp -a` and `rsync -a` (both keep mode and mtime, as ferry does) on the same
 * tree in the same run, and ferry's peak RSS as the file count grows.
 *
 * Usage (as root with the testbed up, or anywhere with a tmpfs path):
 *
 *     deno run -A bench/many_files.ts [--dir /tmp/ferry-testbed/local]
 *       [--timed 100000] [--rounds 3] [--memory 10000,100000,1000000]
 *       [--baseline /path/to/another/ferry/checkout]
 *
 * Prints a Markdown section for bench/RESULTS.md. Times are wall times of
 * whole processes (`/usr/bin/time`), the deno binary itself, not `npx`.
 * ferry runs as the installed command runs it, with its V8 flags
 * (`cli/v8_flags.ts`); the memory part also runs it with V8's defaults.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { makeEmptyTree, median } from "./empty_tree.ts";
import { timed, workDir } from "./process_measure.ts";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string" },
    timed: { type: "string", default: "100000" },
    rounds: { type: "string", default: "3" },
    memory: { type: "string", default: "10000,100000,1000000" },
    baseline: { type: "string" },
  },
});
const ROOT = new URL("..", import.meta.url).pathname;
const ferryAt = (root: string, v8Flags: string[] = [V8_FLAGS_ARG]): string[] => [
  Deno.execPath(),
  "run",
  ...v8Flags,
  "--allow-all",
  join(root, "cli.ts"),
  "copy",
  "--quiet",
];
const FERRY = ferryAt(ROOT);

const dir = await workDir(values.dir);
const src = join(dir, "bench-many-src");
const dst = join(dir, "bench-many-dst");
const clear = (path: string): Promise<void> =>
  Deno.remove(path, { recursive: true }).catch(() => {});
const lines: string[] = [];
const version = async (cmd: string, args: string[]): Promise<string> =>
  new TextDecoder().decode((await new Deno.Command(cmd, { args, stdout: "piped" }).output()).stdout)
    .split("\n")[0]!;
const commit = (await version("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])).trim();
lines.push(
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
    `Deno ${Deno.version.deno}; ferry git ${commit}; ${await version("cp", ["--version"])}; ` +
    `${await version("rsync", ["--version"])}. Folder: ${dir}.`,
);

// Per-file cost: the same tree, every contender per round in rotating order.
const count = Number(values.timed);
const rounds = Number(values.rounds);
await clear(src);
makeEmptyTree(src, count);
const contenders: [string, (to: string) => string[]][] = [
  ["ferry", (to) => [...FERRY, src, to]],
  ["ferry with V8's defaults", (to) => [...ferryAt(ROOT, []), src, to]],
  ["cp -a", (to) => ["cp", "-a", src, to]],
  ["rsync -a", (to) => ["rsync", "-a", `${src}/`, `${to}/`]],
];
if (values.baseline !== undefined) {
  const base = values.baseline;
  const at = (await version("git", ["-C", base, "rev-parse", "--short", "HEAD"])).trim();
  contenders.push([`ferry git ${at}`, (to) => [...ferryAt(base), src, to]]);
}
const times = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (let k = 0; k < contenders.length; k++) {
    const [name, command] = contenders[(round + k) % contenders.length]!;
    await clear(dst);
    times.get(name)!.push((await timed(command(dst))).seconds);
  }
  await clear(dst);
}
const ferry = times.get("ferry")!;
for (const [name] of contenders) {
  const t = times.get(name)!;
  const ratio = name === "ferry"
    ? ""
    : `; ferry ÷ ${name} ${median(ferry.map((f, i) => f / t[i]!)).toFixed(2)}× the time`;
  lines.push(`- ${count} empty files, ${name}: median ${median(t).toFixed(2)} s${ratio}.`);
}
await clear(src);

// Memory as the count grows: as installed, and with V8's defaults.
const variants: [string, string[]][] = [
  ["as installed", FERRY],
  ["with V8's defaults", ferryAt(ROOT, [])],
];
const peaks = new Map<string, string[]>(variants.map(([name]) => [name, []]));
for (const n of values.memory.split(",").filter((c) => c !== "").map(Number)) {
  makeEmptyTree(src, n);
  for (const [name, command] of variants) {
    await clear(dst);
    const { seconds, mib } = await timed([...command, src, dst]);
    peaks.get(name)!.push(`${n} files ${mib.toFixed(0)} MiB (${seconds.toFixed(1)} s)`);
  }
  await clear(src);
  await clear(dst);
}
for (const [name, list] of peaks) {
  if (list.length > 0) {
    lines.push(`- ferry's peak RSS copying empty files, ${name}: ${list.join(", ")}.`);
  }
}
console.log(lines.join("\n"));
