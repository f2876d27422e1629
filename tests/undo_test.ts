import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { batchStatus, undoBatch } from "../mod.ts";
import { batchDir } from "../lib/ledger/ledger_dir.ts";
import { migrate, SCHEMA_VERSION } from "../lib/ledger/schema.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  listTree,
  runCli,
  snapshot,
  testbed,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** A shot folder: two frames in a sub-folder, a movie, each with a fixed old mtime. */
async function makeShot(root: string): Promise<void> {
  await Deno.mkdir(join(root, "plates"), { recursive: true });
  await writeRandomFile(join(root, "plates", "sh010.1001.exr"), 300_000);
  await writeRandomFile(join(root, "plates", "sh010.1002.exr"), 300_000);
  await writeRandomFile(join(root, "sh010.mov"), 3_000_000);
  await Deno.chmod(join(root, "plates"), 0o750);
  const old = new Date("2024-03-01T10:00:00Z");
  for (
    const path of ["plates/sh010.1001.exr", "plates/sh010.1002.exr", "sh010.mov", "plates", ""]
  ) {
    await Deno.utime(join(root, path), old, old);
  }
}

/** Mode and modification time of each folder under a root. */
async function folderTimes(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [rel, kind] of Object.entries(await snapshot(root))) {
    if (kind !== "dir") continue;
    const info = await Deno.stat(join(root, rel));
    out[rel] = `${(info.mode! & 0o7777).toString(8)} ${info.mtime?.toISOString()}`;
  }
  return out;
}

Deno.test("undo after a copy removes what the batch published, leaves a file changed since (caught by its digest) and says so first; --dry-run touches nothing", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "shot");
    await makeShot(src);
    const delivery = join(dir, "delivery");
    await Deno.mkdir(delivery);
    await Deno.writeTextFile(join(delivery, "notes.txt"), "not the batch's");
    const copied = await runCli([
      "copy",
      "--verify",
      "source",
      "--ledger",
      ledger,
      "--batch-id",
      "d-1",
      src,
      join(delivery, "sh010"),
    ]);
    assertEquals(copied.code, 0, copied.stderr);
    // A frame changed by hand: same size, same time, other bytes; only the digest tells.
    const frame = join(delivery, "sh010", "plates", "sh010.1002.exr");
    const info = await Deno.stat(frame);
    await using file = await Deno.open(frame, { read: true, write: true });
    await file.seek(1000, Deno.SeekMode.Start);
    await file.write(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    await Deno.utime(frame, info.atime!, info.mtime!);
    const before = await snapshot(delivery);

    const dry = await runCli(["undo", "--dry-run", "--ledger", ledger, "d-1"]);
    assertEquals(dry.code, 1, "a dry run that would leave a file exits 1");
    assertMatch(
      dry.stdout,
      /left: .*sh010\.1002\.exr: its content changed since the batch wrote it \(xxh64 /,
    );
    assertMatch(dry.stdout, /would remove .*sh010\.mov/);
    assertMatch(dry.stderr, /would undo 2 files of batch d-1/);
    assertEquals(await snapshot(delivery), before, "a dry run changes nothing");

    const undo = await runCli(["undo", "--ledger", ledger, "d-1"]);
    assertEquals(undo.code, 1, undo.stderr);
    // The file left is named before anything is done.
    const lines = undo.stdout.trim().split("\n");
    assertMatch(lines[0]!, /^left: .*sh010\.1002\.exr: its content changed/);
    assertMatch(undo.stderr, /undid 2 files of batch d-1, 1 left as they are/);
    assertEquals(await listTree(delivery), [
      "notes.txt",
      "sh010",
      "sh010/plates",
      "sh010/plates/sh010.1002.exr",
    ]);
    assertEquals(await Deno.readTextFile(join(delivery, "notes.txt")), "not the batch's");
    const status = await batchStatus(ledger, "d-1");
    assertEquals([status?.undone?.done, status?.undone?.left], [2, 1]);
    const shown = await runCli(["status", "--ledger", ledger, "d-1"]);
    assertMatch(shown.stdout, /undone .*: 2 files taken back, 1 left as they were/);
  });
});

Deno.test("undo puts back the files an --overwrite copy replaced when --backup-dir kept them, and refuses to guess without it", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const src = join(dir, "shot");
    await makeShot(src);
    for (const kept of [true, false]) {
      const delivery = join(dir, kept ? "kept" : "not-kept");
      await Deno.mkdir(join(delivery, "plates"), { recursive: true });
      await Deno.writeTextFile(join(delivery, "sh010.mov"), "last week's cut");
      await Deno.writeTextFile(join(delivery, "plates", "sh010.1001.exr"), "last week's frame");
      const earlier = await snapshot(delivery);
      const id = kept ? "o-kept" : "o-lost";
      const backups = join(dir, "backups");
      const copied = await runCli([
        "copy",
        "--overwrite",
        ...(kept ? ["--backup-dir", backups] : []),
        "--ledger",
        ledger,
        "--batch-id",
        id,
        "-T",
        src,
        delivery,
      ]);
      assertEquals(copied.code, 0, copied.stderr);
      assertEquals(
        await Deno.readTextFile(join(backups, id, delivery.slice(1), "sh010.mov")).catch(() =>
          null
        ),
        kept ? "last week's cut" : null,
      );
      const undo = await runCli(["undo", "--ledger", ledger, id]);
      if (kept) {
        assertEquals(undo.code, 0, undo.stdout + undo.stderr);
        assertEquals(await snapshot(delivery), earlier, "the delivery is as it was before");
        assertEquals(await listTree(join(backups, id)), [], "the backups went back");
      } else {
        assertEquals(undo.code, 1, undo.stderr);
        assertMatch(
          undo.stdout,
          /left: .*not-kept\/sh010\.mov: this copy replaced an earlier file, which the batch did not keep \(--backup-dir\)/,
        );
        // The frame it added is removed; the two it replaced stay (the newer copy, not nothing).
        assertEquals(await listTree(delivery), [
          "plates",
          "plates/sh010.1001.exr",
          "sh010.mov",
        ]);
        await Deno.stat(join(delivery, "sh010.mov")).then((i) => assertEquals(i.size, 3_000_000));
      }
    }
  });
});

Deno.test("undo after a move puts every file and folder back with its mode and time: one rename on one file system, copied back across two", async () => {
  const bed = await testbed();
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const places: [string, string][] = [[dir, "same file system"]];
    if (typeof bed === "string") {
      console.warn(`SKIPPED the move across file systems: ${bed}`);
    } else {
      const other = await Deno.makeTempDir({ dir: bed.local, prefix: "undo-" });
      places.push([other, "across file systems"]);
    }
    try {
      for (const [i, [place, what]] of places.entries()) {
        const src = join(dir, `shot-${i}`);
        await makeShot(src);
        const before = await snapshot(src);
        const times = await folderTimes(src);
        const dst = join(place, `moved-${i}`, "sh010");
        const moved = await runCli([
          "move",
          "--ledger",
          ledger,
          "--batch-id",
          `m-${i}`,
          src,
          dst,
        ]);
        assertEquals(moved.code, 0, moved.stderr);
        assertEquals(await listTree(src), [], `${what}: the source is gone`);
        const undo = await runCli(["undo", "--json", "--ledger", ledger, `m-${i}`]);
        assertEquals(undo.code, 0, undo.stdout + undo.stderr);
        const summary = JSON.parse(undo.stdout.trim().split("\n").at(-1)!);
        assertEquals([summary.event, summary.done, summary.left], ["undo_summary", 3, 0]);
        assertEquals(await snapshot(src), before, `${what}: every byte is back`);
        assertEquals(await folderTimes(src), times, `${what}: folder modes and times are back`);
        assertEquals(await listTree(join(place, `moved-${i}`)), [], `${what}: nothing left behind`);
      }
    } finally {
      if (places[1] !== undefined) await Deno.remove(places[1][0], { recursive: true });
    }
  });
});

Deno.test("a journal of format 1 (before undo) is read by status and migrated in place by undo; what it cannot say is left alone", async () => {
  await withTempDir(async (dir) => {
    const ledger = join(dir, "ledger");
    const folder = await batchDir(ledger, "v1-batch");
    await Deno.mkdir(folder, { recursive: true });
    // Two copies as a format-1 ferry journaled them: one batch under the
    // default policy (nothing can have been replaced), one with --overwrite.
    const files: string[] = [];
    for (const [n, policy] of [[1, "error"], [2, "overwrite"]] as const) {
      const src = join(dir, `a${n}.mov`);
      const dst = join(dir, `b${n}.mov`);
      await writeRandomFile(src, 4096);
      await Deno.copyFile(src, dst);
      const mtime = new Date("2024-05-01T00:00:00Z");
      await Deno.utime(dst, mtime, mtime);
      files.push(dst);
      const db = new DatabaseSync(join(folder, `17000000000${n}-run${n}.journal`));
      migrate(db, 1);
      db.prepare(
        `INSERT INTO run (run_id, batch_id, host, pid, operation, mappings, settings, fingerprint,
           state, started_ms, updated_ms, ended_ms, files_total, bytes_total, files_done, bytes_done,
           planning) VALUES (?, 'v1-batch', 'vm', 1, 'copy', ?, ?, 'f', 'done', ?, ?, ?, 1, 4096, 1, 4096, 0)`,
      ).run(
        `run${n}`,
        JSON.stringify([{ src, dst }]),
        JSON.stringify({ operation: "copy", existing: policy, hash: null, batchId: "v1-batch" }),
        1_700_000_000_000 + n,
        1_700_000_000_000 + n,
        1_700_000_000_000 + n,
      );
      db.prepare(
        `INSERT INTO file (id, src, dst, bytes, status, renamed, mtime_ms, ended_ms)
         VALUES (0, ?, ?, 4096, 'copied', 0, ?, 1)`,
      ).run(src, dst, mtime.getTime());
      db.close();
    }
    const status = await batchStatus(ledger, "v1-batch");
    assertEquals([status?.runs.length, status?.filesDone], [2, 2]);

    const undone = await undoBatch(ledger, "v1-batch");
    assertEquals(undone.done.map((s) => [s.action, s.dst]), [["remove", files[0]]]);
    assertEquals(undone.left.map((l) => [l.code, l.dst]), [["not-known", files[1]]]);
    assert(!(await Deno.stat(files[0]!).then(() => true, () => false)), "the first copy is gone");
    await Deno.stat(files[1]!); // the second is left
    for (const entry of Deno.readDirSync(folder)) {
      if (!entry.name.endsWith(".journal")) continue;
      const db = new DatabaseSync(join(folder, entry.name), { readOnly: true });
      const { user_version } = db.prepare("PRAGMA user_version").get() as { user_version: number };
      const rows = db.prepare("SELECT count(*) AS n FROM file WHERE replaced IS NULL").get() as {
        n: number;
      };
      db.close();
      assertEquals(
        [user_version, rows.n],
        [SCHEMA_VERSION, 1],
        "migrated, old rows kept as not known",
      );
    }
  });
});

Deno.test("undo of an unknown batch is an input error that touches nothing", async () => {
  await withTempDir(async (dir) => {
    const run = await runCli(["undo", "--ledger", join(dir, "ledger"), "no-such-batch"]);
    assertEquals(run.code, 2);
    assertMatch(run.stderr, /There is no batch 'no-such-batch' in the ledger/);
    const bare = await runCli(["undo", "--ledger", join(dir, "ledger")]);
    assertEquals(bare.code, 2);
    assertMatch(bare.stderr, /ferry undo needs one batch id/);
  });
});
