/**
 * What a kill costs when the batch is resumed: one large file from the
 * testbed's share to its tmpfs, copied once uninterrupted, and once killed
 * (SIGKILL) when its journal shows half of it written and then run again
 * (which continues the killed run's temporary). Reports the medians of the
 * uninterrupted time and of first run + resume, whole processes.
 *
 * ```sh
 * deno task bench:resume -- --rounds 3 --mib 2048
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { writeSampleFile } from "../cli/sample_shot.ts";
import { journalsIn } from "../lib/ledger/ledger_dir.ts";
import { median } from "./empty_tree.ts";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "3" }, mib: { type: "string", default: "2048" } },
});
const ROOT = new URL("..", import.meta.url).pathname;
const BYTES = Number(values.mib) * 1024 * 1024;

const env = Object.fromEntries(
  new TextDecoder().decode(
    (await new Deno.Command("bash", {
      args: [join(ROOT, "..", "shared", "testbed", "testbed.sh"), "env"],
      stdout: "piped",
      stderr: "null",
    }).output()).stdout,
  ).trim().split("\n").map((l) => l.split("=", 2)),
);
if (env.TESTBED_NET === undefined) throw new Error("the testbed is not up (testbed.sh up)");
const src = join(env.TESTBED_NET, "bench-resume.mov");
const dst = join(env.TESTBED_LOCAL, "bench-resume.mov");
const ledger = join(env.TESTBED_LOCAL, "bench-resume-ledger");
await writeSampleFile(src, BYTES, 3);

const ferry = (): Deno.Command =>
  new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      V8_FLAGS_ARG,
      "-A",
      join(ROOT, "cli.ts"),
      "copy",
      "--quiet",
      "--ledger",
      ledger,
      src,
      dst,
    ],
    stdout: "null",
    stderr: "null",
  });

/** Bytes the newest journal shows written. */
function journaled(): number {
  const batches = join(ledger, "batches");
  let newest: string | undefined;
  try {
    for (const entry of Deno.readDirSync(batches)) {
      newest = journalsIn(join(batches, entry.name)).at(-1);
    }
  } catch {
    return 0;
  }
  if (newest === undefined) return 0;
  try {
    const db = new DatabaseSync(newest, { readOnly: true });
    const row = db.prepare("SELECT coalesce(sum(length), 0) AS b FROM chunk").get() as {
      b: number;
    };
    db.close();
    return row.b;
  } catch {
    return 0;
  }
}

async function clear(): Promise<void> {
  for (const path of [dst, ledger]) await Deno.remove(path, { recursive: true }).catch(() => {});
}

const whole: number[] = [];
const resumed: number[] = [];
const kept: number[] = [];
await clear();
await ferry().output(); // warm-up
for (let round = 0; round < Number(values.rounds); round++) {
  await clear();
  let start = performance.now();
  await ferry().output();
  whole.push((performance.now() - start) / 1000);
  await clear();
  start = performance.now();
  const child = ferry().spawn();
  while (journaled() < BYTES / 2) await new Promise((r) => setTimeout(r, 5));
  child.kill("SIGKILL");
  await child.status;
  kept.push(journaled());
  const again = await ferry().output();
  if (!again.success) throw new Error("the resume failed");
  resumed.push((performance.now() - start) / 1000);
}
await clear();
await Deno.remove(src);
console.log(
  `Command: \`deno task bench:resume --rounds ${values.rounds} --mib ${values.mib}\`, ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC; ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}.\n\n` +
    `- one ${values.mib} MiB file, share → tmpfs, uninterrupted: median ${
      median(whole).toFixed(2)
    } s\n` +
    `- killed at half (journal: median ${(median(kept) / 2 ** 20).toFixed(0)} MiB written), ` +
    `then the same command again: median ${median(resumed).toFixed(2)} s in all, ` +
    `${(median(resumed) / median(whole)).toFixed(2)}× the uninterrupted copy`,
);
