/**
 * An offload to two destinations (`ferry offload`) against one copy and
 * against two copies one after the other (`ferry copy`, `cp -a`, `rclone
 * copy`), on the same card: frames and a clip on the testbed's share
 * (`net/`: 0.5 ms a request, a 10 GbE link), copied to two folders on
 * tmpfs. Then one fast destination (tmpfs) beside a slow one (the share),
 * from a card on tmpfs: the fast one's time against its time alone.
 *
 * ```sh
 * deno task bench:offload -- [--rounds 3] [--frames 60] [--clip-mib 1024]
 * ```
 *
 * Needs the testbed up (as root: `bash ../shared/testbed/testbed.sh up`).
 * Prints a Markdown section for bench/RESULTS.md. Times are wall times of
 * whole processes, the deno binary itself (not `npx`); medians of the rounds.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./empty_tree.ts";
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
    rounds: { type: "string", default: "3" },
    frames: { type: "string", default: "60" },
    "clip-mib": { type: "string", default: "1024" },
  },
});
const MIB = 1024 * 1024;
const rounds = Number(values.rounds);
const frames = Number(values.frames);
const clipMiB = Number(values["clip-mib"]);

const ferry = (...args: string[]): string[] => ferryCommand("--no-ledger", ...args);

const bed = await share();
if (bed === null) throw new Error("the testbed is not up (as root: bash testbed.sh up)");
const local = await workDir(undefined);
const seed = join(bed.store, "bench-offload-card");
const card = join(bed.net, "bench-offload-card");
const out = join(local, "bench-offload");
const [a, b] = [join(out, "a"), join(out, "b")];

async function fresh(): Promise<void> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
}

async function makeCard(at: string): Promise<void> {
  await Deno.remove(at, { recursive: true }).catch(() => {});
  await Deno.mkdir(at, { recursive: true });
  for (let f = 0; f < frames; f++) await writeRandom(join(at, `A001.${1001 + f}.exr`), 12 * MIB);
  await writeRandom(join(at, "A001C001.mov"), clipMiB * MIB);
}

/** Median wall seconds of a sequence of commands (run one after another), each round fresh. */
async function measure(...commands: string[][]): Promise<number> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await fresh();
    let seconds = 0;
    for (const command of commands) seconds += (await together([command])).all;
    times.push(seconds);
  }
  return median(times);
}

/** Runs a `--json` ferry command; each destination's batch wall seconds (from its summary). */
async function batchSeconds(command: string[]): Promise<number[]> {
  const [program, ...args] = command;
  const run = await new Deno.Command(program!, { args, stdout: "piped", stderr: "piped" }).output();
  const events = new TextDecoder().decode(run.stdout).trim().split("\n").map((l) => JSON.parse(l));
  const summaries = events.filter((e) => e.event === "summary");
  if (!run.success || summaries.length === 0 || summaries.some((s) => s.ok !== true)) {
    throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(run.stderr)}`);
  }
  return summaries.map((s) => s.elapsed_ms / 1000);
}

const commit = await headCommit();
await makeCard(seed);
const unverified = ["--verify", "size", "--no-mhl"];
const one = await measure(ferry("copy", "--quiet", "--verify", "size", "-T", card, a));
const oneOffload = await measure(ferry("offload", "--quiet", ...unverified, card, a));
const two = await measure(ferry("offload", "--quiet", ...unverified, card, a, b));
const twoVerified = await measure(ferry("offload", "--quiet", "--no-mhl", card, a, b));
const twoMhl = await measure(ferry("offload", "--quiet", card, a, b));
const copies = await measure(
  ferry("copy", "--quiet", "--verify", "size", "-T", card, a),
  ferry("copy", "--quiet", "--verify", "size", "-T", card, b),
);
const verifiedCopies = await measure(
  ferry("copy", "--quiet", "--verify", "source", "-T", card, a),
  ferry("copy", "--quiet", "--verify", "source", "-T", card, b),
);
const cp = await measure(["cp", "-a", card, a], ["cp", "-a", card, b]);
const rclone = await measure(["rclone", "copy", card, a], ["rclone", "copy", card, b]);
// What one more copy's writes cost this machine: the card copied from tmpfs to tmpfs by cp.
const memoryCopy = await measure(["cp", "-a", seed, a]);

// A fast destination beside a slow one: the card on tmpfs, one copy to tmpfs, one to the share.
await Deno.remove(seed, { recursive: true });
await Deno.remove(out, { recursive: true });
const localCard = join(local, "bench-offload-local-card");
await makeCard(localCard);
const slow = join(bed.net, "bench-offload-slow");
const soloFast: number[] = [];
const soloCopy: number[] = [];
const contended: number[] = [];
const fastBeside: number[] = [];
const slowBeside: number[] = [];
const slowSolo: number[] = [];
const clear = async (): Promise<void> => {
  await fresh();
  await Deno.remove(slow, { recursive: true }).catch(() => {});
};
for (let round = 0; round < rounds; round++) {
  await clear();
  soloFast.push((await batchSeconds(ferry("offload", "--json", ...unverified, localCard, a)))[0]!);
  await clear();
  soloCopy.push(
    (await batchSeconds(ferry("copy", "--json", "--verify", "size", "-T", localCard, a)))[0]!,
  );
  await clear();
  slowSolo.push(
    (await batchSeconds(ferry("copy", "--json", "--verify", "size", "-T", localCard, slow)))[0]!,
  );
  // The machine's own contention: the fast copy beside an independent copy to the share.
  await clear();
  const [, alone] = await Promise.all([
    together([ferry("copy", "--quiet", "--verify", "size", "-T", localCard, slow)]),
    batchSeconds(ferry("offload", "--json", ...unverified, localCard, a)),
  ]);
  contended.push(alone[0]!);
  await clear();
  const [fast, late] = await batchSeconds(
    ferry("offload", "--json", ...unverified, localCard, a, slow),
  );
  fastBeside.push(fast!);
  slowBeside.push(late!);
}
await Deno.remove(slow, { recursive: true }).catch(() => {});
await Deno.remove(localCard, { recursive: true });
await Deno.remove(out, { recursive: true });

const row = (what: string, seconds: number, note = ""): string =>
  `| ${what} | ${seconds.toFixed(2)} | ${(seconds / two).toFixed(2)}× | ${note} |`;
const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${commit}. Card: ${frames} × 12 MiB frames and a ` +
  `${clipMiB} MiB clip on the testbed's share (net/), copied to two folders on tmpfs; ` +
  `medians of ${rounds} rounds, whole processes.`,
  "",
  "| run | wall (s) | vs offload to 2 | |",
  "|---|---|---|---|",
  row(
    "`ferry copy` to 1 destination",
    one,
    `offload to 2 runs at ${(one / two).toFixed(2)}× its speed`,
  ),
  row("`ferry offload` to 1 (`--verify size --no-mhl`)", oneOffload),
  row("`ferry offload` to 2 (`--verify size --no-mhl`)", two),
  row("`ferry copy` twice, one after the other", copies),
  row("`cp -a` twice", cp),
  row("`rclone copy` twice", rclone),
  row(
    "`ferry offload` to 2, `--verify source` (`--no-mhl`)",
    twoVerified,
    `${(twoVerified / two).toFixed(2)}× the unverified offload`,
  ),
  row("`ferry offload` to 2, defaults (`--verify source --mhl`)", twoMhl),
  row("`ferry copy --verify source` twice", verifiedCopies),
  row(
    "`cp -a` of the card tmpfs → tmpfs (no network)",
    memoryCopy,
    "what one more copy's writes cost this 2-core machine",
  ),
  "",
  `Fast beside slow (the card on tmpfs; batch wall times from the \`--json\` summaries, ` +
  `\`--verify size --no-mhl\`):`,
  "",
  "| run | tmpfs destination (s) | share destination (s) |",
  "|---|---|---|",
  `| \`ferry copy\` to one (kernel copy) | ${median(soloCopy).toFixed(2)} | ${
    median(slowSolo).toFixed(2)
  } |`,
  `| \`ferry offload\` to one | ${median(soloFast).toFixed(2)} | |`,
  `| \`ferry offload\` to tmpfs beside an independent \`ferry copy\` to the share | ${
    median(contended).toFixed(2)
  } | |`,
  `| \`ferry offload\` to both | ${median(fastBeside).toFixed(2)} (${
    (median(fastBeside) / median(soloFast)).toFixed(2)
  }× alone, ${
    (median(fastBeside) / median(contended)).toFixed(2)
  }× beside the independent copy) | ${median(slowBeside).toFixed(2)} |`,
];
console.log(lines.join("\n"));
