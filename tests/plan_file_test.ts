import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { applyPlan, batchStatus, openPlanFile, planToFile } from "../mod.ts";
import { batchDir, journalsIn } from "../lib/ledger/ledger_dir.ts";
import { MIB } from "../lib/size.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertSameTree,
  listTree,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** A shot: a 40 MiB movie (split into ranges), frames in two folders, a link. */
async function makeShot(root: string): Promise<void> {
  await Deno.mkdir(join(root, "plates", "left"), { recursive: true });
  await Deno.mkdir(join(root, "plates", "right"));
  await writeRandomFile(join(root, "sh010.mov"), 40 * MIB);
  for (let f = 1001; f <= 1012; f++) {
    await writeRandomFile(join(root, "plates", "left", `sh010.${f}.exr`), 50_000 + f);
    await writeRandomFile(join(root, "plates", "right", `sh010.${f}.exr`), 60_000 + f);
  }
  await Deno.symlink("sh010.mov", join(root, "latest.mov"));
}

function rows<T>(plan: string, sql: string): T[] {
  const db = new DatabaseSync(plan, { readOnly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

Deno.test("ferry plan writes every file and range with its id and touches no destination; ferry apply runs it, and again finds it done", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeShot(src);
    const dst = join(dir, "delivery");
    const plan = join(dir, "sh010.plan");
    const planned = await runCli([
      "plan",
      "--chunk-size",
      "8MiB",
      "--cutoff",
      "16MiB",
      "--offload",
      "never",
      "--batch-id",
      "sh010-delivery",
      "--json",
      src,
      dst,
      "--out",
      plan,
    ]);
    assertEquals(planned.code, 0, planned.stderr);
    const event = JSON.parse(planned.stdout);
    assertEquals(
      [event.event, event.batch_id, event.files, event.bytes, event.chunks],
      ["planned", "sh010-delivery", 26, 40 * MIB + 612_078 + 732_078, 5],
    );
    assertEquals(await listTree(dst), [], "planning writes nothing at the destination");
    assertEquals(await listTree(dir).then((l) => l.filter((p) => p.includes("ferry-partial"))), []);
    // Every file has its own id; the movie's five ranges cover it.
    const entries = rows<{ id: number; name: string; size: number }>(
      plan,
      "SELECT id, name, size FROM entry ORDER BY id",
    );
    assertEquals(entries.length, 26);
    assertEquals(new Set(entries.map((e) => e.id)).size, 26);
    const movie = entries.find((e) => e.name === "sh010.mov")!;
    const ranges = rows<{ offset: number; length: number }>(
      plan,
      `SELECT offset, length FROM range WHERE file = ${movie.id} ORDER BY offset`,
    );
    assertEquals(ranges.map((r) => r.offset), [0, 8, 16, 24, 32].map((m) => m * MIB));
    assertEquals(ranges.reduce((sum, r) => sum + r.length, 0), 40 * MIB);

    const ledger = join(dir, "ledger");
    const applied = await runCli(["apply", "--ledger", ledger, "--json", plan]);
    assertEquals(applied.code, 0, applied.stderr);
    assertMatch(applied.stderr, /batch sh010-delivery \(plan .*sh010\.plan\)/);
    await assertSameTree(dst, src);
    // The ids the run reported are the plan's.
    const reported = applied.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.event === "file");
    assertEquals(reported.length, 26);
    const again = await runCli(["apply", "--ledger", ledger, plan]);
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stderr, /copied 0 of 26 files .*; 26 skipped/);
    const status = await batchStatus(ledger, "sh010-delivery");
    assertEquals([status?.runs.length, status?.filesDone, status?.state], [2, 26, "done"]);
    // A plan file names its batch: status and resume take it.
    const shown = await runCli(["status", "--ledger", ledger, plan]);
    assertEquals(shown.code, 0, shown.stderr);
    assertMatch(shown.stdout, /^batch sh010-delivery · copy · done\n {2}26 of 26 files done/);
    const resumed = await runCli(["resume", "--ledger", ledger, plan]);
    assertEquals(resumed.code, 0, resumed.stderr);
    assertEquals((await batchStatus(ledger, "sh010-delivery"))?.runs.length, 3);
  });
});

Deno.test("a plan keeps its sources as they were: a file changed since fails as source-changed, the rest is copied; the plan's settings cannot be changed at apply", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeShot(src);
    const plan = join(dir, "p.plan");
    const { totals } = await planToFile([{ src, dst: join(dir, "out") }], plan);
    assertEquals(totals.files, 26);
    await Deno.writeTextFile(join(src, "plates", "left", "sh010.1005.exr"), "re-rendered");
    const refused = await runCli(["apply", "--cutoff", "1MiB", "--verify", "source", plan]);
    assertEquals(refused.code, 2);
    assertMatch(
      refused.stderr,
      /The plan '.*p\.plan' fixes --cutoff, --verify: plan again to change them/,
    );
    assertEquals(await listTree(join(dir, "out")), []);
    const run = await runCli(["apply", "--json", "--workers", "2", plan]);
    assertEquals(run.code, 1, run.stderr);
    const failed = run.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.event === "file" && e.status === "failed");
    assertEquals(failed.map((f) => [f.src, f.code]), [
      [join(src, "plates", "left", "sh010.1005.exr"), "source-changed"],
    ]);
    assertEquals((await listTree(join(dir, "out"))).length, 3 + 25);
    await assertNoTemps(join(dir, "out"));
  });
});

Deno.test("bad input writes no plan: a missing source, no --out, a plan file that is not one", async () => {
  await withTempDir(async (dir) => {
    const plan = join(dir, "p.plan");
    const missing = await runCli(["plan", join(dir, "nope"), join(dir, "out"), "--out", plan]);
    assertEquals(missing.code, 2);
    assertMatch(missing.stderr, /nope/);
    const noOut = await runCli(["plan", dir, join(dir, "out")]);
    assertEquals(noOut.code, 2);
    assertMatch(noOut.stderr, /ferry plan needs --out PLAN/);
    assertEquals(await listTree(dir), []);
    // A plan cut short is no plan.
    const src = join(dir, "a.mov");
    await writeRandomFile(src, 1000);
    await planToFile([{ src, dst: join(dir, "b.mov") }], plan);
    const db = new DatabaseSync(plan);
    db.exec("DELETE FROM plan WHERE key = 'format'");
    db.close();
    const broken = await runCli(["apply", plan]);
    assertEquals(broken.code, 2);
    assertMatch(broken.stderr, /Cannot read the plan '.*p\.plan': it is not a complete ferry plan/);
  });
});

Deno.test("ferry plan --from takes the original JSON batch; a move plan moves", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeShot(src);
    const before = await listTree(src);
    const batch = join(dir, "batch.json");
    await Deno.writeTextFile(
      batch,
      JSON.stringify({
        mappings: [{ src, dst: join(dir, "moved") }],
        operation_type: "move",
        max_workers: 4,
        batch_id: "from-json",
      }),
    );
    const plan = join(dir, "m.plan");
    const planned = await runCli(["plan", "--from", batch, "--out", plan]);
    assertEquals(planned.code, 0, planned.stderr);
    assertMatch(planned.stderr, /planned batch from-json \(move\)/);
    const applied = await runCli(["apply", "--ledger", join(dir, "ledger"), plan]);
    assertEquals(applied.code, 0, applied.stderr);
    assertEquals(await listTree(join(dir, "moved")), before);
    assertEquals(await listTree(src), []);
  });
});

Deno.test("four processes run one plan at once, each with its own journal: the delivery is whole, every run ends well, status merges them", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeShot(src);
    const dst = join(dir, "delivery");
    const plan = join(dir, "p.plan");
    await planToFile([{ src, dst }], plan, {
      batchId: "shared",
      chunkBytes: 4 * MIB,
      offload: "never",
    });
    const ledger = join(dir, "ledger");
    const runs = await Promise.all(
      [1, 2, 3, 4].map(() => runCli(["apply", "--ledger", ledger, "--workers", "2", plan])),
    );
    for (const run of runs) assertEquals(run.code, 0, run.stderr);
    await assertSameTree(dst, src);
    await assertNoTemps(dst);
    const journals = journalsIn(await batchDir(ledger, "shared"));
    assertEquals(journals.length, 4);
    const status = await batchStatus(ledger, "shared");
    assertEquals([status?.runs.length, status?.filesDone, status?.failures.length], [4, 26, 0]);
    assert(status!.runs.every((r) => r.state === "done"));
    // The plan file was only read.
    const db = new DatabaseSync(plan, { readOnly: true });
    const count = db.prepare("SELECT count(*) AS n FROM entry").get() as { n: number };
    db.close();
    assertEquals(count.n, 26);
  });
});

Deno.test("the library: planToFile, then openPlanFile with the run's own worker count, applyPlan", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await makeShot(src);
    const plan = join(dir, "lib.plan");
    const planned = await planToFile([{ src, dst: join(dir, "copy") }], plan, {
      cutoffBytes: MIB,
      offload: "never",
    });
    assertEquals(planned.totals.chunks > 1, true);
    const opened = await openPlanFile(plan, { maxWorkers: 3 });
    assertEquals(opened.header.settings.maxWorkers, 3);
    assertEquals(opened.header.settings.cutoffBytes, MIB);
    const result = await applyPlan(opened);
    assertEquals(result.ok, true);
    await assertSameTree(join(dir, "copy"), src);
  });
});
