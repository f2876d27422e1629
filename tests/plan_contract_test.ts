// The plan is a value: what it says is what runs, it reads back equal, and
// it streams (copying starts before the walk ends).
import { join } from "node:path";
import {
  applyMappings,
  applyPlan,
  type Chunk,
  collectPlan,
  type FileResult,
  type Plan,
  planBatch,
  type PlanItem,
  planLines,
  type PlannedFile,
  type Progress,
  readPlan,
  type TransferPlan,
  type TransferSettings,
} from "../mod.ts";
import { MIB } from "../lib/size.ts";
import {
  assert,
  assertEquals,
  assertSameFile,
  assertSameTree,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** A file with holes: 1 MiB of data, 30 MiB of hole, 1 MiB of data. */
async function writeSparse(path: string): Promise<void> {
  const made = await new Deno.Command("python3", {
    args: [
      "-c",
      "import os,sys\nf=open(sys.argv[1],'wb')\nf.write(os.urandom(1<<20))\n" +
      "f.seek(31<<20)\nf.write(os.urandom(1<<20))",
      path,
    ],
  }).output();
  assert(made.success, "python3 writes the sparse file");
}

/** Plans a batch into lines, so that it can be read back (and run) more than once. */
async function planned(
  mappings: { src: string; dst: string }[],
  options: TransferSettings,
): Promise<string[]> {
  return await Array.fromAsync(planLines(await planBatch(mappings, options)));
}

const byOffset = (a: Chunk, b: Chunk): number => a.offset - b.offset;

/**
 * Runs plan lines, recording every range each file reported written, by file
 * id, and the items the executor was given (to look at them afterwards).
 */
async function runRecording(lines: string[]): Promise<{
  copied: Map<number, Chunk[]>;
  files: FileResult[];
  items: PlanItem[];
}> {
  const copied = new Map<number, Chunk[]>();
  const files: FileResult[] = [];
  const read = await readPlan(lines);
  const items: PlanItem[] = [];
  const result = await applyPlan({
    header: read.header,
    items: (async function* (): AsyncGenerator<PlanItem> {
      for await (const item of read.items) yield items[items.length] = item;
    })(),
  }, {
    onChunk: (file, chunk) => {
      let list = copied.get(file.id);
      if (list === undefined) copied.set(file.id, list = []);
      list.push({ offset: chunk.offset, length: chunk.length });
    },
    onFile: (file) => files.push(file),
  });
  assert(result.ok, JSON.stringify(result.failures.map((f) => f.reason)));
  return { copied, files, items };
}

Deno.test("every copy path copies exactly the ranges its plan shows, and the plan is never changed", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "small.exr"), 300_000);
    await writeRandomFile(join(src, "big.mov"), 40 * MIB + 12345);
    await writeSparse(join(src, "disk.img"));
    const cases: { name: string; options: TransferSettings; copiers: Record<string, string> }[] = [
      {
        name: "read/write ranges on the pool",
        options: { offload: "never", cutoffBytes: 16 * MIB, chunkBytes: 8 * MIB },
        copiers: { "small.exr": "whole", "big.mov": "ranges", "disk.img": "ranges" },
      },
      {
        // The case: chunkBytes on one file system used to be re-planned at run time.
        name: "the kernel on one file system",
        options: { offload: "auto", cutoffBytes: 16 * MIB, chunkBytes: 8 * MIB },
        copiers: { "small.exr": "whole", "big.mov": "kernel", "disk.img": "ranges" },
      },
      {
        name: "hashed ranges",
        options: { hash: "xxh64", cutoffBytes: 16 * MIB, bufferBytes: 64 * 1024 },
        copiers: { "small.exr": "ranges", "big.mov": "ranges", "disk.img": "ranges" },
      },
    ];
    for (const [n, { name, options, copiers }] of cases.entries()) {
      const dst = join(dir, `out${n}`);
      const lines = await planned([{ src, dst }], options);
      const plan = await collectPlan(await readPlan(lines));
      const seen: Record<string, string> = {};
      for (const file of plan.files) {
        seen[file.src.slice(src.length + 1)] = file.copier;
        assert(Object.isFrozen(file) && file.chunks.every(Object.isFrozen), `${name}: frozen`);
      }
      assertEquals(seen, copiers, name);
      const { copied, files, items } = await runRecording(lines);
      for (const file of plan.files) {
        const ranges = (copied.get(file.id) ?? []).sort(byOffset);
        assertEquals(ranges, [...file.chunks].sort(byOffset), `${name}: ${file.src}`);
        await assertSameFile(file.dst, file.src);
      }
      assertEquals(files.map((f) => f.id).sort(), plan.files.map((f) => f.id).sort(), name);
      // The items the executor ran serialize as they were planned: it wrote nothing into them.
      assertEquals(items.map((i) => JSON.stringify(i)), lines.slice(1), name);
    }
    const holes = (await Deno.stat(join(dir, "out0", "disk.img"))).blocks! * 512;
    assert(holes <= 4 * MIB, `the sparse copy keeps its holes (${holes} bytes on disk)`);
  });
});

Deno.test("a plan is deterministic and reads back from its JSON lines to an equal value", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    for (const sub of ["plate", "plate/deep", "comp"]) {
      await Deno.mkdir(join(src, sub), { recursive: true });
    }
    for (let i = 0; i < 30; i++) {
      await writeRandomFile(join(src, "plate", `f.${1000 + i}.exr`), 1000 + i);
    }
    await writeRandomFile(join(src, "plate", "deep", "big.mov"), 20 * MIB);
    await Deno.symlink("f.1000.exr", join(src, "plate", "first.exr"));
    await writeRandomFile(join(src, "comp", "v001.mov"), 10);
    const out = join(dir, "out");
    await Deno.mkdir(join(out, "comp"), { recursive: true });
    await Deno.writeTextFile(join(out, "comp", "v001.mov"), "older");
    await Deno.writeTextFile(join(out, "comp", ".v001.mov.0123456789abcdef.ferry-partial"), "x");
    const options: TransferSettings = { batchId: "b1", existing: "overwrite", cutoffBytes: MIB };
    const first = await planned([{ src, dst: out }], options);
    const second = await planned([{ src, dst: out }], options);
    // Reading a symbolic link's target updates its access time: that is the
    // source changing, not the plan.
    const noAtime = (lines: string[]): string[] =>
      lines.map((l) => l.replace(/"atimeMs":\d+,/, ""));
    assertEquals(
      noAtime(second),
      noAtime(first),
      "the same sources and options give the same plan",
    );
    // One live plan, its items held so that it can be both collected and written.
    const live = await planBatch([{ src, dst: out }], options);
    const items = await Array.fromAsync(live.items);
    const again = (): Plan => ({
      header: live.header,
      items: (async function* (): AsyncGenerator<PlanItem> {
        yield* items;
      })(),
    });
    const plan: TransferPlan = await collectPlan(again());
    const back = await collectPlan(await readPlan(await Array.fromAsync(planLines(again()))));
    assertEquals(back, plan);
    assertEquals(back.files.length, 33);
    assertEquals(back.strays.length, 1);
    const ids = [...back.dirs, ...back.files, ...back.strays].map((i) => i.id).sort((a, b) =>
      a - b
    );
    assertEquals(ids, [...new Set(ids)], "ids are unique");
  });
});

Deno.test("--dry-run --json prints exactly the plan that runs: ids, copiers and ranges", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "a.exr"), 5000);
    await writeRandomFile(join(src, "b.mov"), 12 * MIB);
    const args = ["--cutoff", "4MiB", "--chunk-size", "4MiB", "--offload", "never"];
    const run = await runCli(["copy", "--dry-run", "--json", ...args, src, join(dir, "out")]);
    assertEquals(run.code, 0, run.stderr);
    const printed = run.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.event === "plan")
      .map((e) => ({ id: e.id, src: e.src, copier: e.copier, ranges: e.ranges }));
    const plan = await collectPlan(
      await planBatch([{ src, dst: join(dir, "out") }], {
        cutoffBytes: 4 * MIB,
        chunkBytes: 4 * MIB,
        offload: "never",
      }),
    );
    const expected = plan.files.map((f: PlannedFile) => ({
      id: f.id,
      src: f.src,
      copier: f.copier,
      ranges: f.chunks.map((c) => [c.offset, c.length]),
    }));
    assertEquals(printed, expected);
    assertEquals(expected.find((f) => f.src.endsWith("b.mov"))?.ranges.length, 3);
  });
});

Deno.test("files are copied while later folders are still being listed; progress says the totals still grow", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "archive");
    const folders = 300;
    for (let d = 0; d < folders; d++) {
      const folder = join(src, `d${String(d).padStart(3, "0")}`);
      await Deno.mkdir(folder, { recursive: true });
      for (let f = 0; f < 3; f++) await Deno.writeTextFile(join(folder, `f${f}.exr`), `${d}/${f}`);
    }
    const dst = join(dir, "out");
    const last = join(dst, `d${folders - 1}`);
    let lastExistedAtFirstFile: boolean | undefined;
    let complete: boolean | undefined;
    const snapshots: Progress[] = [];
    const result = await applyMappings([{ src, dst }], {
      readAhead: 10,
      progressIntervalMs: 1,
      onStart: (info) => complete = info.complete,
      onProgress: (p) => snapshots.push(p),
      onFile: () => {
        lastExistedAtFirstFile ??= (() => {
          try {
            Deno.statSync(last);
            return true;
          } catch {
            return false;
          }
        })();
      },
    });
    assert(result.ok);
    assertEquals(result.totals.files, folders * 3);
    assertEquals(complete, false, "the copy started before the plan was complete");
    assertEquals(lastExistedAtFirstFile, false, "the first file was done before the last folder");
    await assertSameTree(dst, src);
    assert(snapshots.some((p) => p.planning), "progress said the walk was still going");
    const growing = snapshots.filter((p) => p.planning).map((p) => p.filesTotal);
    assert(growing.at(-1)! < folders * 3, `totals grew while planning: ${growing.at(-1)}`);
    assertEquals(snapshots.at(-1)?.planning, false);
  });
});

Deno.test("two mappings writing one path: refused untouched within the read-ahead, a failure with a code beyond it", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(join(src, "zz"), { recursive: true });
    for (let i = 0; i < 20; i++) await Deno.writeTextFile(join(src, `f${i}.exr`), `f${i}`);
    await Deno.writeTextFile(join(src, "zz", "last.exr"), "tree's");
    await Deno.writeTextFile(join(dir, "other.exr"), "other");
    const out = join(dir, "out");
    const mappings = [{ src, dst: out }, {
      src: join(dir, "other.exr"),
      dst: join(out, "zz", "last.exr"),
    }];
    await applyMappings(mappings).then(
      () => assert(false, "a batch whose plan fits the read-ahead is refused"),
      (error) => assert(/also written by mapping 0/.test(error.message), error.message),
    );
    assertEquals(await Deno.stat(out).catch(() => null), null, "nothing was written");
    const files: FileResult[] = [];
    const result = await applyMappings(mappings, { readAhead: 2, onFile: (f) => files.push(f) });
    assertEquals(result.ok, false);
    assertEquals(result.failures.map((f) => [f.dst, f.error?.code]), [[
      join(out, "zz", "last.exr"),
      "exists",
    ]]);
    assertEquals(await Deno.readTextFile(join(out, "zz", "last.exr")), "tree's");
    assertEquals(files.filter((f) => f.status === "copied").length, 21);
  });
});
