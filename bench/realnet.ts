/**
 * ferry against `cp -a`, `rsync -a` and `rclone copy` on real servers
 * (`../shared/realnet`: NFS-Ganesha and Samba behind an emulated 10 GbE
 * link, mounted through FUSE clients on libnfs and libsmbclient), with a
 * sweep of ferry's fixed worker counts: the ground the adaptive concurrency
 * of issue #19 is to be measured on. Caches are dropped before every run
 * (machine-wide; run it alone), then the programs are loaded again by a
 * small warm-up run, so that only the storage starts cold. Whole processes, the deno binary itself;
 * each round runs every contender once, in rotating order; medians of the
 * rounds, and ratios as medians of the rounds' ratios. With `--testbed`, also the cases of
 * `../shared/testbed` (its latency share, tmpfs, XFS).
 *
 * ```sh
 * deno task bench:realnet -- [--rounds 3] [--big-mib 512] [--frames 30] [--small 300] [--testbed] [--cases big,SMB]
 * ```
 *
 * `--cases` keeps the cases whose label contains one of the words. With
 * `FERRY_BASELINE=<another checkout of ferry>` in the environment, that
 * checkout runs too, as "ferry (baseline)": a before/after in one run.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./empty_tree.ts";
import {
  ferryCommand,
  ferryCommandAt,
  headCommit,
  share,
  together,
  workDir,
  writeRandom,
} from "./process_measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    "big-mib": { type: "string", default: "512" },
    frames: { type: "string", default: "30" },
    small: { type: "string", default: "300" },
    testbed: { type: "boolean", default: false },
    cases: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const MIB = 1024 * 1024;

const up = new TextDecoder().decode(
  (await new Deno.Command("bash", {
    args: [
      join(new URL("..", import.meta.url).pathname, "..", "shared", "realnet", "realnet-up.sh"),
    ],
    stdout: "piped",
    stderr: "null",
  }).output()).stdout,
);
const nfs = /REALNET_NFS=(\S+)/.exec(up)?.[1];
const smb = /REALNET_SMB=(\S+)/.exec(up)?.[1];
if (nfs === undefined || smb === undefined) {
  throw new Error("the realnet bed did not come up (root?)");
}
const local = join(await workDir(undefined), "bench-realnet");
await Deno.remove(local, { recursive: true }).catch(() => {});
await Deno.mkdir(local, { recursive: true });

/** The data, once on local tmpfs and once on each server. */
const seedLocal = join(local, "seed");
await Deno.mkdir(join(seedLocal, "frames"), { recursive: true });
await writeRandom(join(seedLocal, "big.mov"), Number(values["big-mib"]) * MIB);
for (let f = 0; f < Number(values.frames); f++) {
  await writeRandom(join(seedLocal, "frames", `sh010.${1001 + f}.exr`), 8 * MIB);
}
const warmSrc = join(local, "warm.bin");
const warmDst = join(local, "warm.copy");
await writeRandom(warmSrc, 256 * 1024);
await Deno.mkdir(join(seedLocal, "small"), { recursive: true });
for (let f = 0; f < Number(values.small); f++) {
  await writeRandom(join(seedLocal, "small", `f${f}.bin`), 64 * 1024);
}
for (const server of [nfs, smb]) {
  await Deno.remove(join(server, "bench-seed"), { recursive: true }).catch(() => {});
  await together([["cp", "-a", seedLocal, join(server, "bench-seed")]]);
}
// With --testbed: the same sweep on ../shared/testbed's latency share (written
// into its store, read through the share), its tmpfs and its XFS volume.
const bed = values.testbed ? await share() : null;
if (values.testbed && bed === null) throw new Error("the testbed is not up (testbed.sh up)");
const reflink = bed?.reflink ?? "";
if (bed !== null) {
  await together([["cp", "-a", seedLocal, join(bed.store, "bench-seed")]]);
  await together([["cp", "-a", join(seedLocal, "big.mov"), join(reflink, "bench-big.mov")]]);
}

const contenders: [string, (src: string, dst: string) => string[]][] = [
  ["cp -a", (src, dst) => ["cp", "-a", src, dst]],
  ["rsync -a", (src, dst) => ["rsync", "-a", "--whole-file", src, dst]],
  ["rclone copy", (src, dst) => ["rclone", "copy", src, dst]],
  ["ferry", (src, dst) => ferryCommand("copy", "--quiet", "--no-ledger", "-T", src, dst)],
  [
    "ferry fixed (8, 4, 16)",
    (src, dst) =>
      ferryCommand("copy", "--quiet", "--no-ledger", "--concurrency", "fixed", "-T", src, dst),
  ],
  ...[1, 2, 4].map((w): [string, (src: string, dst: string) => string[]] => [
    `ferry -w ${w} -j ${w}`,
    (src, dst) =>
      ferryCommand("copy", "--quiet", "--no-ledger", "-w", `${w}`, "-j", `${w}`, "-T", src, dst),
  ]),
];
/** The columns of the fixed settings (the sweep the adaptive ferry is held against). */
const FIXED = [4, 8] as const;
const baseline = Deno.env.get("FERRY_BASELINE");
if (baseline !== undefined) {
  contenders.push([
    "ferry (baseline)",
    (src, dst) => ferryCommandAt(baseline, "copy", "--quiet", "--no-ledger", "-T", src, dst),
  ]);
}

const allCases: [string, string, string][] = [
  ["big file, NFS → local", join(nfs, "bench-seed", "big.mov"), join(local, "out.mov")],
  ["big file, SMB → local", join(smb, "bench-seed", "big.mov"), join(local, "out.mov")],
  ["big file, local → NFS", join(seedLocal, "big.mov"), join(nfs, "bench-out.mov")],
  ["big file, local → SMB", join(seedLocal, "big.mov"), join(smb, "bench-out.mov")],
  ["frames, NFS → local", join(nfs, "bench-seed", "frames"), join(local, "out")],
  ["frames, SMB → local", join(smb, "bench-seed", "frames"), join(local, "out")],
  ["frames, local → SMB", join(seedLocal, "frames"), join(smb, "bench-out")],
  ["small files, NFS → local", join(nfs, "bench-seed", "small"), join(local, "out")],
  ["small files, SMB → local", join(smb, "bench-seed", "small"), join(local, "out")],
  ["big file, SMB → SMB", join(smb, "bench-seed", "big.mov"), join(smb, "bench-out.mov")],
  ...(bed === null ? [] : [
    [
      "big file, latfs share → local",
      join(bed.net, "bench-seed", "big.mov"),
      join(local, "out.mov"),
    ],
    ["frames, latfs share → local", join(bed.net, "bench-seed", "frames"), join(local, "out")],
    ["small files, latfs share → local", join(bed.net, "bench-seed", "small"), join(local, "out")],
    ["big file, tmpfs → tmpfs", join(seedLocal, "big.mov"), join(local, "out.mov")],
    ["frames, tmpfs → tmpfs", join(seedLocal, "frames"), join(local, "out")],
    ["big file, XFS → XFS", join(reflink, "bench-big.mov"), join(reflink, "bench-out.mov")],
  ] as [string, string, string][]),
];

const wanted = values.cases?.split(",");
const cases = allCases.filter(([label]) => !wanted || wanted.some((w) => label.includes(w)));

const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${await headCommit()}. ../shared/realnet (250 µs each ` +
  `way, 10 Gbit/s); caches dropped before every run; medians of ${rounds} rounds, wall seconds; ` +
  `every round runs each contender once, in rotating order; the ratios are medians of the ` +
  `rounds' ratios.`,
  "",
  `| case | ${
    contenders.map(([name]) => name).join(" | ")
  } | ferry vs cp | ferry vs best fixed ferry |${
    baseline === undefined ? "" : " ferry vs baseline |"
  }`,
  `|---|${contenders.map(() => "---").join("|")}|---|---|${baseline === undefined ? "" : "---|"}`,
];
for (const [label, src, dst] of cases) {
  // Every round runs each contender once, in rotating order: this machine's
  // speed drifts within minutes, and contenders run one after the other in
  // blocks took that drift into their ratios.
  const runs: number[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const index = (round + k) % contenders.length;
      const command = contenders[index]![1];
      await Deno.remove(dst, { recursive: true }).catch(() => {});
      await Deno.remove(join(dst, "..", "big.mov")).catch(() => {});
      await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3").catch(() => {});
      // The drop also evicts the programs: load them again (ferry with a worker,
      // the others' binaries) so that only the storage's caches start cold.
      await Deno.remove(warmDst).catch(() => {});
      await together([
        ferryCommand("copy", "--quiet", "--no-ledger", "--cutoff", "64KiB", warmSrc, warmDst),
        ["cp", "--version"],
        ["rsync", "--version"],
        ["rclone", "version"],
      ]);
      // rsync and rclone copy into a folder: give them the parent.
      const program = command(src, dst)[0];
      const target = program === "rsync" || program === "rclone"
        ? (src.endsWith(".mov") ? join(dst, "..") : dst)
        : dst;
      runs[index]!.push((await together([command(src, target)])).all);
    }
  }
  await Deno.remove(dst, { recursive: true }).catch(() => {});
  await Deno.remove(join(dst, "..", "big.mov")).catch(() => {});
  const times = runs.map(median);
  const ferry = runs[3]!;
  // The fixed setting with the best median, held against ferry round by round.
  const fixedTimes = times.slice(...FIXED);
  const bestFixed = runs[FIXED[0] + fixedTimes.indexOf(Math.min(...fixedTimes))]!;
  /** How many times as fast as `other` ferry was: the median of the rounds' ratios. */
  const versus = (other: number[]): string =>
    `${median(ferry.map((f, i) => other[i]! / f)).toFixed(2)}×`;
  lines.push(
    `| ${label} | ${times.map((t) => t.toFixed(2)).join(" | ")} | ${versus(runs[0]!)} | ${
      versus(bestFixed)
    } |${baseline === undefined ? "" : ` ${versus(runs.at(-1)!)} |`}`,
  );
}

// The server-side ceiling of SMB → SMB: one copy_file_range of the whole file
// (a COPYCHUNK on the server), by the bed's own probe.
const probe = join(
  new URL("..", import.meta.url).pathname,
  "..",
  "shared",
  "realnet",
  "cfr_test.py",
);
const ceiling: number[] = [];
for (let round = 0; round < rounds; round++) {
  const dst = join(smb, "bench-out.mov");
  await Deno.remove(dst).catch(() => {});
  ceiling.push(
    (await together([["python3", probe, join(smb, "bench-seed", "big.mov"), dst, "lo"]])).all,
  );
  await Deno.remove(dst).catch(() => {});
}
lines.push(
  "",
  `SMB → SMB ceiling (one copy_file_range of the whole file, python3): ${
    median(ceiling).toFixed(2)
  } s.`,
);
for (const server of [nfs, smb]) await Deno.remove(join(server, "bench-seed"), { recursive: true });
if (bed !== null) {
  await Deno.remove(join(bed.store, "bench-seed"), { recursive: true });
  await Deno.remove(join(reflink, "bench-big.mov"));
}
await Deno.remove(local, { recursive: true });
console.log(lines.join("\n"));
