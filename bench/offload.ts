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

/** A run of part one: its commands, one after another, timed together. */
interface Contender {
  what: string;
  commands: string[][];
  note?: (ratio: number) => string;
}

/**
 * Every contender once per round, in an order that rotates from round to
 * round, each from a fresh destination: a drift of the machine between
 * minutes then reaches every contender alike. Returns each contender's wall
 * seconds per round.
 */
async function measureAll(contenders: readonly Contender[]): Promise<Map<Contender, number[]>> {
  const times = new Map(contenders.map((c) => [c, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + round) % contenders.length]!;
      await fresh();
      let seconds = 0;
      for (const command of contender.commands) seconds += (await together([command])).all;
      times.get(contender)!.push(seconds);
    }
  }
  return times;
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
const two: Contender = {
  what: "`ferry offload` to 2 (`--verify size --no-mhl`)",
  commands: [ferry("offload", "--quiet", ...unverified, card, a, b)],
};
const contenders: Contender[] = [
  {
    what: "`ferry copy` to 1 destination",
    commands: [ferry("copy", "--quiet", "--verify", "size", "-T", card, a)],
    note: (ratio) => `offload to 2 runs at ${ratio.toFixed(2)}× its speed`,
  },
  {
    what: "`ferry offload` to 1 (`--verify size --no-mhl`)",
    commands: [ferry("offload", "--quiet", ...unverified, card, a)],
  },
  two,
  {
    what: "`ferry copy` twice, one after the other",
    commands: [
      ferry("copy", "--quiet", "--verify", "size", "-T", card, a),
      ferry("copy", "--quiet", "--verify", "size", "-T", card, b),
    ],
  },
  { what: "`cp -a` twice", commands: [["cp", "-a", card, a], ["cp", "-a", card, b]] },
  {
    what: "`rclone copy` twice",
    commands: [["rclone", "copy", card, a], ["rclone", "copy", card, b]],
  },
  {
    what: "`ferry offload` to 2, `--verify source` (`--no-mhl`)",
    commands: [ferry("offload", "--quiet", "--no-mhl", card, a, b)],
    note: (ratio) => `${ratio.toFixed(2)}× the unverified offload`,
  },
  {
    what: "`ferry offload` to 2, defaults (`--verify source --mhl`)",
    commands: [ferry("offload", "--quiet", card, a, b)],
  },
  {
    what: "`ferry copy --verify source` twice",
    commands: [
      ferry("copy", "--quiet", "--verify", "source", "-T", card, a),
      ferry("copy", "--quiet", "--verify", "source", "-T", card, b),
    ],
  },
  // What one more copy's writes cost this machine: the card copied from tmpfs to tmpfs by cp.
  {
    what: "`cp -a` of the card tmpfs → tmpfs (no network)",
    commands: [["cp", "-a", seed, a]],
    note: () => "what one more copy's writes cost this 2-core machine",
  },
];
const times = await measureAll(contenders);
const twoTimes = times.get(two)!;

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

/** A contender's median, and the median of its rounds' times ÷ the offload to 2's in the same round. */
const row = (contender: Contender): string => {
  const own = times.get(contender)!;
  const ratio = median(own.map((seconds, round) => seconds / twoTimes[round]!));
  const note = contender.note?.(ratio) ?? "";
  return `| ${contender.what} | ${median(own).toFixed(2)} | ${ratio.toFixed(2)}× | ${note} |`;
};
const lines = [
  `Machine: ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores; ` +
  `Deno ${Deno.version.deno}; ferry git ${commit}. Card: ${frames} × 12 MiB frames and a ` +
  `${clipMiB} MiB clip on the testbed's share (net/), copied to two folders on tmpfs; ` +
  `${rounds} rounds, each running every contender once in an order that rotates from ` +
  `round to round; wall seconds of whole processes (medians), and the median of each ` +
  `round's time ÷ the offload to 2's time in the same round.`,
  "",
  "| run | wall (s) | ÷ offload to 2 (same round) | |",
  "|---|---|---|---|",
  ...contenders.map(row),
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
