// Tests on a real Slurm cluster (../shared/farm: slurmctld and two slurmd on
// this machine). Where it cannot come up (not root, no packages) they are
// skipped with the reason printed, never passed silently.
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { batchStatus, planLedgerDir } from "../mod.ts";
import { batchDir, journalsIn } from "../lib/ledger/ledger_dir.ts";
import { readPlanHeader } from "../lib/plan/plan_file.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  bringUp,
  runCli,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { assertDelivered, makeDelivery } from "./_farm.ts";

/** Brings the cluster up (idempotent); its environment, or why it cannot come up. */
async function slurm(): Promise<Record<string, string> | string> {
  const env = await bringUp("farm/slurm-up.sh", "the farm bed");
  if (typeof env === "string") return env;
  return env.SLURM_CONF === undefined ? "slurm-up.sh gave no SLURM_CONF" : env;
}

const farm = await slurm();
if (typeof farm === "string") console.warn(`SKIPPED Slurm tests: ${farm}`);
const ignore = typeof farm === "string";
const env = typeof farm === "string" ? {} : farm;

/** Runs a Slurm command with the cluster's environment. */
async function scheduler(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${program} ${args.join(" ")}: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

/** Waits until none of the jobs is queued or running. */
async function drained(jobs: string[]): Promise<void> {
  const done = await waitFor(async () => {
    const queued = await scheduler("squeue", ["-h", "-j", jobs.join(",")]).catch(() => "");
    if (queued.trim() === "") return true;
    await new Promise((r) => setTimeout(r, 200));
    return false;
  }, 900);
  assert(done, `jobs ${jobs.join(", ")} still queued`);
}

/** The finished tasks of an array job, as Slurm's job completion log says: task id → state. */
async function completions(job: string): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  const log = await Deno.readTextFile(env.FARM_JOBCOMP!).catch(() => "");
  for (const line of log.split("\n")) {
    const id = /(?:^| )JobId=(\d+) /.exec(line)?.[1];
    const array = / ArrayJobId=(\d+) ArrayTaskId=(\d+) /.exec(line);
    const state = / JobState=(\S+) /.exec(line)?.[1] ?? "?";
    if (array?.[1] === job) states.set(array[2]!, state);
    else if (id === job) states.set("job", state);
  }
  return states;
}

/** A delivery and its plan in `dir`, planned through the CLI. */
async function planned(dir: string, movieMiB: number): Promise<[string, string, string]> {
  const src = join(dir, "shot");
  await makeDelivery(src, movieMiB);
  const dst = join(dir, "delivery");
  const plan = join(dir, "sh010.plan");
  const run = await runCli(["plan", src, dst, "--out", plan, "--offload", "never", "--mhl"]);
  assertEquals(run.code, 0, run.stderr);
  return [src, dst, plan];
}

/** `ferry farm slurm PLAN --shards 4 --submit --json`: the two job ids. */
async function submit(plan: string, knobs: string[] = []): Promise<[string, string]> {
  const run = await runCli(
    ["farm", "slurm", plan, "--shards", "4", "--submit", "--json", ...knobs],
    {
      flags: ["-A"],
      env,
    },
  );
  assertEquals(run.code, 0, run.stderr);
  const event = JSON.parse(run.stdout);
  return [event.shards_job, event.finalize_job];
}

Deno.test({
  name:
    "ferry farm slurm --submit runs a plan as a 4-task array job and a finalize job: an identical, verified delivery",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      const [src, dst, plan] = await planned(dir, 48);
      const [array, finalize] = await submit(plan);
      await drained([array, finalize]);
      const states = await completions(array);
      assertEquals([...states.entries()].sort(), [
        ["0", "COMPLETED"],
        ["1", "COMPLETED"],
        ["2", "COMPLETED"],
        ["3", "COMPLETED"],
      ]);
      assertEquals((await completions(finalize)).get("job"), "COMPLETED");
      const logs = await Promise.all(
        [...Deno.readDirSync(`${plan}.slurm`)].filter((e) => e.name.endsWith(".log"))
          .map((e) => Deno.readTextFile(join(`${plan}.slurm`, e.name))),
      );
      // The last task or the finalize job published the split movie; exactly one of them.
      assertEquals(
        logs.filter((l) => /finalized batch .*: 1 file split/.test(l)).length,
        1,
        logs.join("\n---\n"),
      );
      await assertDelivered(src, dst, plan, planLedgerDir(plan));
    });
  },
});

Deno.test({
  name:
    "a shard cancelled mid-way by scancel leaves the plan unfinalized; sbatch --array=K runs that shard alone, which continues and finalizes an identical delivery",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      const [src, dst, plan] = await planned(dir, 512);
      const ledger = planLedgerDir(plan);
      const { batchId } = readPlanHeader(plan).settings;
      // Small buffers, one worker: slow enough that the cancel lands mid-way.
      const [array, finalize] = await submit(plan, ["--workers", "1", "--buffer-size", "4KiB"]);
      const rangesOf = async (shard: string): Promise<number> => {
        let n = 0;
        for (const journal of journalsIn(await batchDir(ledger, batchId))) {
          try {
            const db = new DatabaseSync(journal, { readOnly: true });
            const run = db.prepare("SELECT shard, state FROM run").get() as { shard: string };
            if (run?.shard === shard) {
              n += (db.prepare("SELECT count(*) AS n FROM chunk").get() as { n: number }).n;
            }
            db.close();
          } catch { /* not written yet */ }
        }
        return n;
      };
      const seen = await waitFor(async () => (await rangesOf("2/4")) > 0, 60_000);
      assert(seen, "shard 2 journaled a range");
      await scheduler("scancel", [`${array}_2`]);
      await drained([array, finalize]);
      const states = await completions(array);
      assertEquals(states.get("2"), "CANCELLED", [...states].join(" "));
      for (const task of ["0", "1", "3"]) assertEquals(states.get(task), "COMPLETED");
      const status = await batchStatus(ledger, batchId);
      const shard2 = status?.shards?.[2]?.run?.state;
      assert(shard2 === "cancelled" || shard2 === "interrupted", `shard 2 is ${shard2}`);
      assertEquals(status?.finalized, undefined);
      assert(
        (await Deno.lstat(join(dst, "sh010.mov")).catch(() => null)) === null,
        "not published",
      );
      const shown = await runCli(["status", plan], { flags: ["-A"] });
      assertMatch(shown.stdout, /3 of 4 shards ended/);
      // That one shard again, alone.
      const again =
        (await scheduler("sbatch", ["--parsable", "--array=2", join(`${plan}.slurm`, "shards.sh")]))
          .trim().split(";")[0]!;
      await drained([again]);
      assertEquals((await completions(again)).get("2"), "COMPLETED");
      const log = await Deno.readTextFile(join(`${plan}.slurm`, `shard-${again}_2.log`));
      assertMatch(log, /kept from a killed run/);
      assertMatch(log, /finalized batch .*: 1 file split across shards published/);
      await assertDelivered(src, dst, plan, ledger);
    });
  },
});
