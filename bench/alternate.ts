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
 * ```
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
  },
  allowPositionals: true,
});
const [src, dst, ...flags] = positionals;
const rounds = Number(values.rounds);
if (values.baseline === undefined || src === undefined || dst === undefined || !(rounds >= 1)) {
  console.error(
    "usage: deno task bench:alternate -- --baseline CHECKOUT [--rounds N] [--drop-caches] SRC DST [-- ferry flags]",
  );
  Deno.exit(2);
}
const here = new URL("..", import.meta.url).pathname;
const checkouts = { new: here, old: values.baseline };

/** Wall seconds of one `ferry copy` by a checkout, into a fresh destination. */
async function once(root: string): Promise<number> {
  await Deno.remove(dst!, { recursive: true }).catch(() => {});
  if (values["drop-caches"]) {
    await new Deno.Command("sync").output();
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3");
  }
  const [program, ...args] = ferryCommandAt(root, "copy", "-q", ...flags, src!, dst!);
  const start = performance.now();
  const out = await new Deno.Command(program!, { args, stdout: "null", stderr: "piped" }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) {
    throw new Error(`${root}: ferry copy failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return seconds;
}

await once(checkouts.old);
await once(checkouts.new);
const ratios: number[] = [];
console.log(`ferry git ${await headCommit()} against ${checkouts.old}: ${src} → ${dst}`);
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
await Deno.remove(dst, { recursive: true }).catch(() => {});
console.log(`median of ${rounds} ratios: ${median(ratios).toFixed(3)}× the time`);
