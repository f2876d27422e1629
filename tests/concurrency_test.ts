// Adaptive concurrency: the tuner's decisions (deterministic windows), the
// pool and lanes it drives, the settings that pin it, and whole copies that
// show it (what it gains on real storage is measured by bench/realnet.ts).
import { join } from "node:path";
import { ConcurrencyTuner, lanesFor, type TunerWindow } from "../lib/transfer/concurrency_tuner.ts";
import { Lane } from "../lib/transfer/lane.ts";
import { Accounting } from "../lib/transfer/accounting.ts";
import { BatchConcurrency } from "../lib/transfer/batch_concurrency.ts";
import { StoragePairs } from "../lib/transfer/storage_pairs.ts";
import type { PlannedFile } from "../lib/plan/plan_item.ts";
import { CLIMB_WINDOW_MS, type CpuTimes, TuningLoop } from "../lib/transfer/tuning_loop.ts";
import { ControlBlock } from "../lib/workers/control.ts";
import { WorkerPool } from "../lib/workers/pool.ts";
import { rerunOptions, resolveOptions } from "../lib/options.ts";
import { lastLevels } from "../lib/ledger/resume_point.ts";
import { batchDir, journalsIn } from "../lib/ledger/ledger_dir.ts";
import { applyMappings } from "../mod.ts";
import { MIB } from "../lib/size.ts";
import {
  applyFilledBatch,
  assert,
  assertEquals,
  assertMatch,
  assertSameFile,
  runCli,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** A window of 300 ms at `mibPerS`. */
function at(mibPerS: number, cpuBound = false): TunerWindow {
  return { work: mibPerS * MIB * 0.3, ms: 300, cpuBound };
}

/** The levels a tuner goes through for a series of windows. */
function levels(tuner: ConcurrencyTuner, windows: TunerWindow[]): number[] {
  return windows.map((w) => {
    tuner.observe(w);
    return tuner.streams;
  });
}

/**
 * A machine whose CPUs stay idle whatever else runs on this one: where the
 * storage is simulated with timers, the tuner's decisions are the
 * storage's, not those of a loaded test machine (whose saturated CPUs make
 * it probe one stream less, as it should).
 */
function idleMachine(): () => CpuTimes {
  let total = 0;
  return () => ({ busy: 0, total: total += 100 });
}

Deno.test("ConcurrencyTuner climbs by doubling while each step is 10 % faster, and goes back at the first that is not", () => {
  const tuner = new ConcurrencyTuner({ max: 16 });
  assertEquals(tuner.streams, 2);
  // Storage that serves 4 streams best: 8 is slower.
  assertEquals(levels(tuner, [at(200), at(380), at(300), at(380), at(385)]), [4, 8, 4, 4, 4]);
  const decision = new ConcurrencyTuner({ max: 8, start: 4 });
  decision.observe(at(100));
  // Still climbing (its windows are shorter then) until a step does not pay.
  assertEquals(decision.climbing, true);
  assertEquals(decision.observe(at(105)), {
    streams: 4,
    from: 8,
    reason: "8 streams were not 10 % faster than 4",
  });
  assertEquals(decision.climbing, false);
});

Deno.test("ConcurrencyTuner stops at its ceiling and starts where it is told, within 1 and the ceiling", () => {
  assertEquals(levels(new ConcurrencyTuner({ max: 8 }), [at(100), at(200), at(400), at(800)]), [
    4,
    8,
    8,
    8,
  ]);
  assertEquals(new ConcurrencyTuner({ max: 8, start: 5 }).streams, 5);
  assertEquals(new ConcurrencyTuner({ max: 3, start: 5 }).streams, 3);
  assertEquals(new ConcurrencyTuner({ max: 8, start: 0 }).streams, 1);
  // A ceiling of 1: nothing to decide.
  assertEquals(levels(new ConcurrencyTuner({ max: 1 }), [at(100), at(500)]), [1, 1]);
});

Deno.test("ConcurrencyTuner ignores windows in which nothing was copied", () => {
  const tuner = new ConcurrencyTuner({ max: 8 });
  const idle = { work: 0, ms: 300, cpuBound: false };
  assertEquals(levels(tuner, [idle, idle, at(100), idle, at(105)]), [2, 2, 4, 4, 2]);
});

Deno.test("ConcurrencyTuner, holding, probes one stream more every few windows and keeps it only when it pays", () => {
  const tuner = new ConcurrencyTuner({ max: 8, probeEvery: 3 });
  // Climb 2 → 4, 8 not faster: hold at 4.
  assertEquals(levels(tuner, [at(100), at(200), at(205)]), [4, 8, 4]);
  // Three windows held, then 5; 5 not faster: back to 4.
  assertEquals(levels(tuner, [at(200), at(200), at(200), at(210)]), [4, 4, 5, 4]);
  // The storage got faster with more streams (another kind of file): 5 kept.
  assertEquals(levels(tuner, [at(200), at(200), at(200), at(260)]), [4, 4, 5, 5]);
});

Deno.test("ConcurrencyTuner does not probe upward while the CPUs are saturated: it tries one stream less and keeps it when no slower", () => {
  const tuner = new ConcurrencyTuner({ max: 8, probeEvery: 2 });
  assertEquals(levels(tuner, [at(100), at(200), at(205)]), [4, 8, 4]);
  assertEquals(levels(tuner, [at(200, true), at(200, true)]), [4, 3]);
  const probe = tuner.observe(at(200, true));
  assertEquals(probe, undefined);
  assertEquals(tuner.streams, 3);
  // One less that is slower is undone.
  assertEquals(levels(tuner, [at(200, true), at(200, true), at(150, true)]), [3, 2, 3]);
});

Deno.test("ConcurrencyTuner does not climb from a window in which CPU was the limit", () => {
  // Hashing in the page cache on one core: the second window is faster only
  // because the first paid for starting the workers.
  const tuner = new ConcurrencyTuner({ max: 8, probeEvery: 2 });
  assertEquals(levels(tuner, [at(100, true), at(300, true)]), [2, 2]);
  // Held: the next probe goes one down, not up.
  assertEquals(
    tuner.observe(at(300, true))?.reason,
    "the CPUs are saturated: probing one stream less",
  );
  // Climbing from a window with CPU to spare still happens.
  assertEquals(levels(new ConcurrencyTuner({ max: 8 }), [at(100, true)]), [2]);
  assertEquals(levels(new ConcurrencyTuner({ max: 8 }), [at(100)]), [4]);
});

Deno.test("lanesFor() gives ranges = streams, large files = half, small files = eight times, within the ceilings", () => {
  const ceilings = { streams: 8, files: 4, smallFiles: 16 };
  assertEquals(lanesFor(1, ceilings), { streams: 1, files: 1, smallFiles: 8 });
  assertEquals(lanesFor(3, ceilings), { streams: 3, files: 2, smallFiles: 16 });
  assertEquals(lanesFor(8, ceilings), { streams: 8, files: 4, smallFiles: 16 });
  assertEquals(lanesFor(12, { streams: 8, files: 2, smallFiles: 4 }), {
    streams: 8,
    files: 2,
    smallFiles: 4,
  });
  // Files whose ranges run one at a time (into a share): one file per stream.
  assertEquals(lanesFor(3, ceilings, 1), { streams: 3, files: 3, smallFiles: 16 });
  assertEquals(lanesFor(8, ceilings, 1), { streams: 8, files: 4, smallFiles: 16 });
});

Deno.test("a Lane resized down lets running tasks finish and starts no more than the new size; widen() is a floor", async () => {
  const lane = new Lane(4, 100);
  let running = 0;
  const releases: (() => void)[] = [];
  const task = (): Promise<void> => {
    running++;
    return new Promise<void>((resolve) => releases.push(resolve)).then(() => {
      running--;
    });
  };
  for (let i = 0; i < 10; i++) await lane.push(task);
  assertEquals(running, 4);
  lane.resize(2);
  // Finish the four that run: only two start after them.
  for (const release of releases.splice(0)) release();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(running, 2);
  lane.widen(3);
  lane.resize(1);
  assertEquals(lane.concurrency, 3);
  while (running > 0 || releases.length > 0) {
    for (const release of releases.splice(0)) release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert(running <= 3, `${running} running`);
  }
  await lane.drain();
});

Deno.test("the worker pool starts only as many workers as its streams allow and copies every range", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src.bin");
    await writeRandomFile(src, 8 * MIB);
    for (const streams of [1, 3]) {
      const dst = join(dir, `dst-${streams}.bin`);
      await Deno.writeFile(dst, new Uint8Array());
      await Deno.truncate(dst, 8 * MIB);
      const pool = new WorkerPool(new ControlBlock(8), { bufferBytes: 64 * 1024 });
      pool.streams = streams;
      assertEquals(pool.streams, streams);
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          pool.run({
            src,
            dst,
            offset: i * MIB,
            length: MIB,
            offload: false,
            offloadRequired: false,
            offloadStepBytes: MIB,
          }, 1)),
      );
      // Workers start one per turn of the event loop: a fast range may leave fewer needed.
      assert(pool.started >= 1 && pool.started <= streams, `${pool.started} workers`);
      await pool.close();
      assertEquals(outcomes.map((o) => o.type), Array(8).fill("done"));
      await assertSameFile(dst, src);
    }
    const pool = new WorkerPool(new ControlBlock(4), { bufferBytes: 4096 });
    pool.streams = 99;
    assertEquals(pool.streams, 4);
    pool.streams = 0;
    assertEquals(pool.streams, 1);
    await pool.close();
  });
});

Deno.test("a warmed worker pool starts one worker before any range, and the first range runs on it", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src.bin");
    const dst = join(dir, "dst.bin");
    await writeRandomFile(src, 3 * MIB);
    await Deno.writeFile(dst, new Uint8Array());
    await Deno.truncate(dst, 3 * MIB);
    const pool = new WorkerPool(new ControlBlock(4), { bufferBytes: 64 * 1024 });
    try {
      pool.warm();
      pool.warm();
      assertEquals(pool.started, 1);
      const outcome = await pool.run({
        src,
        dst,
        offset: 0,
        length: 3 * MIB,
        offload: false,
        offloadRequired: false,
        offloadStepBytes: MIB,
      }, 1);
      assertEquals(outcome.type, "done");
      assertEquals(pool.started, 1);
      await assertSameFile(dst, src);
    } finally {
      await pool.close();
    }
  });
});

Deno.test("a file whose ranges run one at a time gets one worker at a time, in order, while another file's ranges take the other streams", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src.bin");
    await writeRandomFile(src, 8 * MIB);
    const pool = new WorkerPool(new ControlBlock(4), { bufferBytes: 64 * 1024 });
    try {
      const ranges = Array.from({ length: 8 }, (_, i) => ({ offset: i * MIB, length: MIB }));
      /** Per file: its ranges' order as workers took them, and how many ran at each take. */
      const seen = new Map<number, { order: number[]; alongside: number[] }>();
      const copy = async (tag: number, oneAtATime: boolean): Promise<void> => {
        const dst = join(dir, `dst-${tag}.bin`);
        await Deno.writeFile(dst, new Uint8Array());
        await Deno.truncate(dst, 8 * MIB);
        const log = { order: [] as number[], alongside: [] as number[] };
        seen.set(tag, log);
        const outcome = await pool.runRanges(tag, ranges, (chunk) => {
          log.order.push(chunk.offset / MIB);
          log.alongside.push(pool.running(tag));
          return {
            src,
            dst,
            ...chunk,
            offload: false,
            offloadRequired: false,
            offloadStepBytes: MIB,
          };
        }, { hashed: false, oneAtATime });
        assertEquals(outcome.complete, true);
        await assertSameFile(dst, src);
      };
      await Promise.all([copy(1, true), copy(2, false)]);
      assertEquals(seen.get(1)!.order, [0, 1, 2, 3, 4, 5, 6, 7]);
      assertEquals(seen.get(1)!.alongside, Array(8).fill(1), "one range of file 1 at a time");
      assert(Math.max(...seen.get(2)!.alongside) > 1, "file 2's ranges ran side by side");
      // Serial ranges keep their worker's files open from one range to the next:
      // one worker, and a file without a next range leaves none queued.
      await copy(3, true);
      assertEquals(seen.get(3)!.alongside, Array(8).fill(1));
      assertEquals(pool.running(3), 0);
    } finally {
      await pool.close();
    }
  });
});

Deno.test("the worker pool copies fewer ranges at once as soon as its streams are lowered, also while ranges are queued", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src.bin");
    const dst = join(dir, "dst.bin");
    const ranges = 24;
    await writeRandomFile(src, ranges * 2 * MIB);
    await Deno.writeFile(dst, new Uint8Array());
    await Deno.truncate(dst, ranges * 2 * MIB);
    const pool = new WorkerPool(new ControlBlock(4), { bufferBytes: 64 * 1024 });
    let inFlight = 0;
    let lowered = false;
    /** Ranges already running when each range after the lowering started. */
    const alongside: number[] = [];
    const outcomes = await Promise.all(Array.from({ length: ranges }, (_, i) =>
      pool.run(
        () => {
          if (lowered) alongside.push(inFlight);
          inFlight++;
          return {
            src,
            dst,
            offset: i * 2 * MIB,
            length: 2 * MIB,
            offload: false,
            offloadRequired: false,
            offloadStepBytes: MIB,
          };
        },
        i,
        undefined,
        () => {
          inFlight--;
          if (!lowered && i >= 4) {
            lowered = true;
            pool.streams = 1;
          }
        },
      )));
    await pool.close();
    assertEquals(outcomes.map((o) => o.type), Array(ranges).fill("done"));
    await assertSameFile(dst, src);
    assert(alongside.length > 0, "ranges started after the lowering");
    assertEquals(alongside.filter((n) => n > 0), [], "each started alone");
  });
});

Deno.test("the adaptive level counts the bytes a verification reads back: storage that reads back faster with more streams gets them", async () => {
  const control = new ControlBlock(8);
  const pool = new WorkerPool(control, { bufferBytes: 64 * 1024 });
  const accounting = new Accounting(control, performance.now());
  const targets = { pool, large: new Lane(4, 16), small: new Lane(16, 64), accounting };
  const levels: number[] = [];
  const concurrency = new BatchConcurrency(resolveOptions({}), targets, {
    onChange: (change) => levels.push(change.streams),
    machineCpu: idleMachine(),
  });
  concurrency.start();
  // Only read-backs run (the copies are done): each stream reads 100 MiB/s.
  const reading = setInterval(() => accounting.addChecked(pool.streams * MIB), 10);
  try {
    assert(await waitFor(() => Promise.resolve(levels.includes(4)), 5_000), `levels ${levels}`);
  } finally {
    clearInterval(reading);
    concurrency.stop();
    await pool.close();
  }
});

/** A batch's concurrency with a pool and lanes of its own, on a machine whose CPUs stay idle. */
function adaptiveTargets(): {
  pool: WorkerPool;
  accounting: Accounting;
  targets: ConstructorParameters<typeof BatchConcurrency>[1];
} {
  const control = new ControlBlock(8);
  const pool = new WorkerPool(control, { bufferBytes: 64 * 1024 });
  const accounting = new Accounting(control, performance.now());
  return {
    pool,
    accounting,
    targets: { pool, large: new Lane(4, 16), small: new Lane(16, 64), accounting },
  };
}

const PAIRS: Record<string, string> = { "1>2": "nfs → local", "2>3": "local → smb" };

Deno.test("each storage pair of a batch gets a level of its own: a pair met first climbs from 2, a pair met again gets back its level", async () => {
  const { pool, accounting, targets } = adaptiveTargets();
  const changes: { streams: number; reason: string }[] = [];
  const concurrency = new BatchConcurrency(resolveOptions({}), targets, {
    onChange: ({ streams, reason }) => changes.push({ streams, reason }),
    machineCpu: idleMachine(),
  });
  concurrency.labelPairs((pair) => PAIRS[pair] ?? pair);
  concurrency.start();
  concurrency.begin("1>2");
  // Pair 1>2 copies 100 MiB/s per stream: it climbs.
  const copying = setInterval(() => accounting.addChecked(pool.streams * MIB), 10);
  try {
    assert(
      await waitFor(() => Promise.resolve(concurrency.inUse.streams >= 4), 5_000),
      JSON.stringify(changes),
    );
  } finally {
    clearInterval(copying);
  }
  const climbed = concurrency.inUse.streams;
  try {
    // A file of another pair starts while one of the first still runs: one level for both.
    concurrency.begin("2>3");
    assertEquals(concurrency.inUse.streams, climbed);
    // The first pair's last file ends: the other pair's level, its own start.
    const before = changes.length;
    concurrency.end("1>2");
    assertEquals(concurrency.inUse.streams, 2);
    assertEquals(changes.slice(before), [
      { streams: 2, reason: "files from local → smb: a level of its own" },
    ]);
    // And back: the first pair's files come again, at the level they had reached.
    concurrency.begin("1>2");
    concurrency.end("2>3");
    assertEquals(concurrency.inUse.streams, climbed);
    assertEquals(changes.at(-1), {
      streams: climbed,
      reason: "files from nfs → local again: its own level",
    });
    assertEquals(concurrency.levels, { "1>2": climbed, "2>3": 2 });
  } finally {
    concurrency.stop();
    await pool.close();
  }
});

Deno.test("a batch's storage pairs start at the levels its last run recorded for them, a new pair at the start level", async () => {
  const { pool, targets } = adaptiveTargets();
  const changes: { streams: number; reason: string }[] = [];
  const concurrency = new BatchConcurrency(resolveOptions({}), targets, {
    start: 3,
    remembered: { "1>2": 6, "2>3": 3 },
    onChange: ({ streams, reason }) => changes.push({ streams, reason }),
    machineCpu: idleMachine(),
  });
  concurrency.labelPairs((pair) => PAIRS[pair] ?? pair);
  try {
    assertEquals(concurrency.inUse.streams, 3);
    concurrency.begin("1>2");
    assertEquals(concurrency.inUse.streams, 6);
    assertEquals(changes, [{ streams: 6, reason: "nfs → local: the level its last run reached" }]);
    concurrency.end("1>2");
    concurrency.begin("2>3");
    assertEquals(concurrency.inUse.streams, 3);
    concurrency.end("2>3");
    concurrency.begin("4>2");
    assertEquals(concurrency.inUse.streams, 2);
    assertEquals(concurrency.levels, { "1>2": 6, "2>3": 3, "4>2": 2 });
  } finally {
    concurrency.stop();
    await pool.close();
  }
});

Deno.test("StoragePairs looks up a destination folder once per folder the run did not make: a folder it made is on its parent's device", async () => {
  const [dev, shm] = await Promise.all([Deno.stat("/dev"), Deno.stat("/dev/shm")]).catch(() => []);
  if (dev === undefined || shm === undefined || dev.dev === shm.dev) {
    console.warn("SKIPPED the StoragePairs test: needs /dev/shm mounted apart from /dev");
    return;
  }
  await withTempDir(async (dir) => {
    const mappings = [{ src: "/card/a", dst: join(dir, "out", "a") }];
    const pairs = new StoragePairs(mappings);
    const file = (dst: string) => ({ dev: 7, mapping: 0, dst }) as PlannedFile;
    // Not there yet: its nearest existing folder's device, looked up.
    const here = (await Deno.stat(dir)).dev;
    assertEquals(pairs.now(file(join(dir, "out", "a", "f1"))), undefined);
    assertEquals(await pairs.of(file(join(dir, "out", "a", "f1"))), `7>${here}`);
    assertEquals(pairs.now(file(join(dir, "out", "a", "f2"))), `7>${here}`);
    assertEquals(pairs.label(`7>${here}`), `/card/a → ${join(dir, "out", "a")}`);
    // A folder the run made is taken as on its parent's device, without a look
    // (a look at /dev/shm would find another device than /dev's).
    pairs.made("/dev/shm");
    assertEquals(await pairs.of(file("/dev/shm/f")), `7>${dev.dev}`);
  });
});

Deno.test("ferry apply of mappings between two pairs of file systems reports the second pair's own level and journals each pair's", async (t) => {
  const shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ferry-test-" }).catch(() => null);
  if (shm === null) {
    console.warn("SKIPPED the two-pair batch: no /dev/shm to make a second file system of");
    return;
  }
  try {
    await withTempDir(async (dir) => {
      const [shmDev, dirDev] = [(await Deno.stat(shm)).dev, (await Deno.stat(dir)).dev];
      if (shmDev === dirDev) {
        console.warn(`SKIPPED the two-pair batch: /dev/shm and ${dir} are one file system`);
        return;
      }
      // 40 files per mapping: more than the 16 small files in flight, so that
      // the first pair's files end while the second's run.
      const mappings = [
        { src: join(shm, "a"), dst: join(dir, "out-a") },
        { src: join(dir, "b"), dst: join(dir, "out-b") },
      ];
      const { events, ledger } = await applyFilledBatch(dir, mappings, "pairs");
      const second = events.find((e) =>
        e.event === "concurrency" && String(e.reason).startsWith("files from ")
      );
      assertEquals(
        second?.reason,
        `files from ${mappings[1]!.src} → ${mappings[1]!.dst}: a level of its own`,
      );
      await t.step("the journal has both pairs' levels", async () => {
        const last = await lastLevels(ledger, "pairs", "none");
        assertEquals(
          Object.keys(last?.pairs ?? {}).sort(),
          [`${dirDev}>${dirDev}`, `${shmDev}>${dirDev}`].sort(),
        );
      });
    });
  } finally {
    await Deno.remove(shm, { recursive: true });
  }
});

Deno.test("concurrency is adaptive by default, fixed when a worker count is given, and a worker count given again for a rerun fixes it", () => {
  assertEquals(resolveOptions({}).concurrency, "adaptive");
  assertEquals(resolveOptions({ maxWorkers: 4 }).concurrency, "fixed");
  assertEquals(resolveOptions({ smallFileWorkers: 4 }).concurrency, "fixed");
  assertEquals(resolveOptions({ maxWorkers: 4, concurrency: "adaptive" }).concurrency, "adaptive");
  assertEquals(resolveOptions({ concurrency: "fixed" }).concurrency, "fixed");
  const adaptive = resolveOptions({ batchId: "b" });
  assertEquals(resolveOptions(rerunOptions(adaptive, {})).concurrency, "adaptive");
  assertEquals(resolveOptions(rerunOptions(adaptive, { fileWorkers: 2 })).concurrency, "fixed");
  const fixed = resolveOptions({ batchId: "b", maxWorkers: 2 });
  assertEquals(
    resolveOptions(rerunOptions(fixed, { concurrency: "adaptive" })).concurrency,
    "adaptive",
  );
});

/** `ferry copy --json` with `flags`, checked (exit 0, an identical copy); its output and events. */
async function jsonCopy(
  src: string,
  dst: string,
  flags: string[],
): Promise<{ stdout: string; stderr: string; events: Record<string, unknown>[] }> {
  const run = await runCli(["copy", "--no-ledger", "--json", ...flags, src, dst]);
  assertEquals(run.code, 0, run.stderr);
  await assertSameFile(dst, src);
  const events = run.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  return { stdout: run.stdout, stderr: run.stderr, events };
}

Deno.test("ferry copy shows the concurrency in use; where more streams raise nothing (a bandwidth limit) it goes back and says why", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "clip.mov");
    await writeRandomFile(src, 96 * MIB);
    const adaptive = await jsonCopy(src, join(dir, "adaptive.mov"), [
      "--verbose",
      "--bwlimit",
      "48M",
    ]);
    const all = adaptive.events;
    const progress = all.filter((e) => e.event === "progress");
    assert(progress.length > 0, adaptive.stdout);
    for (const p of progress) {
      assertEquals((p.concurrency as Record<string, unknown>).mode, "adaptive");
    }
    const changes = all.filter((e) => e.event === "concurrency");
    assertEquals(changes[0]?.from, 2, adaptive.stdout);
    assertEquals(changes[0]?.reason, "starting to climb");
    // At a fixed rate no step up pays: the first one that is measured is undone.
    const undone = changes.find((e) => /were not 10 % faster/.test(String(e.reason)));
    assert(undone !== undefined, adaptive.stdout);
    assert(Number(undone.streams) < Number(undone.from), JSON.stringify(undone));
    assertMatch(adaptive.stderr, /concurrency 2 -> 4 streams \(starting to climb\)/);

    const fixed = await jsonCopy(src, join(dir, "fixed.mov"), ["-w", "3", "--bwlimit", "96M"]);
    const fixedEvents = fixed.events;
    assertEquals(fixedEvents.filter((e) => e.event === "concurrency"), []);
    const shown = fixedEvents.find((e) => e.event === "progress")?.concurrency;
    assertEquals(shown, { mode: "fixed", streams: 3, files: 4, small_files: 16 });

    const bad = await runCli(["copy", "--concurrency", "fast", src, join(dir, "bad.mov")]);
    assertEquals(bad.code, 2);
    assertMatch(bad.stderr, /Invalid value for --concurrency: 'fast' \(expected adaptive, fixed\)/);
    assert(!(await Deno.lstat(join(dir, "bad.mov")).then(() => true, () => false)));
  });
});

Deno.test("a run of a journaled batch starts at the streams its last run recorded", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "clip.mov");
    await writeRandomFile(src, 80 * MIB);
    const ledger = join(dir, "ledger");
    const first: number[] = [];
    // A ceiling of 1 stream: the run records 1.
    await applyMappings([{ src, dst: join(dir, "a.mov") }], {
      batchId: "b",
      ledger,
      concurrency: "adaptive",
      maxWorkers: 1,
      progressIntervalMs: 1,
      onProgress: (p) => first.push(p.concurrency!.streams),
    });
    assert(first.length > 0 && first.every((s) => s === 1), `${first}`);
    const journals = journalsIn(await batchDir(ledger, "b"));
    assertEquals((await lastLevels(ledger, "b", "none"))?.streams, 1);
    // The next run of the batch (ceiling 8) starts at 1, not at 2.
    const second: number[] = [];
    await applyMappings([{ src, dst: join(dir, "b.mov") }], {
      batchId: "b",
      ledger,
      progressIntervalMs: 1,
      onProgress: (p) => second.push(p.concurrency!.streams),
    });
    assertEquals(second[0], 1);
    assertEquals(journalsIn(await batchDir(ledger, "b")).length, journals.length + 1);
    await assertSameFile(join(dir, "b.mov"), src);
  });
});

Deno.test("the process's CPU time reads the same through libc as through Node, and counts busy work", async () => {
  // Busy on this thread until the kernel's own count (getrusage, read here by
  // Node) says 300 ms of CPU went by: wall time would not do on a loaded machine.
  const script = `import { processCpuMs } from ${
    JSON.stringify(new URL("../lib/transfer/process_cpu.ts", import.meta.url).href)
  };
    import { resourceUsage } from "node:process";
    const cpu = () => { const u = resourceUsage(); return (u.userCPUTime + u.systemCPUTime) / 1000; };
    const first = processCpuMs();
    let before = first;
    while (before === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      before = processCpuMs();
    }
    const end = cpu() + 300;
    while (cpu() < end) Math.sqrt(Math.random());
    console.log(JSON.stringify({ first: first ?? null, spent: processCpuMs() - before }));`;
  for (const ffi of [true, false]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...(ffi ? ["--allow-ffi"] : []),
        `data:application/typescript,${encodeURIComponent(script)}`,
      ],
      stdout: "piped",
    }).output();
    assert(out.success, `ffi ${ffi}`);
    const { first, spent } = JSON.parse(new TextDecoder().decode(out.stdout));
    // Without FFI the first call only starts loading Node's process module.
    assertEquals(first === null, !ffi, `ffi ${ffi}: first reading ${first}`);
    assert(spent >= 250 && spent < 1000, `ffi ${ffi}: ${spent} ms of CPU for 300 ms spent`);
  }
});

Deno.test("the tuning loop does not judge the first window with work in it: workers were still starting", async () => {
  let work = 0;
  const decided: number[] = [];
  const started = performance.now();
  const loop = new TuningLoop(
    new ConcurrencyTuner({ max: 8 }),
    // Work grows between any two readings, as in a copy under way.
    () => work += MIB,
    () => decided.push(performance.now() - started),
    undefined,
    idleMachine(),
  );
  loop.start();
  try {
    assert(await waitFor(() => Promise.resolve(decided.length > 0)), "no decision");
  } finally {
    loop.stop();
  }
  // The first window only sets the baseline: the first step comes at the end
  // of the second, not of the first.
  assert(decided[0]! >= 2 * CLIMB_WINDOW_MS, `first decision after ${decided[0]} ms`);
});

Deno.test("TuningLoop measures a raised level from when it is in effect: workers that take 250 ms to start do not make it look slower", async () => {
  // Storage that serves 100 MiB/s per stream, where a new stream starts copying 250 ms
  // after its level is set (a worker's start, on a slow machine).
  const tuner = new ConcurrencyTuner({ max: 8 });
  let level = tuner.streams;
  let since = performance.now();
  let work = 0;
  let ticked = performance.now();
  const effective = (): number => (performance.now() - since < 250 ? 2 : level);
  const flowing = setInterval(() => {
    const now = performance.now();
    work += effective() * 100 * MIB * (now - ticked) / 1000;
    ticked = now;
  }, 5);
  const reasons: string[] = [];
  const loop = new TuningLoop(
    tuner,
    () => work,
    (decision) => {
      level = decision.streams;
      since = performance.now();
      reasons.push(decision.reason);
    },
    () => effective() === level,
    idleMachine(),
  );
  loop.start();
  try {
    assert(
      await waitFor(() => Promise.resolve(reasons.length >= 2), 10_000),
      `decisions: ${reasons}`,
    );
  } finally {
    loop.stop();
    clearInterval(flowing);
  }
  // 4 streams copy twice as fast as 2 once they run: the climb goes on to 8.
  assertEquals(reasons.slice(0, 2), ["starting to climb", "the last step up paid off"]);
  assert(tuner.streams >= 4, `${tuner.streams} streams`);
});
