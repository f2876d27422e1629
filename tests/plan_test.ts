import { basename, join } from "node:path";
import {
  autoChunkBytes,
  type Chunk,
  DEFAULT_CUTOFF_BYTES,
  DIFFERS_REASON,
  type ExistingPolicy,
  InputError,
  MIB,
  planChunks,
  planTransfer,
} from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejectsWith,
  assertThrows,
  listTree,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

function assertCovers(chunks: Chunk[], size: number): void {
  let next = 0;
  for (const chunk of chunks) {
    assertEquals(chunk.offset, next);
    assert(chunk.length >= 1);
    next += chunk.length;
  }
  assertEquals(next, size);
}

Deno.test("planChunks() gives no chunks for 0 and 1 byte files", () => {
  assertEquals(planChunks(0), []);
  assertEquals(planChunks(1), []);
  assertEquals(planChunks(0, { cutoffBytes: 0 }), []);
});

Deno.test("planChunks() copies a file just below the cutoff whole and splits one at it", () => {
  assertEquals(planChunks(DEFAULT_CUTOFF_BYTES - 1), []);
  const at = planChunks(DEFAULT_CUTOFF_BYTES);
  const above = planChunks(DEFAULT_CUTOFF_BYTES + 1);
  assert(at.length > 1);
  assertCovers(at, DEFAULT_CUTOFF_BYTES);
  assertCovers(above, DEFAULT_CUTOFF_BYTES + 1);
  const last = above[above.length - 1]!;
  assertEquals(last.offset + last.length, DEFAULT_CUTOFF_BYTES + 1);
});

Deno.test("planChunks() ends with a short chunk when the size is not a multiple", () => {
  const chunks = planChunks(10 * MIB + 12345, { chunkBytes: 4 * MIB, cutoffBytes: 0 });
  assertEquals(chunks.map((c) => c.length), [4 * MIB, 4 * MIB, 2 * MIB + 12345]);
});

Deno.test("planChunks() plans sizes above 4 GiB without overflow", () => {
  const size = 5 * 1024 * MIB + 7;
  const chunks = planChunks(size, { workers: 8 });
  assertCovers(chunks, size);
  assertEquals(chunks[0]!.length, 64 * MIB);
  assert(chunks[chunks.length - 1]!.offset > 2 ** 32);
});

Deno.test("autoChunkBytes() stays within 1-64 MiB in whole MiB", () => {
  assertEquals(autoChunkBytes(1, 8), MIB);
  assertEquals(autoChunkBytes(100 * MIB, 4), 13 * MIB);
  assertEquals(autoChunkBytes(100 * 1024 * MIB, 8), 64 * MIB);
  assertEquals(autoChunkBytes(16 * MIB, 1), 8 * MIB);
});

Deno.test("planChunks() rejects negative or fractional numbers", () => {
  assertThrows(() => planChunks(-1), RangeError);
  assertThrows(() => planChunks(10, { workers: 0 }), RangeError);
  assertThrows(() => planChunks(10, { chunkBytes: 1.5 }), /Invalid chunkBytes '1.5'/);
});

Deno.test("planTransfer() walks a tree and maps every path under dst", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await Deno.mkdir(join(src, "plate", "deep"), { recursive: true });
    await writeRandomFile(join(src, "plate", "a.exr"), 100);
    await writeRandomFile(join(src, "plate", "deep", "b.exr"), 11 * MIB);
    await Deno.symlink("a.exr", join(src, "plate", "link.exr"));
    const plan = await planTransfer([{ src, dst: join(dir, "out") }], {
      workers: 2,
      cutoffBytes: 10 * MIB,
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
    assertEquals(byDst["/out/plate/a.exr"]!.chunks, []);
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
    planTransfer([{ src: "/x", dst: "/y" }], { workers: 0 }),
    RangeError,
    /Invalid workers '0'/,
  );
});
