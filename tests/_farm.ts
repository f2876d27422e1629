/**
 * Helpers of the farm tests: a delivery to plan, what the shards' journals
 * say, and the comparison of a finalized delivery with its source.
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { readPlanHeader } from "../lib/plan/plan_file.ts";
import { batchDir, journalsIn } from "../lib/ledger/ledger_dir.ts";
import { MIB } from "../lib/size.ts";
import { assert, assertEquals, runCli, snapshot, writeRandomFile } from "./_helpers.ts";
import { noReference, runReference } from "./_mhl.ts";

/**
 * A delivery: frames in two folders, small sidecar files, and one movie of
 * `movieMiB` (larger than a shard's share: it is split across shards).
 * Folder times are set, so that finalize's are checked.
 *
 * @param root The folder to make.
 * @param movieMiB The movie's size.
 */
export async function makeDelivery(root: string, movieMiB: number): Promise<void> {
  for (const eye of ["left", "right"]) {
    await Deno.mkdir(join(root, "plates", eye), { recursive: true });
    for (let f = 1001; f <= 1010; f++) {
      await writeRandomFile(join(root, "plates", eye, `sh010.${f}.exr`), 200_000 + f);
    }
  }
  await Deno.mkdir(join(root, "notes"));
  for (let n = 0; n < 25; n++) await Deno.writeTextFile(join(root, "notes", `n${n}.txt`), `${n}\n`);
  await Deno.writeTextFile(join(root, "notes", "empty.txt"), "");
  await writeRandomFile(join(root, "sh010.mov"), movieMiB * MIB);
  const day = new Date("2026-11-02T10:00:00Z");
  for (const dir of ["plates/left", "plates/right", "plates", "notes"]) {
    await Deno.utime(join(root, dir), day, day);
  }
}

/** Every row of a query over every journal of the plan's batch. */
export async function journalRows<T>(plan: string, ledger: string, sql: string): Promise<T[]> {
  const { batchId } = readPlanHeader(plan).settings;
  const rows: T[] = [];
  for (const journal of journalsIn(await batchDir(ledger, batchId))) {
    const db = new DatabaseSync(journal, { readOnly: true });
    try {
      rows.push(...db.prepare(sql).all() as T[]);
    } finally {
      db.close();
    }
  }
  return rows;
}

/**
 * Checks a finalized delivery: the same bytes as the source (the ASC MHL
 * folder aside), the folders' times, every file published by exactly one
 * run, every range of the split movie journaled exactly once, and its ASC
 * MHL history verified by `ferry verify` and, where it can run, by the
 * reference implementation.
 *
 * @param src The source.
 * @param dst The delivery.
 * @param plan The plan.
 * @param ledger Its ledger.
 */
export async function assertDelivered(
  src: string,
  dst: string,
  plan: string,
  ledger: string,
): Promise<void> {
  const theirs = await snapshot(src);
  const ours = Object.fromEntries(
    Object.entries(await snapshot(dst)).filter(([path]) => !path.startsWith("ascmhl")),
  );
  assertEquals(ours, theirs);
  for (const dir of ["plates/left", "plates/right", "plates", "notes"]) {
    assertEquals(
      (await Deno.stat(join(dst, dir))).mtime?.getTime(),
      (await Deno.stat(join(src, dir))).mtime?.getTime(),
      `the time of ${dir}`,
    );
  }
  const published = await journalRows<{ dst: string; n: number }>(
    plan,
    ledger,
    "SELECT dst, count(*) AS n FROM file WHERE status IN ('copied', 'moved') GROUP BY dst",
  );
  const counts = new Map<string, number>();
  for (const { dst: path, n } of published) counts.set(path, (counts.get(path) ?? 0) + n);
  const files = Object.values(theirs).filter((kind) => kind.startsWith("file:")).length;
  assertEquals(counts.size, files, "files published");
  for (const [path, n] of counts) assertEquals(n, 1, `${path} published once`);
  const ranges = await journalRows<{ offset: number; length: number }>(
    plan,
    ledger,
    "SELECT offset, length FROM chunk WHERE tmp LIKE '%.shared.ferry-partial'",
  );
  const offsets = ranges.map((r) => r.offset).sort((a, b) => a - b);
  assertEquals(new Set(offsets).size, offsets.length, "each range of the split movie written once");
  const movie = (await Deno.stat(join(src, "sh010.mov"))).size;
  assertEquals(ranges.reduce((sum, r) => sum + r.length, 0), movie, "the movie's ranges cover it");
  const verify = await runCli(["verify", "--no-record", dst]);
  assertEquals(verify.code, 0, verify.stdout + verify.stderr);
  if (noReference !== null) {
    console.log(`skipped the reference ascmhl check: ${noReference}`);
    return;
  }
  const reference = await runReference(["create", "-h", "xxh64", dst]);
  assert(reference.code === 0, reference.output);
}
