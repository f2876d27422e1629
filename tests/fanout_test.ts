// Offload to several destinations (lib/fanout/): one read, a verified copy
// and an ASC MHL history in each, destinations independent of each other.
// The tests that need ../shared/testbed (a slow share, a 64 MiB volume) are
// skipped with the reason printed where it is not up.
import { join } from "node:path";
import { applyMappings, fanOut, InputError } from "../mod.ts";
import { MIB } from "../lib/size.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertRejectsWith,
  assertSameTree,
  listTree,
  runCli,
  snapshot,
  spawnCli,
  testbed,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";
import { noReference, runReference } from "./_mhl.ts";
import { ControlBlock } from "../lib/workers/control.ts";
import { WorkerPool } from "../lib/workers/pool.ts";
import { RateLimit } from "../lib/workers/rate_limit.ts";
import { Slab } from "../lib/workers/slab.ts";
import { seatWorkers } from "../lib/fanout/fan_out.ts";
import type { ConcurrencyInUse } from "../lib/transfer/progress.ts";

const bed = await testbed();
if (typeof bed === "string") console.warn(`SKIPPED offload tests on the testbed: ${bed}`);
const paths = typeof bed === "string" ? undefined : bed;

/** A camera card: a clip split into ranges, frames, a sidecar and an empty file. */
async function makeCard(root: string, clipBytes = 40 * MIB): Promise<string> {
  const card = join(root, "A001");
  await Deno.mkdir(join(card, "CLIPS"), { recursive: true });
  await writeRandomFile(join(card, "CLIPS", "A001C001.mov"), clipBytes);
  for (let i = 1; i <= 4; i++) {
    await writeRandomFile(join(card, "CLIPS", `A001C001.${1000 + i}.dng`), 3 * MIB + i);
  }
  await Deno.writeTextFile(join(card, "A001.xml"), "<clip/>");
  await Deno.writeFile(join(card, "EMPTY"), new Uint8Array());
  return card;
}

/**
 * A test against the testbed's slow share (skipped where the bed is not up):
 * a card with a clip of `clipBytes` in a temporary folder, and a temporary
 * folder on the share.
 */
function onSlowShare(
  name: string,
  clipBytes: number,
  fn: (card: string, dir: string, slow: string) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: paths === undefined,
    fn: () =>
      withTempDir(async (dir) => {
        const card = await makeCard(dir, clipBytes);
        await withTempDir((slow) => fn(card, dir, slow), { dir: paths!.net });
      }),
  });
}

/** Bytes this process has read through read(2)-like calls so far (`rchar`). */
async function readChars(): Promise<number> {
  const io = await Deno.readTextFile("/proc/self/io");
  return Number(/^rchar: (\d+)$/m.exec(io)![1]);
}

/** The tree without its `ascmhl/` history (the source has none). */
async function content(root: string): Promise<Record<string, string>> {
  const all = await snapshot(root);
  return Object.fromEntries(Object.entries(all).filter(([p]) => !p.startsWith("ascmhl")));
}

Deno.test("fanOut() reads the source once for three destinations, and each gets an identical copy", async () => {
  await withTempDir(async (dir) => {
    // Large enough that the workers' start (each loads its module, a few hundred KiB) is noise.
    const card = await makeCard(dir, 160 * MIB);
    let cardBytes = 0;
    for await (const e of Deno.readDir(join(card, "CLIPS"))) {
      cardBytes += (await Deno.stat(join(card, "CLIPS", e.name))).size;
    }
    const dsts = ["raid", "shuttle", "lto"].map((d) => join(dir, d, "A001"));
    const before = await readChars();
    const result = await fanOut([{ src: card, dst: dsts }], { verify: "size" });
    const read = (await readChars()) - before;
    assert(result.ok, JSON.stringify(result.destinations.map((d) => d.result?.failures)));
    for (const dst of dsts) await assertSameTree(dst, card);
    assertEquals(result.destinations.map((d) => d.result!.totals.filesDone), [7, 7, 7]);
    assert(read <= cardBytes * 1.05, `read ${read} bytes for a card of ${cardBytes}`);
    assertEquals(result.reads.bytesRead, cardBytes + 7);
    // The same three copies as three mappings read the card three times: the measure can fail.
    const again = dsts.map((d) => `${d}-again`);
    const plainBefore = await readChars();
    await applyMappings(again.map((dst) => ({ src: card, dst })), { offload: "never" });
    const plain = (await readChars()) - plainBefore;
    assert(plain >= cardBytes * 2.9, `three mappings read ${plain} bytes, ${cardBytes} each`);
  });
});

Deno.test("destinations side by side share the default's workers, adaptively, unless a count is given", async () => {
  assertEquals(seatWorkers({}, 2), { concurrency: "adaptive", maxWorkers: 4 });
  assertEquals(seatWorkers({}, 3), { concurrency: "adaptive", maxWorkers: 3 });
  assertEquals(seatWorkers({}, 10), { concurrency: "adaptive", maxWorkers: 2 });
  assertEquals(seatWorkers({}, 1), {});
  assertEquals(seatWorkers({ maxWorkers: 8 }, 2), {});
  assertEquals(seatWorkers({ fileWorkers: 2 }, 2), {});
  assertEquals(seatWorkers({ concurrency: "fixed" }, 2), {});
  await withTempDir(async (dir) => {
    const card = await makeCard(dir);
    const seen = async (
      options: { maxWorkers?: number },
      names = ["raid", "shuttle"],
    ): Promise<ConcurrencyInUse[]> => {
      const used: ConcurrencyInUse[] = [];
      const dsts = names.map((d) => join(dir, `${d}-${options.maxWorkers ?? 0}`));
      const result = await fanOut([{ src: card, dst: dsts }], {
        ...options,
        verify: "size",
        progressIntervalMs: 5,
        onProgress: (_k, progress) => progress.concurrency && used.push(progress.concurrency),
      });
      assert(result.ok);
      for (const dst of dsts) await assertSameTree(dst, card);
      assert(used.length > 0, "no progress with the concurrency in use");
      return used;
    };
    const two = await seen({});
    for (const used of two) {
      assertEquals(used.mode, "adaptive");
      assert(used.streams <= 4, `${used.streams} streams for one of two destinations`);
    }
    // An offload's batches start at 4 streams (a plain copy at 2): a step up
    // from 2 starts cold reads, measures a dip and goes back (batch.ts).
    assertEquals(two[0]!.streams, 4);
    const one = await seen({}, ["raid-alone"]);
    assertEquals([one[0]!.mode, one[0]!.streams], ["adaptive", 4]);
    for (const used of await seen({ maxWorkers: 8 })) assertEquals(used.mode, "fixed");
  });
});

Deno.test("fanOut() with verify source reads each copy back once and hashes the source once", async () => {
  await withTempDir(async (dir) => {
    const card = await makeCard(dir, 128 * MIB);
    let cardBytes = 0;
    for await (const e of Deno.readDir(join(card, "CLIPS"))) {
      cardBytes += (await Deno.stat(join(card, "CLIPS", e.name))).size;
    }
    const dsts = [join(dir, "a", "A001"), join(dir, "b", "A001")];
    const before = await readChars();
    const files: { k: number; digest: string | undefined; verified: boolean | undefined }[] = [];
    const result = await fanOut([{ src: card, dst: dsts }], {
      verify: "source",
      mhl: true,
      onFile: (k, f) => files.push({ k, digest: f.hash?.digest, verified: f.hash?.verified }),
    });
    const read = (await readChars()) - before;
    assert(result.ok);
    assertEquals(result.destinations.map((d) => d.filesVerified), [7, 7]);
    assert(files.every((f) => f.verified === true && f.digest !== undefined));
    // One read of the source plus one read-back per destination, and a little for the MHL.
    assert(read <= cardBytes * 3 * 1.05, `read ${read} bytes for a card of ${cardBytes}`);
    for (const dst of dsts) {
      assertEquals(await content(dst), await snapshot(card));
      const verify = await runCli(["verify", "--no-record", dst]);
      assertEquals(verify.code, 0, verify.stdout + verify.stderr);
    }
    if (noReference !== null) {
      console.log(`skipped the reference ascmhl check: ${noReference}`);
      return;
    }
    for (const dst of dsts) {
      const reference = await runReference(["create", "-h", "xxh64", dst]);
      assert(reference.code === 0, reference.output);
    }
  });
});

Deno.test("ferry offload writes a verified copy with its own MHL history to each DEST and reports each", async () => {
  await withTempDir(async (dir) => {
    const card = await makeCard(dir);
    const raid = join(dir, "raid", "A001");
    const run = await runCli(["offload", "--json", card, raid, join(dir, "shuttle") + "/"]);
    assertEquals(run.code, 0, run.stderr);
    const shuttle = join(dir, "shuttle", "A001");
    for (const dst of [raid, shuttle]) {
      assertEquals(await content(dst), await snapshot(card));
      assert((await listTree(join(dst, "ascmhl"))).some((p) => p.endsWith(".mhl")));
    }
    const events = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const summaries = events.filter((e) => e.event === "summary");
    assertEquals(summaries.map((s) => [s.destination, s.files_done, s.files_verified]), [
      [1, 7, 7],
      [2, 7, 7],
    ]);
    assertEquals(summaries.map((s) => s.roots), [[raid], [shuttle]]);
    const files = events.filter((e) => e.event === "file");
    assertEquals(files.filter((f) => f.destination === 2).length, 7);
    const end = events.at(-1);
    assertEquals([end.event, end.ok, end.exit_code, end.destinations], ["offload", true, 0, 2]);
    assertMatch(run.stderr, /destination 2: .*shuttle\/A001 \(from .*A001\)/);
    assertMatch(run.stderr, /7 verified, ASC MHL generation written/);
    // Each destination's progress, with the concurrency it copies with.
    const progress = events.filter((e) => e.event === "progress");
    for (const destination of [1, 2]) {
      const own = progress.filter((e) => e.destination === destination);
      assert(own.length > 0, `no progress event of destination ${destination}`);
      assertEquals([own[0].concurrency.mode, own[0].concurrency.streams], ["adaptive", 4]);
      assertEquals(own[0].bytes_total, own.at(-1).bytes_total);
    }
    assertEquals(progress.length, progress.filter((e) => e.destination !== undefined).length);
  });
});

Deno.test("ferry copy --to and a JSON batch whose dst is a list copy to every destination", async () => {
  await withTempDir(async (dir) => {
    const card = await makeCard(dir, 9 * MIB);
    const to = await runCli(["copy", card, "--to", join(dir, "a"), "--to", join(dir, "b")]);
    assertEquals(to.code, 0, to.stderr);
    await assertSameTree(join(dir, "a"), card);
    await assertSameTree(join(dir, "b"), card);
    const batch = JSON.stringify({
      mappings: [{ src: card, dst: [join(dir, "c"), join(dir, "d")] }],
      operation_type: "copy",
      max_workers: 8,
      file_workers: 4,
      batch_id: "offload-7",
    });
    const apply = await runCli(["apply", "-", "--json"], { stdin: batch });
    assertEquals(apply.code, 0, apply.stderr);
    await assertSameTree(join(dir, "c"), card);
    await assertSameTree(join(dir, "d"), card);
    const ids = apply.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.event === "summary").map((e) => e.batch_id);
    assertEquals(ids, ["offload-7.1", "offload-7.2"]);
  });
});

Deno.test("fanOut() refuses destinations that are the same or nested, and touches nothing", async () => {
  await withTempDir(async (dir) => {
    const card = await makeCard(dir, 2 * MIB);
    const raid = join(dir, "raid");
    await assertRejectsWith(
      fanOut([{ src: card, dst: [raid, join(raid, "inner")] }]),
      InputError,
      /Destination 2 '.*raid\/inner' is inside destination 1 '.*raid'/,
    );
    const same = await runCli(["offload", card, raid, `${raid}/`.replace(/\/$/, "")]);
    assertEquals(same.code, 2, same.stderr);
    assertMatch(same.stderr, /Destination 2 '.*raid' is also destination 1/);
    const inside = await runCli(["offload", card, join(card, "copy")]);
    assertEquals(inside.code, 2, inside.stderr);
    const move = await runCli(["apply", "-"], {
      stdin: JSON.stringify({
        mappings: [{ src: card, dst: [raid, join(dir, "shuttle")] }],
        operation_type: "move",
      }),
    });
    assertEquals(move.code, 2, move.stderr);
    assertMatch(move.stderr, /a move has one destination/);
    assert((await listTree(card)).length > 0, "the card is untouched");
    const lag = await runCli(["offload", "--lag-buffer", "1K", card, raid]);
    assertEquals(lag.code, 2, lag.stderr);
    assertMatch(
      lag.stderr,
      /Invalid value for --lag-buffer: 1024 \(expected a size from 16\.0 MiB/,
    );
    const usage = await runCli(["offload", card]);
    assertEquals(usage.code, 2);
    assertMatch(usage.stderr, /needs a source and at least one destination/);
    assertEquals(await listTree(raid), []);
  });
});

Deno.test("a slab filled by a slow destination's worker is read ahead for a faster one", async () => {
  await withTempDir(async (dir) => {
    const size = 8 * MIB;
    const src = join(dir, "clip.mov");
    await writeRandomFile(src, size);
    const slab = Slab.create(size);
    // The filler's destination takes 1 MiB/s (its batch's limit), the other's none.
    const limit = new RateLimit();
    limit.setRate(MIB);
    const slowControl = new ControlBlock(1);
    const slow = new WorkerPool(slowControl, { bufferBytes: 256 * 1024, limit });
    const fast = new WorkerPool(new ControlBlock(1), { bufferBytes: 256 * 1024 });
    const job = (dst: string, fill: boolean) => ({
      src,
      dst,
      offset: 0,
      length: size,
      offload: false,
      offloadRequired: false,
      offloadStepBytes: 0,
      create: 0o600,
      slab: { buffer: slab.buffer, fill },
    });
    try {
      const filling = slow.run(job(join(dir, "slow.mov"), true), 1);
      assert(await waitFor(() => Promise.resolve(slab.filled > 0)), "the filler started");
      const written = await fast.run(job(join(dir, "fast.mov"), false), 1);
      // Held to the filler's pace, the faster copy would end only after the
      // filler had written all but its 4 MiB lead (4 s at this rate).
      const slowBytes = slowControl.totalBytes();
      assertEquals(written.type, "done");
      assert(slowBytes < size / 2, `the filler had written ${slowBytes} bytes`);
      limit.setRate(null);
      assertEquals((await filling).type, "done");
      const bytes = await Deno.readFile(src);
      assertEquals(await Deno.readFile(join(dir, "fast.mov")), bytes);
      assertEquals(await Deno.readFile(join(dir, "slow.mov")), bytes);
    } finally {
      await slow.close();
      await fast.close();
    }
  });
});

Deno.test({
  name: "ferry offload: a destination that fills up mid-way fails only its own files",
  ignore: paths === undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const card = await makeCard(dir, 96 * MIB);
      await withTempDir(async (full) => {
        const raid = join(dir, "raid");
        const run = await runCli([
          "offload",
          "--no-space-check",
          "--json",
          card,
          raid,
          join(full, "A001"),
        ]);
        assertEquals(run.code, 1, run.stderr);
        assertEquals(await content(raid), await snapshot(card));
        const summaries = run.stdout.trim().split("\n").map((l) => JSON.parse(l))
          .filter((e) => e.event === "summary");
        assertEquals(summaries.map((s) => [s.destination, s.ok]), [[1, true], [2, false]]);
        assert(summaries[1].files_done > 0, "the full destination got some files first");
        const codes = new Set(summaries[1].failures.map((f: { code: string }) => f.code));
        assertEquals([...codes], ["no-space"]);
        assertMatch(run.stderr, /destination 2: .*tiny-net.*\n {2}copied \d of 7 files.*\d failed/);
        assertMatch(run.stderr, /tiny-net.*: cannot write the destination: no space left/);
        assertMatch(run.stderr, /offload: 1 of 2 destinations failed: 2/);
        await assertNoTemps(full);
      }, { dir: paths!.tinyNet });
    });
  },
});

Deno.test({
  name: "ferry offload refuses destinations on one volume that fit one by one but not together",
  ignore: paths === undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const card = join(dir, "card");
      await Deno.mkdir(card);
      await writeRandomFile(join(card, "clip.mov"), 40 * MIB);
      await withTempDir(async (tiny) => {
        // The check needs --allow-sys=statfs, as the installed command has.
        const run = await runCli(["offload", card, join(tiny, "a"), join(tiny, "b")], {
          flags: ["-A"],
        });
        assertEquals(run.code, 2, run.stderr);
        assertMatch(run.stderr, /Not enough free space .*writes 80\.0 MiB there/);
        assertEquals(await listTree(tiny), []);
      }, { dir: paths!.tiny });
    });
  },
});

onSlowShare(
  "fanOut(): a destination that falls behind more than lagBytes reads the source again, verified",
  128 * MIB,
  async (card, dir, slow) => {
    const result = await fanOut(
      [{ src: card, dst: [join(dir, "fast"), join(slow, "A001")] }],
      { verify: "source", lagBytes: 16 * MIB, maxWorkers: 2 },
    );
    assert(result.ok, JSON.stringify(result.destinations.map((d) => d.result?.failures)));
    assert(result.reads.bytesDropped > 0, "the slow destination fell behind the cap");
    assert(result.destinations[1]!.late, "the slow destination is reported late");
    assertEquals(result.reads.lateSeats.includes(1), true);
    assert(result.reads.peakBytes <= 16 * MIB + 8 * 8 * MIB, `held ${result.reads.peakBytes}`);
    assertEquals(result.destinations.map((d) => d.filesVerified), [7, 7]);
    await assertSameTree(join(dir, "fast"), card);
    await assertSameTree(join(slow, "A001"), card);
  },
);

onSlowShare(
  "ferry offload says how much of the source was read again for a destination that fell behind",
  96 * MIB,
  async (card, dir, slow) => {
    const run = await runCli([
      "offload",
      "--json",
      "--no-mhl",
      "--verify",
      "size",
      "--lag-buffer",
      "16M",
      "--workers",
      "2",
      card,
      join(dir, "fast"),
      join(slow, "A001"),
    ]);
    assertEquals(run.code, 0, run.stderr);
    const events = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const late = events.filter((e) => e.event === "summary").map((s) => s.late);
    assertEquals(late[1], true, JSON.stringify(late));
    const dropped = events.find((e) => e.event === "offload").bytes_dropped_for_lag;
    assert(dropped > 0, "ranges were dropped for the lag buffer");
    assertMatch(
      run.stderr,
      /every destination complete \(.* read once; .* of it was read again by destinations? (1, )?2, which fell further behind than the lag buffer\)/,
    );
    assertEquals(await content(join(slow, "A001")), await snapshot(card));
  },
);

Deno.test("ferry offload --cascade copies to the first destination, then from it to the others", async () => {
  await withTempDir(async (dir) => {
    const card = await makeCard(dir, 9 * MIB);
    const [a, b, c] = ["a", "b", "c"].map((d) => join(dir, d, "A001"));
    const run = await runCli(["offload", "--cascade", "--json", card, a!, b!, c!]);
    assertEquals(run.code, 0, run.stderr);
    const summaries = run.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.event === "summary");
    assertEquals(summaries.map((s) => s.from), [[card], [a], [a]]);
    assertMatch(run.stderr, /destination 3: .*c\/A001 \(from .*a\/A001\)/);
    for (const dst of [a!, b!, c!]) {
      assertEquals(await content(dst), await snapshot(card));
      const verify = await runCli(["verify", "--no-record", dst]);
      assertEquals(verify.code, 0, verify.stdout + verify.stderr);
    }
    if (noReference !== null) {
      console.log(`skipped the reference ascmhl check: ${noReference}`);
      return;
    }
    for (const dst of [a!, b!, c!]) {
      const reference = await runReference(["create", "-h", "xxh64", dst]);
      assert(reference.code === 0, reference.output);
    }
  });
});

onSlowShare(
  "ferry offload cancelled by SIGINT exits 130 and leaves no partial file anywhere",
  256 * MIB,
  async (card, dir, slow) => {
    const a = join(dir, "a");
    const b = join(slow, "b");
    const child = spawnCli(["offload", "--no-ledger", card, a, b]);
    const started = await waitFor(async () =>
      (await listTree(b)).some((p) => p.endsWith(".ferry-partial"))
    );
    assert(started, "the copy started");
    child.kill("SIGINT");
    const status = await child.status;
    assertEquals(status.code, 130);
    for (const root of [a, b]) {
      await assertNoTemps(root);
      for (const p of await listTree(root)) {
        const path = join(root, p);
        if (!(await Deno.stat(path)).isFile) continue;
        // What is published is whole.
        const original = join(card, p);
        assertEquals((await Deno.stat(path)).size, (await Deno.stat(original)).size, p);
      }
    }
  },
);

onSlowShare(
  "ferry offload killed with SIGKILL mid-way: the same command again completes both destinations",
  192 * MIB,
  async (card, dir, slow) => {
    const [a, b] = [join(dir, "a"), join(slow, "b")];
    const ledger = join(dir, "ledger");
    const args = ["offload", "--ledger", ledger, card, a, b];
    const child = spawnCli(args);
    const started = await waitFor(async () =>
      (await listTree(b)).some((p) => p.endsWith(".ferry-partial"))
    );
    assert(started, "the copy started");
    child.kill("SIGKILL");
    assertEquals((await child.status).signal, "SIGKILL");
    const again = await runCli(args, { flags: ["-A"] });
    assertEquals(again.code, 0, again.stderr);
    for (const root of [a, b]) {
      assertEquals(await content(root), await snapshot(card));
      await assertNoTemps(root);
      const verify = await runCli(["verify", "--no-record", root]);
      assertEquals(verify.code, 0, verify.stdout + verify.stderr);
    }
  },
);
