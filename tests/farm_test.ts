import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  applyPlan,
  batchStatus,
  finalizePlan,
  NotReadyError,
  openPlanFile,
  parseShard,
  planLedgerDir,
  planToFile,
  splitPlanFile,
} from "../mod.ts";
import { OptionError } from "../lib/options.ts";
import { MIB } from "../lib/size.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejectsWith,
  assertThrows,
  runCli,
  snapshot,
  spawnCli,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { assertDelivered, journalRows, makeDelivery } from "./_farm.ts";
import { batchDir, journalsIn } from "../lib/ledger/ledger_dir.ts";

Deno.test("parseShard() reads K/N, Slurm's array, and auto/N from each scheduler's variable, and says what is wrong", () => {
  const slurm = {
    SLURM_ARRAY_TASK_ID: "6",
    SLURM_ARRAY_TASK_MIN: "4",
    SLURM_ARRAY_TASK_COUNT: "8",
  };
  const cases: [string, Record<string, string>, { index: number; count: number }][] = [
    ["0/1", {}, { index: 0, count: 1 }],
    ["3/4", {}, { index: 3, count: 4 }],
    ["auto", slurm, { index: 2, count: 8 }],
    ["auto", { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2" }, { index: 1, count: 2 }],
    ["auto/8", slurm, { index: 2, count: 8 }],
    ["auto/5", { CUE_IFRAME: "4" }, { index: 4, count: 5 }],
    ["auto/3", { JOB_COMPLETION_INDEX: "0" }, { index: 0, count: 3 }],
    ["auto/2", { FERRY_SHARD_INDEX: "1" }, { index: 1, count: 2 }],
  ];
  for (const [text, env, want] of cases) assertEquals({ ...parseShard(text, env) }, want, text);
  const bad: [string, Record<string, string>, RegExp][] = [
    ["4/4", {}, /Invalid --shard '4\/4': K must be 0 to 3 \(shards count from 0\)/],
    ["1/0", {}, /N must be 1 to/],
    ["x/2", {}, /K must be a whole number, got 'x'/],
    ["2", {}, /give K\/N, auto or auto\/N/],
    ["1/2/3", {}, /give K\/N, auto or auto\/N/],
    [
      "auto",
      {},
      /auto reads Slurm's SLURM_ARRAY_TASK_ID, which is not set \(other schedulers: auto\/N\)/,
    ],
    [
      "auto/4",
      {},
      /none of SLURM_ARRAY_TASK_ID, CUE_IFRAME, JOB_COMPLETION_INDEX, FERRY_SHARD_INDEX is set/,
    ],
    ["auto/2", { CUE_IFRAME: "2" }, /K must be 0 to 1/],
  ];
  for (const [text, env, message] of bad) {
    assertThrows(() => parseShard(text, env), OptionError);
    assertThrows(() => parseShard(text, env), message);
  }
});

Deno.test("splitPlanFile() balances shards by bytes within 10 % of the mean, splitting a large file at range boundaries, and spreads many empty files by count", async () => {
  await withTempDir(async (dir) => {
    // The benchmark card's shape, sparse (planning reads sizes only): 60 × 12 MiB frames and a 2 GiB clip.
    const card = join(dir, "card");
    await Deno.mkdir(card);
    for (let f = 0; f < 60; f++) {
      using file = await Deno.open(join(card, `A001.${1001 + f}.exr`), {
        write: true,
        create: true,
      });
      await file.truncate(12 * MIB);
    }
    {
      using clip = await Deno.open(join(card, "A001C001.mov"), { write: true, create: true });
      await clip.truncate(2048 * MIB);
    }
    const many = join(dir, "many");
    await Deno.mkdir(many);
    for (let n = 0; n < 3000; n++) await Deno.writeFile(join(many, `f${n}`), new Uint8Array());
    for (const [src, by] of [[card, "bytes"], [many, "files"]] as const) {
      const plan = join(dir, `${by}.plan`);
      await planToFile([{ src, dst: `${src}-copy` }], plan, { offload: "never" });
      for (const count of [2, 3, 4, 8]) {
        const split = splitPlanFile(plan, count);
        const values = by === "bytes" ? split.bytes : split.files;
        const total = values.reduce((a, b) => a + b, 0);
        assertEquals(
          total,
          by === "bytes" ? 60 * 12 * MIB + 2048 * MIB : 3000,
          `${by}, ${count} shards`,
        );
        const mean = total / count;
        for (const [k, value] of values.entries()) {
          assert(
            Math.abs(value - mean) <= 0.1 * mean,
            `${by}: shard ${k}/${count} has ${value}, the mean is ${mean}`,
          );
        }
      }
    }
  });
});

Deno.test("three processes each run a shard of a plan at once; the last to end finalizes: the split movie is published once, folders get their times, the ASC MHL history verifies", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeDelivery(src, 24);
    const dst = join(dir, "delivery");
    const plan = join(dir, "sh010.plan");
    const planned = await runCli([
      "plan",
      src,
      dst,
      "--out",
      plan,
      "--chunk-size",
      "2MiB",
      "--offload",
      "never",
      "--mhl",
      "--verify",
      "source",
    ]);
    assertEquals(planned.code, 0, planned.stderr);
    const runs = await Promise.all(
      [0, 1, 2].map((k) => runCli(["apply", plan, "--shard", `${k}/3`], { flags: ["-A"] })),
    );
    for (const run of runs) assertEquals(run.code, 0, run.stderr);
    const finalized = runs.filter((r) =>
      /finalized batch .*: 1 file split across shards published/.test(r.stderr)
    );
    assertEquals(finalized.length, 1, runs.map((r) => r.stderr).join("\n---\n"));
    assertMatch(
      runs.map((r) => r.stderr).join("\n"),
      /its part of 1 file split across shards .*`ferry finalize` publishes the split files/,
    );
    const ledger = planLedgerDir(plan);
    await assertDelivered(src, dst, plan, ledger);
    const status = await runCli(["status", plan, "--json"], { flags: ["-A"] });
    assertEquals(status.code, 0, status.stderr);
    const event = JSON.parse(status.stdout);
    assertEquals(event.shards.map((s: { run: { state: string } }) => s.run.state), [
      "done",
      "done",
      "done",
    ]);
    assertEquals(event.finalized.ok, true);
    assertEquals(event.files_done, event.files_total);
    // Finalizing again is a no-op that says so.
    const again = await runCli(["finalize", plan], { flags: ["-A"] });
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stderr, /is finalized already/);
  });
});

Deno.test("finalize refuses, touching nothing, while a shard has not run; two finalizes at once publish once", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeDelivery(src, 16);
    const dst = join(dir, "delivery");
    const plan = join(dir, "sh010.plan");
    await planToFile([{ src, dst }], plan, { chunkBytes: 2 * MIB, offload: "never", mhl: true });
    const ledger = planLedgerDir(plan);
    const none = await runCli(["finalize", plan], { flags: ["-A"] });
    assertEquals(none.code, 1);
    assertMatch(none.stderr, /no shard of it has run \(run: ferry apply .* --shard K\/N\)/);
    await applyPlan(await openPlanFile(plan, { shard: { index: 0, count: 2 } }), { ledger });
    const before = await journalRows<{ n: number }>(plan, ledger, "SELECT count(*) AS n FROM file");
    await assertRejectsWith(
      finalizePlan(plan, { ledger }),
      NotReadyError,
      /1 of 2 shards have not ended: 1\/2 \(never ran\)/,
    );
    const early = await runCli(["finalize", plan, "--json"], { flags: ["-A"] });
    assertEquals(early.code, 1);
    assertEquals(finalizeEvent(early.stdout).outcome, "not-ready");
    assertEquals(await journalRows(plan, ledger, "SELECT count(*) AS n FROM file"), before);
    assert(
      (await Deno.lstat(join(dst, "sh010.mov")).catch(() => null)) === null,
      "nothing published",
    );
    await applyPlan(await openPlanFile(plan, { shard: { index: 1, count: 2 } }), { ledger });
    const both = await Promise.all(
      [0, 1].map(() => runCli(["finalize", plan, "--json"], { flags: ["-A"] })),
    );
    for (const run of both) assertEquals(run.code, 0, run.stderr);
    const outcomes = both.map((run) => finalizeEvent(run.stdout).outcome).sort();
    assertEquals(outcomes, ["already", "finalized"]);
    const finals = await journalRows<{ shard: string }>(
      plan,
      ledger,
      "SELECT shard FROM run WHERE shard = 'finalize'",
    );
    assertEquals(finals.length, 1, "one finalize ran");
    await assertDelivered(src, dst, plan, ledger);
  });
});

Deno.test("a shard killed with SIGKILL mid-way is run again alone and continues from its journal; the other shard is not disturbed and the result is identical", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeDelivery(src, 256);
    const dst = join(dir, "delivery");
    const plan = join(dir, "sh010.plan");
    await planToFile([{ src, dst }], plan, { chunkBytes: 8 * MIB, offload: "never", mhl: true });
    const ledger = planLedgerDir(plan);
    const { batchId } = (await openPlanFile(plan)).header.settings;
    // Small buffers, one worker: slow enough that the kill lands mid-way.
    const slow = ["apply", plan, "--shard", "0/2", "--workers", "1", "--buffer-size", "4KiB"];
    const child = spawnCli(slow);
    let ended = false;
    child.status.then(() => ended = true);
    const chunks = async (): Promise<number> => {
      let n = 0;
      for (const journal of journalsIn(await batchDir(ledger, batchId))) {
        try {
          const db = new DatabaseSync(journal, { readOnly: true });
          n += (db.prepare("SELECT count(*) AS n FROM chunk").get() as { n: number }).n;
          db.close();
        } catch { /* not written yet */ }
      }
      return n;
    };
    const seen = await waitFor(async () => ended || (await chunks()) >= 2, 60_000);
    assert(seen && !ended, "the shard was still running when its journal showed two ranges");
    child.kill("SIGKILL");
    await child.status;
    const killed = await chunks();
    const other = await runCli(["apply", plan, "--shard", "1/2"], { flags: ["-A"] });
    assertEquals(other.code, 0, other.stderr);
    assertMatch(other.stderr, /1 of 2 shards still to end/);
    const status = await batchStatus(ledger, batchId);
    assertEquals(status?.shards?.map((s) => s.run?.state), ["interrupted", "done"]);
    const rerun = await runCli(["apply", plan, "--shard", "0/2"], { flags: ["-A"] });
    assertEquals(rerun.code, 0, rerun.stderr);
    assertMatch(rerun.stderr, /kept from a killed run/);
    assertMatch(rerun.stderr, /finalized batch/);
    assert(killed >= 2, `the killed run journaled ${killed} ranges`);
    await assertDelivered(src, dst, plan, ledger);
  });
});

Deno.test("--shard goes with a plan file only, and a shard's run needs its ledger", async () => {
  await withTempDir(async (dir) => {
    const batch = join(dir, "batch.json");
    await Deno.writeTextFile(batch, JSON.stringify({ mappings: [{ src: dir, dst: `${dir}-x` }] }));
    const json = await runCli(["apply", batch, "--shard", "0/2"]);
    assertEquals(json.code, 2);
    assertMatch(json.stderr, /--shard goes with a plan file/);
    const src = join(dir, "shot");
    await Deno.mkdir(src);
    const plan = join(dir, "p.plan");
    await planToFile([{ src, dst: join(dir, "out") }], plan);
    const noLedger = await runCli(["apply", plan, "--shard", "0/2", "--no-ledger"]);
    assertEquals(noLedger.code, 2);
    assertMatch(noLedger.stderr, /--no-ledger does not go with --shard/);
    const bad = await runCli(["apply", plan, "--shard", "2/2"]);
    assertEquals(bad.code, 2);
    assertMatch(bad.stderr, /Invalid --shard '2\/2': K must be 0 to 1/);
    assert((await Deno.lstat(join(dir, "out")).catch(() => null)) === null, "nothing written");
  });
});

/** The `finalize` event of a `--json` run (after its `file` events). */
function finalizeEvent(stdout: string): Record<string, unknown> {
  const events = stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  return events.find((e) => e.event === "finalize");
}

Deno.test("a move plan run in shards moves file by file (renames on one file system), and finalize removes the emptied source folders", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeDelivery(src, 16);
    const expected = join(dir, "expected");
    const copied = await runCli(["copy", "-T", src, expected, "--no-ledger"], { flags: ["-A"] });
    assertEquals(copied.code, 0, copied.stderr);
    const dst = join(dir, "delivery");
    const plan = join(dir, "sh010.plan");
    const planned = await runCli(["plan", "--move", "--mhl", src, dst, "--out", plan]);
    assertEquals(planned.code, 0, planned.stderr);
    for (const k of [0, 1, 2]) {
      const run = await runCli(["apply", plan, "--shard", `${k}/3`], { flags: ["-A"] });
      assertEquals(run.code, 0, run.stderr);
      // No shard moves the whole tree: the others' files are still there.
      if (k < 2) assert((await Deno.lstat(src).catch(() => null)) !== null, `after shard ${k}`);
    }
    assert((await Deno.lstat(src).catch(() => null)) === null, "the source folders are gone");
    const verify = await runCli(["verify", "--no-record", dst]);
    assertEquals(verify.code, 0, verify.stdout + verify.stderr);
    const ours = await snapshotWithout(dst, "ascmhl");
    assertEquals(ours, await snapshotWithout(expected, "ascmhl"));
  });
});

/** A tree's snapshot without one top-level folder. */
async function snapshotWithout(root: string, skip: string): Promise<Record<string, string>> {
  return Object.fromEntries(
    Object.entries(await snapshot(root)).filter(([path]) => !path.startsWith(skip)),
  );
}
