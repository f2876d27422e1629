import { basename, join } from "node:path";
import {
  type Chunk,
  DEFAULTS,
  type ExistingPolicy,
  InputError,
  OptionError,
  planTransfer,
  resolveOptions,
  type TransferSettings,
} from "../mod.ts";
import { type CopyPlan, copyPlanFor, HASH_CHUNK_BYTES } from "../lib/plan/chunks.ts";
import { DIFFERS_REASON } from "../lib/plan/existing.ts";
import { MIB } from "../lib/size.ts";
import {
  assert,
  assertEquals,
  assertRejectsWith,
  listTree,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

function assertCovers(chunks: readonly Chunk[], size: number): void {
  let next = 0;
  for (const chunk of chunks) {
    assertEquals(chunk.offset, next);
    assert(chunk.length >= 1);
    next += chunk.length;
  }
  assertEquals(next, size);
}

/** The copy plan of a file of `size` bytes on another file system, with these options. */
function planFor(size: number, options: TransferSettings = {}, sameFs = false): CopyPlan {
  return copyPlanFor(
    { size, sparse: false, sameFs },
    resolveOptions({ offload: "never", ...options }),
  );
}

Deno.test("copyPlanFor(): an empty file has no ranges, a one-byte file one whole range", () => {
  assertEquals(planFor(0).chunks, []);
  assertEquals(planFor(0, { cutoffBytes: 0 }).chunks, []);
  assertEquals(planFor(1), {
    copier: "whole",
    chunks: [{ offset: 0, length: 1 }],
    offload: false,
    sparse: false,
  });
});

Deno.test("copyPlanFor() copies a file just below the cutoff whole and splits one at it", () => {
  const cutoff = DEFAULTS.cutoffBytes;
  assertEquals(planFor(cutoff - 1).copier, "whole");
  assertEquals(planFor(cutoff - 1).chunks, [{ offset: 0, length: cutoff - 1 }]);
  const at = planFor(cutoff);
  const above = planFor(cutoff + 1);
  assertEquals([at.copier, above.copier], ["ranges", "ranges"]);
  assert(at.chunks.length > 1);
  assertCovers(at.chunks, cutoff);
  assertCovers(above.chunks, cutoff + 1);
});

Deno.test("copyPlanFor() ends with a short range when the size is not a multiple", () => {
  const { chunks } = planFor(10 * MIB + 12345, { chunkBytes: 4 * MIB, cutoffBytes: 0 });
  assertEquals(chunks.map((c) => c.length), [4 * MIB, 4 * MIB, 2 * MIB + 12345]);
});

Deno.test("copyPlanFor() plans sizes above 4 GiB without overflow, in 64 MiB ranges at most", () => {
  const size = 5 * 1024 * MIB + 7;
  const { chunks } = planFor(size, { maxWorkers: 8 });
  assertCovers(chunks, size);
  assertEquals(chunks[0]!.length, 64 * MIB);
  assert(chunks[chunks.length - 1]!.offset > 2 ** 32);
});

Deno.test("copyPlanFor(): automatic ranges are about two per worker, 1-64 MiB in whole MiB", () => {
  const first = (size: number, maxWorkers: number) =>
    planFor(size, { maxWorkers, cutoffBytes: 0 }).chunks[0]!.length;
  assertEquals(first(100 * MIB, 4), 13 * MIB);
  assertEquals(first(16 * MIB, 1), 8 * MIB);
  assertEquals(first(2 * MIB, 8), MIB);
  assertEquals(first(100 * 1024 * MIB, 8), 64 * MIB);
});

Deno.test("copyPlanFor(): hashed, same-file-system and sparse files get their own copiers", () => {
  const big = 100 * MIB;
  const hashed = copyPlanFor(
    { size: big, sparse: false, sameFs: true },
    resolveOptions({ hash: "xxh64" }),
  );
  assertEquals(hashed.copier, "ranges");
  assertEquals(hashed.offload, false);
  assert(hashed.chunks.every((c) => c.length <= HASH_CHUNK_BYTES));
  assertCovers(hashed.chunks, big);
  const smallHashed = copyPlanFor(
    { size: 4 * MIB, sparse: false, sameFs: false },
    resolveOptions({ hash: "xxh64" }),
  );
  assertEquals([smallHashed.copier, smallHashed.chunks.length], ["ranges", 1]);
  const kernel = copyPlanFor(
    { size: big, sparse: false, sameFs: true },
    resolveOptions({ offload: "auto" }, { offloadAvailable: true }),
  );
  assertEquals([kernel.copier, kernel.offload, kernel.chunks], ["kernel", true, [{
    offset: 0,
    length: big,
  }]]);
  const sparse = copyPlanFor(
    { size: MIB, sparse: true, sameFs: false },
    resolveOptions({ offload: "never" }, { offloadAvailable: true }),
  );
  assertEquals([sparse.copier, sparse.sparse], ["ranges", true]);
});

Deno.test("copyPlanFor()'s ranges are frozen", () => {
  const { chunks } = planFor(200 * MIB);
  assert(chunks.every((c) => Object.isFrozen(c)));
});

Deno.test("planTransfer() walks a tree and maps every path under dst", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await Deno.mkdir(join(src, "plate", "deep"), { recursive: true });
    await writeRandomFile(join(src, "plate", "a.exr"), 100);
    await writeRandomFile(join(src, "plate", "deep", "b.exr"), 11 * MIB);
    await Deno.symlink("a.exr", join(src, "plate", "link.exr"));
    const plan = await planTransfer([{ src, dst: join(dir, "out") }], {
      maxWorkers: 2,
      cutoffBytes: 10 * MIB,
      offload: "never",
    });
    assertEquals(plan.dirs.map((d) => d.dst), [
      join(dir, "out"),
      join(dir, "out", "plate"),
      join(dir, "out", "plate", "deep"),
    ]);
    const byDst = Object.fromEntries(plan.files.map((f) => [f.dst.slice(dir.length), f]));
    assertEquals(Object.keys(byDst).sort(), [
      "/out/plate/a.exr",
      "/out/plate/deep/b.exr",
      "/out/plate/link.exr",
    ]);
    assertEquals(byDst["/out/plate/link.exr"]!.action, "symlink");
    assertEquals(byDst["/out/plate/link.exr"]!.linkTarget, "a.exr");
    assertEquals(byDst["/out/plate/a.exr"]!.copier, "whole");
    assertEquals(byDst["/out/plate/a.exr"]!.chunks, [{ offset: 0, length: 100 }]);
    assertEquals(byDst["/out/plate/deep/b.exr"]!.copier, "ranges");
    assertCovers(byDst["/out/plate/deep/b.exr"]!.chunks, 11 * MIB);
    assertEquals(plan.bytesTotal, 100 + 11 * MIB);
    assertEquals(await listTree(join(dir, "out")), [], "planning wrote nothing");
  });
});

Deno.test("planTransfer() rejects a missing source, naming the mapping", async () => {
  await withTempDir(async (dir) => {
    const error = await assertRejectsWith(
      planTransfer([{ src: join(dir, "a"), dst: join(dir, "b") }, {
        src: join(dir, "nope"),
        dst: join(dir, "c"),
      }]),
      InputError,
      /^Mapping 0: source '.*\/a' does not exist$/,
    );
    assertEquals(error.index, 0);
  });
});

Deno.test("planTransfer() rejects src == dst and dst inside src", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "src"));
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "src"), dst: join(dir, "src") }]),
      InputError,
      /source and destination are the same path/,
    );
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "src"), dst: join(dir, "src", "sub", "copy") }]),
      InputError,
      /destination '.*\/src\/sub\/copy' is inside the source directory/,
    );
    // A name that starts with two dots is still a name inside the source.
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "src"), dst: join(dir, "src", "..copy") }]),
      InputError,
      /destination '.*\/src\/\.\.copy' is inside the source directory/,
    );
    // A sibling whose name starts with the source's is not inside it.
    await Deno.mkdir(join(dir, "src2"));
    const sibling = await planTransfer([{ src: join(dir, "src"), dst: join(dir, "src2", "copy") }]);
    assertEquals(sibling.dirs.length, 1);
    await Deno.remove(join(dir, "src2"));
    await Deno.symlink(join(dir, "src"), join(dir, "alias"));
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "src"), dst: join(dir, "alias", "copy") }]),
      InputError,
      /is inside the source directory/,
    );
    assertEquals(await listTree(join(dir, "src")), []);
  });
});

Deno.test("planTransfer() rejects two mappings writing the same path", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "a"));
    await Deno.mkdir(join(dir, "b"));
    await Deno.writeTextFile(join(dir, "a", "f.exr"), "1");
    await Deno.writeTextFile(join(dir, "b", "f.exr"), "2");
    await Deno.writeTextFile(join(dir, "g.exr"), "3");
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "a"), dst: join(dir, "out") }, {
        src: join(dir, "b"),
        dst: join(dir, "out"),
      }]),
      InputError,
      /Mapping 1: destination '.*\/out' is also the destination of mapping 0/,
    );
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "a"), dst: join(dir, "out") }, {
        src: join(dir, "g.exr"),
        dst: join(dir, "out", "f.exr"),
      }]),
      InputError,
      /Mapping 1 \('.*g\.exr'\): destination '.*\/out\/f\.exr' is also written by mapping 0/,
    );
  });
});

Deno.test("planTransfer() rejects a directory onto a file and a file onto a directory", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "d"));
    await Deno.writeTextFile(join(dir, "f"), "x");
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "d"), dst: join(dir, "f") }]),
      InputError,
      /cannot put directory '.*\/d' onto the file '.*\/f'/,
    );
    await Deno.mkdir(join(dir, "e"));
    await assertRejectsWith(
      planTransfer([{ src: join(dir, "f"), dst: join(dir, "e") }]),
      InputError,
      /destination '.*\/e' is a directory/,
    );
  });
});

Deno.test("planTransfer() decides for existing destinations by policy, as cp -u and rsync -u do", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "src"));
    await Deno.mkdir(join(dir, "dst"));
    const t = new Date("2026-06-01T12:00:00Z");
    for (const name of ["same", "older", "newer", "absent"]) {
      await Deno.writeTextFile(join(dir, "src", name), "source");
      await Deno.utime(join(dir, "src", name), t, t);
    }
    // ferry's earlier copy; a differing older one; a differing newer one (a hand fix).
    await Deno.writeTextFile(join(dir, "dst", "same"), "source");
    await Deno.utime(join(dir, "dst", "same"), t, t);
    await Deno.writeTextFile(join(dir, "dst", "older"), "before");
    await Deno.utime(
      join(dir, "dst", "older"),
      new Date(t.getTime() - 1e5),
      new Date(t.getTime() - 1e5),
    );
    await Deno.writeTextFile(join(dir, "dst", "newer"), "fixed!");
    await Deno.utime(
      join(dir, "dst", "newer"),
      new Date(t.getTime() + 1e5),
      new Date(t.getTime() + 1e5),
    );
    const mappings = [{ src: join(dir, "src"), dst: join(dir, "dst") }];
    const actions = async (existing: ExistingPolicy): Promise<string[]> =>
      (await planTransfer(mappings, { existing })).files.map((f) =>
        `${basename(f.src)}:${f.action}${f.reason === undefined ? "" : `:${f.reason}`}`
      );
    const there = "same:skip:already there (the same size and modification time)";
    assertEquals(await actions("error"), [
      "absent:copy",
      `newer:fail:${DIFFERS_REASON}`,
      `older:fail:${DIFFERS_REASON}`,
      there,
    ]);
    assertEquals(await actions("overwrite"), ["absent:copy", "newer:copy", "older:copy", there]);
    assertEquals(await actions("update"), [
      "absent:copy",
      "newer:skip:the destination is newer than the source",
      "older:copy",
      there,
    ]);
    assertEquals(await actions("skip"), [
      "absent:copy",
      "newer:skip:the destination exists",
      "older:skip:the destination exists",
      there,
    ]);
    assertEquals(await actions("checksum"), [
      "absent:copy",
      "newer:compare",
      "older:compare",
      "same:compare",
    ]);
  });
});

Deno.test("planTransfer() rejects empty mappings and bad options before any I/O", async () => {
  await assertRejectsWith(planTransfer([]), InputError, /No mappings given/);
  await assertRejectsWith(
    planTransfer([{ src: "/x", dst: "/y" }], { maxWorkers: 0 }),
    OptionError,
    /Invalid value for maxWorkers: 0 \(expected a whole number from 1 to 256\)/,
  );
});
