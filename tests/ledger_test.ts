import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  applyMappings,
  batchStatus,
  listBatches,
  planToFile,
  pruneLedger,
  resumeBatch,
} from "../mod.ts";
import { MIB } from "../lib/size.ts";
import { SCHEMA_VERSION } from "../lib/ledger/schema.ts";
import { hashFile } from "../lib/integrity/hash.ts";
import { batchDir, journalsIn, prunedMark } from "../lib/ledger/ledger_dir.ts";
import { holdLedger } from "../lib/ledger/ledger_lock.ts";
import { PRUNE_EVERY_MS, pruneWhenDue } from "../lib/ledger/prune_due.ts";
import { InputError } from "../lib/errors.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertRejectsWith,
  assertSameFile,
  assertSameTree,
  outputOf,
  runCli,
  TEST_STATE_HOME,
  testbed,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

const decoder = new TextDecoder();

/** Rows of one query over every journal of a batch. */
async function journalRows(ledger: string, batchId: string, sql: string): Promise<unknown[]> {
  const rows: unknown[] = [];
  for (const journal of journalsIn(await batchDir(ledger, batchId))) {
    const db = new DatabaseSync(journal, { readOnly: true });
    rows.push(...db.prepare(sql).all());
    db.close();
  }
  return rows;
}

Deno.test("a journaled batch reads back file by file: done, failures with codes, every range written", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    await Deno.mkdir(join(dir, "src"));
    await writeRandomFile(join(dir, "src", "big.mov"), 6 * MIB);
    await writeRandomFile(join(dir, "src", "a.exr"), 1000);
    await Deno.mkdir(join(dir, "dst"));
    await Deno.writeTextFile(join(dir, "dst", "a.exr"), "somebody else's frame");
    const chunks: number[] = [];
    const result = await applyMappings([{ src: join(dir, "src"), dst: join(dir, "dst") }], {
      ledger,
      batchId: "b-1",
      cutoffBytes: MIB,
      chunkBytes: MIB,
      offload: "never",
      onChunk: (_file, chunk) => chunks.push(chunk.offset),
    });
    assertEquals(result.ok, false);
    assert(result.journal !== undefined && result.journal.error === undefined);
    const status = await batchStatus(ledger, "b-1");
    assert(status !== null);
    assertEquals(status.state, "failed");
    assertEquals(status.filesDone, 1);
    assertEquals(status.bytesDone, 6 * MIB);
    assertEquals(status.filesTotal, 2);
    assertEquals(status.failures.map((f) => [f.dst, f.code]), [
      [join(dir, "dst", "a.exr"), "differs"],
    ]);
    assertEquals(status.runs.length, 1);
    assertEquals(status.runs[0]!.state, "failed");
    // Every range the copier reported is in the journal, and they cover the file.
    assert(chunks.length === 6, `six 1 MiB ranges were copied (${chunks.length})`);
    const rows = await journalRows(
      ledger,
      "b-1",
      "SELECT offset, length FROM chunk ORDER BY offset",
    );
    assertEquals(
      rows.map((r) => (r as { offset: number }).offset),
      [...chunks].sort((a, b) => a - b),
    );
    const versions = await journalRows(ledger, "b-1", "PRAGMA user_version");
    assertEquals(versions.map((v) => (v as { user_version: number }).user_version), [
      SCHEMA_VERSION,
    ]);
    assertEquals(listBatches(ledger).map((b) => [b.batchId, b.state, b.filesDone]), [
      ["b-1", "failed", 1],
    ]);
  });
});

Deno.test("every file's outcome is in the journal, in the order the files ended, however many files there are", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    await Deno.mkdir(join(dir, "src"));
    // 70 files: two statements of 32 rows and 6 left for the commit at the end.
    for (let i = 0; i < 70; i++) await Deno.writeTextFile(join(dir, "src", `f${i}`), `${i}`);
    await Deno.mkdir(join(dir, "dst"));
    await Deno.writeTextFile(join(dir, "dst", "f7"), "somebody else's");
    const ended: string[] = [];
    const result = await applyMappings([{ src: join(dir, "src"), dst: join(dir, "dst") }], {
      ledger,
      batchId: "b-70",
      onFile: (file) => ended.push(`${file.dst} ${file.status}`),
    });
    assertEquals(result.totals.filesDone, 69);
    const rows =
      (await journalRows(ledger, "b-70", "SELECT dst, status, code FROM file ORDER BY seq"))
        .map((r) => ({ ...(r as { dst: string; status: string; code: string | null }) }));
    assertEquals(rows.map((r) => `${r.dst} ${r.status}`), ended);
    assertEquals(rows.length, 70);
    assertEquals(rows.filter((r) => r.code !== null), [
      { dst: join(dir, "dst", "f7"), status: "failed", code: "differs" },
    ]);
  });
});

Deno.test("a ledger that cannot be made refuses the batch before anything is written", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "file"), "x");
    await writeRandomFile(join(dir, "src"), 1000);
    const run = await runCli(
      ["copy", "--ledger", join(dir, "file", "ledger"), join(dir, "src"), join(dir, "dst")],
      { flags: ["-A"] },
    );
    assertEquals(run.code, 2, run.stderr);
    assertMatch(run.stderr, /^ferry: error: Cannot keep the ledger in '.*\/file\/ledger': /m);
    assertEquals(await Deno.lstat(join(dir, "dst")).then(() => true, () => false), false);
  });
});

Deno.test("the CLI journals every copy in the user's state folder; status and batches read it; --no-ledger journals nothing", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(TEST_STATE_HOME, "ferry");
    await writeRandomFile(join(dir, "plate.exr"), 3 * MIB);
    const run = await runCli(["copy", join(dir, "plate.exr"), join(dir, "copy.exr")], {
      flags: ["-A"],
    });
    assertEquals(run.code, 0, run.stderr);
    const id = /^ferry: batch (\S+)$/m.exec(run.stderr)?.[1];
    assert(id !== undefined, `the batch id is printed:\n${run.stderr}`);
    const status = await runCli(["status", id, "--json"], { flags: ["-A"] });
    assertEquals(status.code, 0, status.stderr);
    const event = JSON.parse(status.stdout);
    assertEquals(
      [event.event, event.batch_id, event.state, event.files_done, event.bytes_done],
      ["status", id, "done", 1, 3 * MIB],
    );
    assertEquals(event.runs[0].state, "done");
    const text = await runCli(["status", id], { flags: ["-A"] });
    assertMatch(text.stdout, new RegExp(`^batch ${id} · copy · done$`, "m"));
    assertMatch(text.stdout, /^ {2}1 of 1 file done · 3\.0 MiB of 3\.0 MiB$/m);
    const batches = await runCli(["batches", "--json"], { flags: ["-A"] });
    const ids = batches.stdout.trim().split("\n").map((l) => JSON.parse(l).batch_id);
    assert(ids.includes(id), `batches lists ${id}: ${ids}`);
    const before = listBatches(ledger).length;
    const quiet = await runCli(
      ["copy", "--no-ledger", join(dir, "plate.exr"), join(dir, "again.exr")],
      { flags: ["-A"] },
    );
    assertEquals(quiet.code, 0, quiet.stderr);
    assertEquals(listBatches(ledger).length, before);
    const unknown = await runCli(["status", "no-such-batch"], { flags: ["-A"] });
    assertEquals(unknown.code, 2);
    assertMatch(unknown.stderr, /^ferry: error: The ledger '.*' has no batch 'no-such-batch'$/m);
  });
});

/** Source files enough that a copy with one stream takes a while: 300 × 2 MiB, hashed. */
async function seedTree(src: string): Promise<void> {
  await Deno.mkdir(src);
  for (let i = 0; i < 300; i++) {
    await writeRandomFile(join(src, `f${String(i).padStart(4, "0")}.exr`), 2 * MIB);
  }
}

const SLOW = ["--small-file-workers", "1", "--offload", "never", "--verify", "source"];

/** Starts a copy whose output is kept, for a test that stops it. */
function startCopy(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", join(import.meta.dirname!, "..", "cli.ts"), ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/**
 * Waits (a minute at most) until the running copy's journal holds at least
 * `files` files; the batch id then. Fails with the copy's output when it
 * ended first.
 */
async function waitForJournal(
  ledger: string,
  files: number,
  child: Deno.ChildProcess,
): Promise<string> {
  let ended = false;
  child.status.then(() => ended = true);
  const until = Date.now() + 60_000;
  while (Date.now() < until && !ended) {
    const batch = listBatches(ledger)[0];
    if (batch !== undefined && batch.filesDone >= files) return batch.batchId;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  const out = await child.output();
  throw new Error(
    `the copy's journal never showed ${files} files done (exit ${out.code}):\n${
      decoder.decode(out.stderr)
    }`,
  );
}

Deno.test("a copy killed with SIGKILL shows as interrupted; the same command run again continues its batch and finishes it", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "src");
    await seedTree(src);
    const args = ["copy", ...SLOW, "--ledger", ledger, src, join(dir, "dst")];
    const child = startCopy(args);
    const id = await waitForJournal(ledger, 3, child);
    // Read while it runs, from another process.
    const running = await runCli(["status", id, "--json", "--ledger", ledger], { flags: ["-A"] });
    assertEquals(JSON.parse(running.stdout).state, "running", running.stderr);
    // Undo waits for the batch to end: it touches nothing while a run goes.
    const early = await runCli(["undo", id, "--ledger", ledger], { flags: ["-A"] });
    assertEquals(early.code, 2, early.stderr);
    assertMatch(early.stderr, new RegExp(`Batch '${id}' is still running`));
    child.kill("SIGKILL");
    await child.output();
    const killed = await batchStatus(ledger, id);
    assertEquals(killed?.state, "interrupted");
    assert(killed!.filesDone < 300, `killed before the end (${killed!.filesDone} files done)`);
    // cp's rule would now copy into dst/src: the ledger knows the interrupted batch made dst.
    const again = await runCli(args, { flags: ["-A"] });
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stderr, new RegExp(`^ferry: continuing the unfinished batch ${id} \\(`, "m"));
    await assertSameTree(join(dir, "dst"), src);
    const done = await batchStatus(ledger, id);
    assertEquals(
      [done?.state, done?.runs.length, done?.filesDone, done?.failures.length],
      ["done", 2, 300, 0],
    );
    assertEquals(done?.runs[0]?.state, "interrupted");
    // A finished batch is not continued: the same command now copies into dst, as cp does.
    const third = await runCli([...args, "--dry-run"], { flags: ["-A"] });
    assertEquals(third.code, 0, third.stderr);
    assert(!third.stderr.includes("continuing"), third.stderr);
  });
});

Deno.test("a cancelled copy says 'ferry resume ID'; ferry resume finishes it byte for byte", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "src");
    await seedTree(src);
    const child = startCopy(["copy", ...SLOW, "--ledger", ledger, src, join(dir, "dst")]);
    const id = await waitForJournal(ledger, 3, child);
    child.kill("SIGINT");
    const out = await child.output();
    assertEquals(out.code, 130, decoder.decode(out.stderr));
    assertMatch(
      decoder.decode(out.stderr),
      new RegExp(`^ferry: to finish it, run: ferry resume ${id} --ledger \\S+$`, "m"),
    );
    assertEquals((await batchStatus(ledger, id))?.state, "cancelled");
    const status = await runCli(["status", "--ledger", ledger], { flags: ["-A"] });
    assertMatch(status.stdout, new RegExp(`^ {2}to finish it: ferry resume ${id}$`, "m"));
    const resume = await runCli(["resume", "--ledger", ledger], { flags: ["-A"] });
    assertEquals(resume.code, 0, resume.stderr);
    await assertSameTree(join(dir, "dst"), src);
    const done = await batchStatus(ledger, id);
    assertEquals([done?.state, done?.filesDone, done?.runs.length], ["done", 300, 2]);
    const nothing = await runCli(["resume", "--ledger", ledger], { flags: ["-A"] });
    assertEquals(nothing.code, 2);
    assertMatch(nothing.stderr, /has no unfinished batch$/m);
  });
});

Deno.test("batches past the retention leave the ledger when a new one is journaled, at most once an hour", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = await Deno.makeTempFile({ dir });
    await applyMappings([{ src, dst: `${src}.a` }], { ledger, batchId: "old" });
    await applyMappings([{ src, dst: `${src}.b` }], { ledger, batchId: "recent" });
    const long = new Date(Date.now() - 40 * 86_400_000);
    for (const journal of journalsIn(await batchDir(ledger, "old"))) {
      await Deno.utime(journal, long, long);
    }
    assertEquals(pruneLedger(ledger, 60), []);
    // Pruned a moment ago: the next run does not look through the ledger again.
    await applyMappings([{ src, dst: `${src}.c` }], { ledger, batchId: "new", ledgerDays: 30 });
    assertEquals(listBatches(ledger).map((b) => b.batchId).sort(), ["new", "old", "recent"]);
    // An hour later it does.
    const hourAgo = new Date(Date.now() - PRUNE_EVERY_MS - 1000);
    await Deno.utime(prunedMark(ledger), hourAgo, hourAgo);
    await applyMappings([{ src, dst: `${src}.d` }], { ledger, batchId: "newer", ledgerDays: 30 });
    assertEquals(listBatches(ledger).map((b) => b.batchId).sort(), ["new", "newer", "recent"]);
    assert(Deno.statSync(prunedMark(ledger)).mtime!.getTime() > hourAgo.getTime());
  });
});

Deno.test("a prune is due when the ledger's mark is missing, an hour old or dated in the future", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    await Deno.mkdir(join(ledger, "batches"), { recursive: true });
    assertEquals(pruneWhenDue(ledger, 30), []);
    // Read after the mark is made: a file's time lags the clock by up to a
    // tick, never leads it (a time read before could be older than the mark).
    const now = Date.now();
    assertEquals(pruneWhenDue(ledger, 30, now), null);
    assertEquals(pruneWhenDue(ledger, 30, now + PRUNE_EVERY_MS + 1000), []);
    const ahead = new Date(now + 86_400_000);
    await Deno.utime(prunedMark(ledger), ahead, ahead);
    assertEquals(pruneWhenDue(ledger, 30, now), []);
    assertEquals(pruneWhenDue(ledger, 30), null);
  });
});

Deno.test("a prune leaves the ledger alone while a run is starting: a batch folder with no journal yet is that run's", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = await Deno.makeTempFile({ dir });
    await applyMappings([{ src, dst: `${src}.a` }], { ledger, batchId: "old" });
    const long = new Date(Date.now() - 40 * 86_400_000);
    for (const journal of journalsIn(await batchDir(ledger, "old"))) {
      await Deno.utime(journal, long, long);
    }
    // What a starting run has made when another run's prune looks: its folder, no journal.
    const starting = await batchDir(ledger, "starting");
    await Deno.mkdir(starting, { recursive: true });
    const held = holdLedger(ledger, "start");
    assert(held !== null);
    assertEquals(pruneLedger(ledger, 30), []);
    held.close();
    // Once it has started, the prune goes on: the old batch goes, and so does a
    // folder that a run killed while starting left without a journal.
    assertEquals(pruneLedger(ledger, 30).sort(), [await batchDir(ledger, "old"), starting].sort());
  });
});

Deno.test("eight runs of one plan started at once all end well: none prunes another's new batch folder", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "sh010.mov"), 24 * MIB);
    for (let f = 1001; f <= 1008; f++) await writeRandomFile(join(src, `sh010.${f}.exr`), 60_000);
    const plan = join(dir, "p.plan");
    await planToFile([{ src, dst: join(dir, "dst") }], plan, {
      batchId: "eight",
      chunkBytes: 4 * MIB,
      offload: "never",
    });
    const ledger = join(dir, "ledger");
    const runs = await Promise.all(
      Array.from(
        { length: 8 },
        () => runCli(["apply", "--ledger", ledger, "--workers", "2", plan]),
      ),
    );
    for (const run of runs) assertEquals(run.code, 0, run.stderr);
    await assertSameTree(join(dir, "dst"), src);
    assertEquals(journalsIn(await batchDir(ledger, "eight")).length, 8);
  });
});

/** Chunk rows in the newest journal of the ledger's only batch, and how many journals it has. */
function newestChunks(ledger: string): { count: number; bytes: number; runs: number } {
  const none = { count: 0, bytes: 0, runs: 0 };
  const root = join(ledger, "batches");
  let folder: string | undefined;
  try {
    folder = [...Deno.readDirSync(root)][0]?.name;
  } catch {
    return none; // no batch yet
  }
  if (folder === undefined) return none;
  const journals = journalsIn(join(root, folder));
  const journal = journals.at(-1);
  if (journal === undefined) return none;
  try {
    const db = new DatabaseSync(journal, { readOnly: true });
    const row = db.prepare("SELECT count(*) AS n, coalesce(sum(length), 0) AS b FROM chunk")
      .get() as { n: number; b: number };
    db.close();
    return { count: row.n, bytes: row.b, runs: journals.length };
  } catch {
    return { ...none, runs: journals.length }; // not written yet
  }
}

/** A large source file in `dir` and the arguments of a copy of it journaled in `dir/ledger`. */
async function largeCopy(
  dir: string,
  mib: number,
  flags: string[],
): Promise<{ ledger: string; src: string; args: string[] }> {
  const ledger = join(dir, "ledger");
  const src = join(dir, "movie.mov");
  await writeRandomFile(src, mib * MIB);
  const args = [
    "copy",
    "--ledger",
    ledger,
    "--offload",
    "never",
    ...flags,
    src,
    join(dir, "copy.mov"),
  ];
  return { ledger, src, args };
}

/** Runs a copy and kills it (SIGKILL) once run number `run`'s journal shows `atLeast` ranges. */
async function killWhenJournaled(
  args: string[],
  ledger: string,
  run: number,
  atLeast: number,
): Promise<void> {
  const child = startCopy(args);
  let ended = false;
  child.status.then(() => ended = true);
  const seen = await waitFor(() => {
    const newest = newestChunks(ledger);
    return Promise.resolve(ended || (newest.runs === run && newest.count >= atLeast));
  }, 30_000);
  const endedFirst = ended;
  if (!endedFirst) child.kill("SIGKILL");
  const out = await child.output();
  assert(
    seen && !endedFirst,
    `the copy was still running when its journal showed ${atLeast} ranges (exit ${out.code}):\n${
      decoder.decode(out.stderr)
    }`,
  );
}

/** The `file` event of a one-file `--json` run. */
function fileEvent(stdout: string): Record<string, unknown> {
  return stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .find((e) => e.event === "file");
}

/** Only the copy and the ledger (and the source) are left in `dir`: no temporary. */
function assertOnlyCopyLeft(dir: string): void {
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "copy.mov",
    "ledger",
    "movie.mov",
  ]);
}

/** Ten distinct kill points (ranges journaled) from 2 to `last`, rising, and the seed that made them. */
function killPoints(last: number): { points: number[]; seed: number } {
  const seed = Math.floor(Math.random() * 2 ** 31);
  let state = seed;
  const next = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const points = new Set<number>();
  while (points.size < 10) points.add(2 + Math.floor(next() * (last - 1)));
  return { points: [...points].sort((a, b) => a - b), seed };
}

/** The digest of a file as `xxhsum -H1` prints it, or `null` where xxhsum is missing. */
async function xxhsum(path: string): Promise<string | null> {
  const out = await outputOf("xxhsum", ["-H1", path]);
  return out?.success ? decoder.decode(out.stdout).split(/\s+/)[0]! : null;
}

for (const hashed of [false, true]) {
  Deno.test(`a 512 MiB ${hashed ? "hashed (--verify source) " : ""}copy killed with SIGKILL at ten random moments continues each time from its journaled ranges; the last run copies only what is missing, byte for byte`, async () => {
    await withTempDir(async (dir) => {
      // Small buffers: slow enough that each kill lands mid-file.
      const flags = ["--workers", "2", "--chunk-size", "16MiB", "--buffer-size", "16KiB"];
      if (hashed) flags.push("--verify", "source");
      const { ledger, src, args } = await largeCopy(dir, 512, flags);
      // 32 ranges of 16 MiB; a hashed copy journals 8 MiB ranges: 64.
      // Well before the last range: a kill that comes after the publish finds nothing to stop.
      const { points, seed } = killPoints(hashed ? 52 : 24);
      let kept = 0;
      let runs = 0;
      for (const atLeast of points) {
        await killWhenJournaled(args, ledger, ++runs, atLeast);
        // A kill can land after the last range too: in a hashed copy's read-back, or
        // (on a slow machine) after the publish, which ends the batch.
        kept = newestChunks(ledger).bytes;
        if (await Deno.lstat(join(dir, "copy.mov")).then(() => true, () => false)) break;
      }
      const last = await runCli([...args, "--json"], { flags: ["-A"] });
      assertEquals(last.code, 0, last.stderr);
      const file = fileEvent(last.stdout);
      if (file.status === "skipped") {
        console.warn(`seed ${seed}: a kill came after the publish; the file was complete`);
        assertEquals(file.reason, "already there (the same size and modification time)");
      } else if (hashed) {
        // A hashed copy continues after the longest written run from the start, and
        // copies its last range again (its worker gives the digest).
        assert(Number(file.resumed_bytes) > 0, `continued (seed ${seed}): ${JSON.stringify(file)}`);
        assert(
          Number(file.resumed_bytes) <= kept,
          `kept at most what was journaled (seed ${seed})`,
        );
        const digest = await xxhsum(src);
        if (digest === null) {
          console.warn("xxhsum is missing: the digest is checked against ferry's own");
        }
        assertEquals([file.digest, file.verified], [digest ?? await hashFile(src, "xxh64"), true]);
      } else {
        // Every range the killed runs' journal had was kept; only the rest was copied.
        assertEquals(file.resumed_bytes, kept, `seed ${seed}`);
      }
      if (file.status !== "skipped") assertMatch(last.stderr, /kept from a killed run/);
      await assertSameFile(join(dir, "copy.mov"), src);
      assertOnlyCopyLeft(dir);
      // Every run is in the ledger and every batch ended done. The last run continues the
      // killed batch, unless the kill came after that batch was recorded done: then the last
      // run is a batch of its own that found the file complete.
      const batches = await Promise.all(
        listBatches(ledger).map((b) => batchStatus(ledger, b.batchId)),
      );
      const shape = batches.map((b) => [b?.state, b?.runs.length, b?.filesDone]);
      if (batches.length === 2) {
        assertEquals(file.status, "skipped", `seed ${seed}`);
        assertEquals(shape, [["done", 1, 1], ["done", runs, 1]], `seed ${seed}`);
      } else {
        assertEquals(shape, [["done", runs + 1, 1]], `seed ${seed}`);
      }
    });
  });
}

Deno.test("a hashed copy killed mid-file continues its hash from the journaled state; a temporary damaged meanwhile is caught, never published", async () => {
  await withTempDir(async (dir) => {
    const { ledger, src, args } = await largeCopy(dir, 256, [
      "--workers",
      "2",
      "--buffer-size",
      "16KiB",
      "--verify",
      "source",
    ]);
    const expected = await hashFile(src, "xxh64");
    const temporary = (): string =>
      join(dir, [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".ferry-partial"))!.name);

    // A byte of the part a killed run wrote is changed before the next run continues it.
    await killWhenJournaled(args, ledger, 1, 3);
    const damaged = await Deno.open(temporary(), { read: true, write: true });
    const byte = new Uint8Array(1);
    await damaged.seek(100, Deno.SeekMode.Start);
    await damaged.read(byte);
    await damaged.seek(100, Deno.SeekMode.Start);
    await damaged.write(new Uint8Array([byte[0]! ^ 0xff]));
    damaged.close();
    const caught = await runCli([...args, "--json"], { flags: ["-A"] });
    assertEquals(caught.code, 1, caught.stderr);
    const failed = fileEvent(caught.stdout);
    assertEquals([failed.status, failed.code], ["failed", "corrupted"]);
    assert(Number(failed.resumed_bytes) > 0, "the damaged temporary was continued");
    assertEquals(await Deno.lstat(join(dir, "copy.mov")).then(() => true, () => false), false);

    // An undamaged one: continued, and the digest is the source's.
    await killWhenJournaled(args, ledger, 3, 3);
    const last = await runCli([...args, "--json"], { flags: ["-A"] });
    assertEquals(last.code, 0, last.stderr);
    const file = fileEvent(last.stdout);
    assert(Number(file.resumed_bytes) > 0, `continued: ${JSON.stringify(file)}`);
    assertEquals([file.digest, file.verified], [expected, true]);
    await assertSameFile(join(dir, "copy.mov"), src);
    assertOnlyCopyLeft(dir);
  });
});

/** As if the machine had restarted since the ledger's first run: its journal is of another boot. */
function asIfRebooted(ledger: string): void {
  const root = join(ledger, "batches");
  const journal = journalsIn(join(root, [...Deno.readDirSync(root)][0]!.name))[0]!;
  const db = new DatabaseSync(journal);
  db.prepare("UPDATE run SET boot_id = 'an earlier boot'").run();
  db.close();
}

Deno.test("a temporary left before a reboot is not continued: the file is copied again from its start", async () => {
  await withTempDir(async (dir) => {
    const flags = ["--workers", "1", "--chunk-size", "16MiB", "--buffer-size", "4KiB"];
    const { ledger, src, args } = await largeCopy(dir, 512, flags);
    await killWhenJournaled(args, ledger, 1, 2);
    asIfRebooted(ledger);
    const again = await runCli([...args, "--json"], { flags: ["-A"] });
    assertEquals(again.code, 0, again.stderr);
    const file = fileEvent(again.stdout);
    assertEquals([file.status, file.resumed_bytes], ["copied", undefined]);
    assertMatch(again.stderr, /removed 1 temporary file .* that killed runs had left/);
    await assertSameFile(join(dir, "copy.mov"), src);
    assertOnlyCopyLeft(dir);
  });
});

Deno.test("with --fsync each range is flushed before it is journaled: a temporary left before a reboot is continued", async () => {
  await withTempDir(async (dir) => {
    const flags = ["--workers", "1", "--chunk-size", "16MiB", "--buffer-size", "4KiB", "--fsync"];
    const { ledger, src, args } = await largeCopy(dir, 256, flags);
    await killWhenJournaled(args, ledger, 1, 2);
    const kept = newestChunks(ledger).bytes;
    asIfRebooted(ledger);
    const again = await runCli([...args, "--json"], { flags: ["-A"] });
    assertEquals(again.code, 0, again.stderr);
    assertEquals(fileEvent(again.stdout).resumed_bytes, kept);
    await assertSameFile(join(dir, "copy.mov"), src);
    assertOnlyCopyLeft(dir);
  });
});

Deno.test("without grants for the ledger a copy journals nothing, and status says which grant is missing", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a.exr"), 1000);
    const flags = [`--allow-read=${dir}`, `--allow-write=${dir}`, "--allow-env"];
    const before = listBatches(join(TEST_STATE_HOME, "ferry")).length;
    const copy = await runCli(["copy", join(dir, "a.exr"), join(dir, "b.exr")], { flags });
    assertEquals(copy.code, 0, copy.stderr);
    assert(!copy.stderr.includes("ferry: batch"), copy.stderr);
    assertEquals(listBatches(join(TEST_STATE_HOME, "ferry")).length, before);
    const status = await runCli(["status"], { flags });
    assertEquals(status.code, 2);
    assertMatch(
      status.stderr,
      /^ferry: error: Cannot read the ledger '.*\/ferry': ferry was not granted read access to it \(add it to --allow-read\)$/m,
    );
  });
});

Deno.test("a plan's run killed mid-file is continued by the next run of the plan, from the journaled ranges", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "movie.mov");
    await writeRandomFile(src, 256 * MIB);
    const plan = join(dir, "movie.plan");
    const planned = await runCli([
      "plan",
      "--chunk-size",
      "16MiB",
      "--offload",
      "never",
      src,
      join(dir, "copy.mov"),
      "--out",
      plan,
    ]);
    assertEquals(planned.code, 0, planned.stderr);
    const args = ["apply", "--ledger", ledger, "--workers", "2", "--buffer-size", "16KiB", plan];
    await killWhenJournaled(args, ledger, 1, 3);
    const kept = newestChunks(ledger).bytes;
    const last = await runCli([...args, "--json"], { flags: ["-A"] });
    assertEquals(last.code, 0, last.stderr);
    assertEquals(fileEvent(last.stdout).resumed_bytes, kept);
    await assertSameFile(join(dir, "copy.mov"), src);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "copy.mov",
      "ledger",
      "movie.mov",
      "movie.plan",
    ]);
  });
});

Deno.test("the library's resumeBatch finishes a copy the CLI was killed in, from its journaled ranges", async () => {
  await withTempDir(async (dir) => {
    const flags = ["--workers", "2", "--chunk-size", "16MiB", "--buffer-size", "16KiB"];
    const { ledger, src, args } = await largeCopy(dir, 256, flags);
    await killWhenJournaled(args, ledger, 1, 3);
    const kept = newestChunks(ledger).bytes;
    const id = listBatches(ledger)[0]!.batchId;
    const result = await resumeBatch(ledger, id, { maxWorkers: 4 });
    assertEquals([result.ok, result.batchId, result.totals.bytesResumed], [true, id, kept]);
    await assertSameFile(join(dir, "copy.mov"), src);
    assertOnlyCopyLeft(dir);
    await assertRejectsWith(
      resumeBatch(ledger, "no-such"),
      InputError,
      /There is no batch 'no-such'/,
    );
  });
});

/**
 * Kills a journaled copy of `src` into `dir/copy.mov` once its journal shows
 * `atLeast` pieces; the next run keeps what the killed one wrote without a
 * gap from the start, copies only the rest, and leaves only the copy.
 */
async function killAndContinue(
  dir: string,
  args: string[],
  ledger: string,
  src: string,
  atLeast: number,
): Promise<void> {
  await killWhenJournaled(args, ledger, 1, atLeast);
  const kept = newestChunks(ledger).bytes;
  const last = await runCli([...args, "--json"], { flags: ["-A"] });
  assertEquals(last.code, 0, last.stderr);
  const file = fileEvent(last.stdout);
  assert(Number(file.resumed_bytes) > 0, JSON.stringify(file));
  assertEquals(file.resumed_bytes, kept);
  await assertSameFile(join(dir, "copy.mov"), src);
  assertOnlyCopyLeft(dir);
}

Deno.test("a copy the kernel makes on one file system, killed mid-file, is continued from the pieces its journal shows", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "movie.mov");
    await writeRandomFile(src, 512 * MIB);
    // One file system, offload allowed (-A grants FFI): the kernel copies it, journaled in 16 MiB pieces.
    const args = ["copy", "--ledger", ledger, "--chunk-size", "16MiB", src, join(dir, "copy.mov")];
    const planned = await runCli(["copy", "--dry-run", "--json", ...args.slice(1)], {
      flags: ["-A"],
    });
    const copier = JSON.parse(planned.stdout.trim().split("\n")[0]!).copier;
    if (copier !== "kernel") {
      console.warn(`SKIPPED the kernel copy's resume: the plan copies with '${copier}' here`);
      return;
    }
    await killAndContinue(dir, args, ledger, src, 3);
  });
});

const bed = await testbed();
if (typeof bed === "string") console.warn(`SKIPPED the resume of a copy on the share: ${bed}`);

Deno.test({
  name:
    "a copy the share's server makes (one file system on the testbed's share), killed mid-file, is continued from the pieces its journal shows",
  ignore: typeof bed === "string",
  fn: async () => {
    await withTempDir(async (dir) => {
      const ledger = join(dir, "ledger");
      const src = join(dir, "movie.mov");
      await writeRandomFile(src, 128 * MIB);
      // Server-side steps from the main thread, journaled in 16 MiB pieces; the limit makes it last 4 s.
      const args = [
        "copy",
        "--ledger",
        ledger,
        "--chunk-size",
        "16MiB",
        "--bwlimit",
        "32M",
        src,
        join(dir, "copy.mov"),
      ];
      const planned = await runCli(["copy", "--dry-run", "--json", ...args.slice(1)], {
        flags: ["-A"],
      });
      assertEquals(JSON.parse(planned.stdout.trim().split("\n")[0]!).copier, "kernel");
      await killAndContinue(dir, args, ledger, src, 2);
    }, typeof bed === "string" ? {} : { dir: bed.net });
  },
});

Deno.test("a tree copy killed with SIGKILL at three random moments is finished by the same command, byte for byte, with no temporary left", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "src");
    await seedTree(src);
    const args = ["copy", ...SLOW, "--ledger", ledger, src, join(dir, "dst")];
    const { points, seed } = killPoints(200);
    for (const atLeast of [points[1]!, points[5]!, points[9]!]) {
      const child = startCopy(args);
      await waitForJournal(ledger, atLeast, child);
      child.kill("SIGKILL");
      await child.output();
    }
    const last = await runCli(args, { flags: ["-A"] });
    assertEquals(last.code, 0, `seed ${seed}: ${last.stderr}`);
    await assertSameTree(join(dir, "dst"), src);
    await assertNoTemps(join(dir, "dst"));
    const status = await batchStatus(ledger, listBatches(ledger)[0]!.batchId);
    assertEquals([status?.state, status?.runs.length, status?.filesDone], ["done", 4, 300]);
  });
});
