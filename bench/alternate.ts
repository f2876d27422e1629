/**
 * One copy timed with this checkout and with another, round by round in
 * alternating order: the by-hand before/after of a change whose effect is
 * smaller than this machine's drift between minutes. Each round removes the
 * destination, optionally drops the caches (machine-wide, as root; run it
 * alone), and times the whole `ferry copy -q` process; both checkouts run
 * once untimed first, so that Deno's code cache is warm for both. Prints
 * each round and the median of the rounds' ratios (this checkout's time ÷
 * the other's: below 1 is faster).
 *
 * ```sh
 * deno task bench:alternate -- --baseline ../ferry-before [--rounds 8] [--drop-caches] SRC DST [-- ferry flags]
 * deno task bench:alternate -- --baseline ../ferry-before --offload SRC DST1 DST2 [-- ferry flags]
 * deno task bench:alternate -- --baseline ../ferry-before --apply BATCH.json [-- ferry flags]
 * ```
 *
 * With `--offload` the command is `ferry offload -q [flags] SRC DST1 DST2…`
 * (every destination removed before each round); with `--apply` it is
 * `ferry apply -q [flags] BATCH.json` (every mapping's `dst` removed before
 * each round).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./empty_tree.ts";
import { ferryCommandAt, headCommit } from "./process_measure.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    baseline: { type: "string" },
    rounds: { type: "string", default: "8" },
    "drop-caches": { type: "boolean", default: false },
    offload: { type: "boolean", default: false },
    apply: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
// Positionals before `--` are paths; parseArgs keeps the ones after it last.
const dashes = Deno.args.indexOf("--");
const flags = dashes < 0 ? [] : Deno.args.slice(dashes + 1);
const paths = positionals.slice(0, positionals.length - flags.length);
const [src, ...given] = paths;
// A batch's destinations are its mappings'.
const dsts: string[] = values.apply && src !== undefined
  ? (JSON.parse(Deno.readTextFileSync(src)) as { mappings: { dst: string }[] }).mappings.map((m) =>
    m.dst
  )
  : given;
const dst = dsts[0];
const command = values.offload ? "offload" : values.apply ? "apply" : "copy";
const rounds = Number(values.rounds);
if (
  values.baseline === undefined || src === undefined || dst === undefined || !(rounds >= 1) ||
  (!values.offload && !values.apply && dsts.length > 1) || (values.apply && given.length > 0)
) {
  console.error(
    "usage: deno task bench:alternate -- --baseline CHECKOUT [--rounds N] [--drop-caches] [--offload] SRC DST [DST…] [-- ferry flags]\n" +
      "       deno task bench:alternate -- --baseline CHECKOUT [--rounds N] [--drop-caches] --apply BATCH.json [-- ferry flags]",
  );
  Deno.exit(2);
}
const here = new URL("..", import.meta.url).pathname;
const checkouts = { new: here, old: values.baseline };

/** Wall seconds of one `ferry copy` by a checkout, into a fresh destination. */
async function once(root: string): Promise<number> {
  for (const path of dsts) await Deno.remove(path, { recursive: true }).catch(() => {});
  if (values["drop-caches"]) {
    await new Deno.Command("sync").output();
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3");
  }
  const operands = values.apply ? [src!] : [src!, ...dsts];
  const [program, ...args] = ferryCommandAt(root, command, "-q", ...flags, ...operands);
  const start = performance.now();
  const out = await new Deno.Command(program!, { args, stdout: "null", stderr: "piped" }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) {
    throw new Error(`${root}: ferry ${command} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return seconds;
}

await once(checkouts.old);
await once(checkouts.new);
const ratios: number[] = [];
console.log(
  `ferry git ${await headCommit()} against ${checkouts.old}: ${command} ${src} → ${
    dsts.join(", ")
  }`,
);
for (let round = 1; round <= rounds; round++) {
  // Odd rounds run the other checkout first, even rounds this one.
  const order = round % 2 === 1 ? ["old", "new"] as const : ["new", "old"] as const;
  const time = { old: 0, new: 0 };
  for (const which of order) time[which] = await once(checkouts[which]);
  ratios.push(time.new / time.old);
  console.log(
    `round ${round}: this ${time.new.toFixed(3)} s, other ${time.old.toFixed(3)} s, ` +
      `ratio ${(time.new / time.old).toFixed(3)}`,
  );
}
for (const path of dsts) await Deno.remove(path, { recursive: true }).catch(() => {});
console.log(`median of ${rounds} ratios: ${median(ratios).toFixed(3)}× the time`);
