import { join } from "node:path";
import { CancelledError, DEFAULTS, InputError } from "../mod.ts";
import { MIB } from "../lib/size.ts";
import { applyAll, copyAll, filesOf, moveAll, type Outcome } from "./_outcomes.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertRejectsWith,
  assertSameFile,
  assertSameTree,
  listTree,
  makeReadOnly,
  snapshot,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

const SMALL_CHUNK = 4 * MIB;

/** Sizes around every boundary the planner and the workers have. */
const SIZES: Record<string, number> = {
  "empty.bin": 0,
  "one.bin": 1,
  "cutoff-minus-1.bin": DEFAULTS.cutoffBytes - 1,
  "cutoff.bin": DEFAULTS.cutoffBytes,
  "cutoff-plus-1.bin": DEFAULTS.cutoffBytes + 1,
  "chunk-plus-1.bin": 3 * SMALL_CHUNK + 1,
  "chunk-minus-1.bin": 3 * SMALL_CHUNK - 1,
  "buffer-odd.bin": 5 * MIB + 4097,
};

async function makeTree(root: string, files: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `seq_${i % 5}`, `sub ${i % 3}`, i % 7 === 0 ? "déjà vu" : "");
    await Deno.mkdir(dir, { recursive: true });
    await writeRandomFile(join(dir, `frame ${String(i).padStart(4, "0")}.exr`), (i * 997) % 20000);
  }
  await Deno.mkdir(join(root, "empty dir"));
  await Deno.symlink("seq_0", join(root, "link to seq"));
}

function assertAllCopied(result: Outcome, files: number): void {
  assertEquals(
    result.files.filter((f) => f.status !== "copied").map((f) => `${f.src}: ${f.reason}`),
    [],
  );
  assertEquals(result.totals.filesDone, files);
  assert(result.ok);
}

Deno.test({
  name: "copy() gives byte-identical files for every worker combination and boundary size",
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "src");
      await Deno.mkdir(src);
      for (const [name, size] of Object.entries(SIZES)) {
        await writeRandomFile(join(src, name), size);
      }
      await writeRandomFile(join(src, "big 200MiB.mov"), 200 * MIB);
      for (const maxWorkers of [1, 2, 8]) {
        for (const fileWorkers of [1, 4]) {
          const dst = join(dir, `out-${maxWorkers}-${fileWorkers}`);
          const result = await copyAll(src, dst, { maxWorkers, fileWorkers });
          assertAllCopied(result, Object.keys(SIZES).length + 1);
          await assertSameTree(dst, src);
          await Deno.remove(dst, { recursive: true });
        }
      }
      const dst = join(dir, "out-fixed-chunks");
      const fixed = await copyAll(src, dst, {
        chunkBytes: SMALL_CHUNK,
        cutoffBytes: 1,
        bufferBytes: 65536,
      });
      assertAllCopied(fixed, Object.keys(SIZES).length + 1);
      await assertSameTree(dst, src);
    });
  },
});

Deno.test("copy() copies a tree of 500 small files with nested dirs, spaces, unicode and links", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "plates");
    await makeTree(src, 500);
    for (const [maxWorkers, fileWorkers] of [[1, 1], [8, 4]] as const) {
      const dst = join(dir, `copy ${maxWorkers}`);
      const result = await copyAll(src, dst, { maxWorkers, fileWorkers });
      assertAllCopied(result, 501);
      await assertSameTree(dst, src);
    }
  });
});

Deno.test("copy() keeps mtime and permission bits", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "a.exr");
    await writeRandomFile(src, 12 * MIB);
    await Deno.chmod(src, 0o640);
    const mtime = new Date("2024-03-01T12:34:56Z");
    await Deno.utime(src, mtime, mtime);
    await writeRandomFile(join(dir, "small.exr"), 10);
    await Deno.chmod(join(dir, "small.exr"), 0o600);
    await copyAll(src, join(dir, "b.exr"));
    await copyAll(join(dir, "small.exr"), join(dir, "small copy.exr"));
    const info = await Deno.stat(join(dir, "b.exr"));
    assertEquals(info.mode! & 0o777, 0o640);
    assertEquals(info.mtime?.getTime(), mtime.getTime());
    assertEquals((await Deno.stat(join(dir, "small copy.exr"))).mode! & 0o777, 0o600);
  });
});

Deno.test("copy() creates missing destination directories", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a.mov"), 1000);
    const dst = join(dir, "x", "y", "z", "a.mov");
    const result = await copyAll(join(dir, "a.mov"), dst);
    assert(result.ok);
    await assertSameFile(dst, join(dir, "a.mov"));
  });
});

Deno.test("progress events count up to the total, at most about 10 per second", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a.mov"), 128 * MIB);
    const events: { bytesDone: number; bytesTotal: number; elapsedMs: number }[] = [];
    const files: string[] = [];
    let started = 0;
    // The read/write path with a small buffer on one worker: the kernel would
    // copy the file on the main thread before any event could fire.
    const result = await copyAll(join(dir, "a.mov"), join(dir, "b.mov"), {
      maxWorkers: 1,
      bufferBytes: 4096,
      offload: "never",
      progressIntervalMs: 50,
      onStart: (info) => (started = info.bytesToCopy),
      onProgress: (p) => events.push(p),
      onFile: (f) => files.push(f.status),
    });
    assertEquals(started, 128 * MIB);
    assertEquals(files, ["copied"]);
    assert(events.length >= 2, `${events.length} progress events in ${result.elapsedMs} ms`);
    assert(events.some((e) => e.bytesDone > 0 && e.bytesDone < 128 * MIB), "bytes counted mid-way");
    for (const e of events) {
      assertEquals(e.bytesTotal, 128 * MIB);
      assert(e.bytesDone <= e.bytesTotal);
    }
    for (let i = 1; i < events.length; i++) {
      assert(events[i]!.bytesDone >= events[i - 1]!.bytesDone, "progress never goes back");
    }
    const spanMs = result.elapsedMs;
    assert(events.length <= Math.ceil(spanMs / 50) + 1, `${events.length} events in ${spanMs} ms`);
  });
});

Deno.test("cancelling a large file mid-copy leaves no temporary and no partial file", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "big.mov"), 96 * MIB);
    const out = join(dir, "out");
    const controller = new AbortController();
    let copiedAtCancel = 0;
    const error = await assertRejectsWith(
      copyAll(join(dir, "big.mov"), join(out, "big.mov"), {
        signal: controller.signal,
        maxWorkers: 2,
        chunkBytes: 8 * MIB,
        offload: "never", // real ranges: the kernel would copy the whole file in one
        onChunk: (_file, chunk) => {
          if (copiedAtCancel === 0) controller.abort();
          copiedAtCancel += chunk.length;
        },
      }),
      CancelledError,
      /Transfer cancelled/,
    );
    assert(
      copiedAtCancel < 96 * MIB,
      `cancelled with ${copiedAtCancel} of ${96 * MIB} bytes copied`,
    );
    assertEquals(filesOf(error).map((f) => f.status), ["cancelled"]);
    assertEquals(await listTree(out), [], "nothing left, not even the created directory");
    await assertNoTemps(dir);
  });
});

Deno.test("cancelling a tree mid-copy keeps published files complete and removes the rest", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    for (let i = 0; i < 40; i++) {
      await writeRandomFile(join(src, `f${i}.exr`), i % 2 ? 100_000 : 11 * MIB);
    }
    const controller = new AbortController();
    let done = 0;
    const error = await assertRejectsWith(
      copyAll(src, join(dir, "dst"), {
        signal: controller.signal,
        onFile: () => ++done === 5 && controller.abort(),
      }),
      CancelledError,
      /cancelled/,
    );
    const published = filesOf(error).filter((f) => f.status === "copied");
    assert(published.length >= 5 && published.length < 40, `${published.length} published`);
    for (const file of published) await assertSameFile(file.dst, file.src);
    const left = await listTree(join(dir, "dst"));
    assertEquals(
      left.sort(),
      published.map((f) => f.dst.slice(join(dir, "dst").length + 1)).sort(),
    );
    assertEquals(error.result.totals.filesCancelled, 40 - published.length);
    await assertNoTemps(dir);
  });
});

Deno.test("an already aborted signal cancels before anything is written", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a"), 10);
    await assertRejectsWith(
      copyAll(join(dir, "a"), join(dir, "out", "a"), { signal: AbortSignal.abort() }),
      CancelledError,
      /cancelled/,
    );
    assertEquals(await listTree(join(dir, "out")), []);
  });
});

Deno.test("existing destinations: error by default, overwrite and skip on request", async () => {
  await withTempDir(async (dir) => {
    for (const size of [100, 12 * MIB]) {
      const src = join(dir, `src-${size}`);
      const dst = join(dir, `dst-${size}`);
      await writeRandomFile(src, size);
      await Deno.writeTextFile(dst, "old delivery");
      const failed = await copyAll(src, dst);
      assertEquals(failed.files[0]?.status, "failed");
      assertEquals(
        failed.files[0]?.error?.message,
        `Cannot copy '${src}' to '${dst}': the destination differs from the source and was left alone`,
      );
      assert(!failed.ok);
      assertEquals(await Deno.readTextFile(dst), "old delivery");
      const skipped = await copyAll(src, dst, { existing: "skip" });
      assertEquals(skipped.files[0]?.status, "skipped");
      assertEquals(await Deno.readTextFile(dst), "old delivery");
      assert(skipped.ok);
      const overwritten = await copyAll(src, dst, { existing: "overwrite" });
      assertEquals(overwritten.files[0]?.status, "copied");
      await assertSameFile(dst, src);
    }
    await assertNoTemps(dir);
  });
});

Deno.test("existing destinations, update: same size and time skipped, a newer destination kept, an older one replaced", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "plates");
    await Deno.mkdir(src);
    for (const name of ["same", "retouched", "rerendered", "missing"]) {
      await writeRandomFile(join(src, `${name}.exr`), 3 * MIB + 7);
    }
    await writeRandomFile(join(src, "movie.mov"), 70 * MIB); // chunked
    const dst = join(dir, "delivery");
    assert((await copyAll(src, dst)).ok);
    // A frame fixed in place (by hand, at the destination): same size, new bytes, newer time.
    await writeRandomFile(join(dst, "retouched.exr"), 3 * MIB + 7);
    const fixed = await Deno.readFile(join(dst, "retouched.exr"));
    // A frame re-rendered at the source: other size.
    await writeRandomFile(join(src, "rerendered.exr"), 3 * MIB + 9);
    // The movie changed at the source but kept its size and time: the quick check cannot see it.
    const movie = await Deno.stat(join(src, "movie.mov"));
    await writeRandomFile(join(src, "movie.mov"), 70 * MIB);
    await Deno.utime(join(src, "movie.mov"), movie.atime!, movie.mtime!);
    await Deno.remove(join(dst, "missing.exr"));
    const before = await Deno.readFile(join(dst, "movie.mov"));
    const result = await copyAll(src, dst, { existing: "update" });
    assert(result.ok);
    const status = Object.fromEntries(result.files.map((f) => [f.src.slice(src.length + 1), f]));
    assertEquals(status["same.exr"]?.status, "skipped");
    assertEquals(
      status["same.exr"]?.reason,
      "already there (the same size and modification time)",
    );
    assertEquals(status["movie.mov"]?.status, "skipped");
    // cp -u, rsync -u, rclone --update: a newer destination is never replaced.
    assertEquals(status["retouched.exr"]?.status, "skipped");
    assertEquals(status["retouched.exr"]?.reason, "the destination is newer than the source");
    assertEquals(await Deno.readFile(join(dst, "retouched.exr")), fixed);
    for (const name of ["rerendered.exr", "missing.exr"]) {
      assertEquals(status[name]?.status, "copied", name);
      await assertSameFile(join(dst, name), join(src, name));
    }
    assertEquals(await Deno.readFile(join(dst, "movie.mov")), before, "skipped, not rewritten");
    // A file mapping: its destination was looked at when the mapping was checked.
    const one = await copyAll(join(src, "same.exr"), join(dst, "same.exr"), { existing: "update" });
    assertEquals(one.files.map((f) => f.status), ["skipped"]);
    const other = await copyAll(join(src, "rerendered.exr"), join(dst, "same.exr"), {
      existing: "update",
    });
    assertEquals(other.files.map((f) => f.status), ["copied"], "another size");
    await assertSameFile(join(dst, "same.exr"), join(src, "rerendered.exr"));
    await assertNoTemps(dir);
  });
});

Deno.test("src == dst and dst inside src are input errors that write nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "src"));
    await writeRandomFile(join(dir, "src", "a"), 10);
    const before = await snapshot(dir);
    await assertRejectsWith(copyAll(join(dir, "src"), join(dir, "src")), InputError, /same path/);
    await assertRejectsWith(
      copyAll(join(dir, "src"), join(dir, "src", "copy")),
      InputError,
      /is inside the source directory/,
    );
    await assertRejectsWith(
      applyAll([{ src: join(dir, "src", "a"), dst: join(dir, "x") }, {
        src: join(dir, "missing"),
        dst: join(dir, "y"),
      }]),
      InputError,
      /^Mapping 1: source '.*missing' does not exist$/,
    );
    assertEquals(await snapshot(dir), before);
  });
});

Deno.test("a read-only destination directory fails those files and the batch goes on", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "small"), 100);
    await writeRandomFile(join(dir, "large"), 12 * MIB);
    await Deno.mkdir(join(dir, "locked"));
    await Deno.mkdir(join(dir, "open"));
    const undo = await makeReadOnly(join(dir, "locked"));
    assert(undo !== null, "this file system cannot make a directory read-only for this user");
    try {
      const result = await applyAll([
        { src: join(dir, "small"), dst: join(dir, "locked", "small") },
        { src: join(dir, "large"), dst: join(dir, "locked", "large") },
        { src: join(dir, "large"), dst: join(dir, "open", "large") },
      ]);
      assertEquals(result.files.map((f) => f.status), ["failed", "failed", "copied"]);
      for (const file of result.files.slice(0, 2)) {
        assertMatch(
          file.error!.message,
          /^Cannot copy '.*' to '.*\/locked\/.*': cannot write the destination: (permission denied|operation not permitted)$/,
        );
      }
      assertEquals(result.totals.filesFailed, 2);
      await assertSameFile(join(dir, "open", "large"), join(dir, "large"));
    } finally {
      await undo();
    }
    assertEquals(await listTree(join(dir, "locked")), []);
  });
});

Deno.test("move() on one file system is a rename that keeps the inode", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a.mov"), 12 * MIB);
    await Deno.mkdir(join(dir, "tree"));
    await writeRandomFile(join(dir, "tree", "f.exr"), 100);
    const fileIno = (await Deno.stat(join(dir, "a.mov"))).ino;
    const treeIno = (await Deno.stat(join(dir, "tree"))).ino;
    const expected = await snapshot(join(dir, "tree"));
    const moved = await moveAll(join(dir, "a.mov"), join(dir, "b", "a.mov"));
    assertEquals(moved.files[0]?.status, "moved");
    assertEquals((await Deno.stat(join(dir, "b", "a.mov"))).ino, fileIno);
    // fsync: the renamed tree's parent is flushed; the outcome is the same.
    const movedTree = await moveAll(join(dir, "tree"), join(dir, "b", "tree"), { fsync: true });
    assertEquals(movedTree.files.map((f) => f.status), ["moved"]);
    assertEquals((await Deno.stat(join(dir, "b", "tree"))).ino, treeIno);
    assertEquals(await snapshot(join(dir, "b", "tree")), expected);
    assertEquals(await listTree(dir), ["b", "b/a.mov", "b/tree", "b/tree/f.exr"]);
  });
});

Deno.test("move() into an existing directory on one file system renames file by file", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "src", "sub"), { recursive: true });
    await writeRandomFile(join(dir, "src", "sub", "f.exr"), 100);
    await Deno.mkdir(join(dir, "dst", "sub"), { recursive: true });
    await Deno.writeTextFile(join(dir, "dst", "sub", "keep.txt"), "keep");
    const ino = (await Deno.stat(join(dir, "src", "sub", "f.exr"))).ino;
    const result = await moveAll(join(dir, "src"), join(dir, "dst"));
    assertEquals(result.files.map((f) => f.status), ["moved"]);
    assertEquals((await Deno.stat(join(dir, "dst", "sub", "f.exr"))).ino, ino);
    assertEquals(await listTree(dir), ["dst", "dst/sub", "dst/sub/f.exr", "dst/sub/keep.txt"]);
  });
});

const SHM = "/dev/shm";
const shmIsOtherFs = await (async () => {
  try {
    return (await Deno.stat(SHM)).dev !== (await Deno.stat("/tmp")).dev;
  } catch {
    return false;
  }
})();
if (!shmIsOtherFs) {
  console.warn(
    "SKIPPED cross-file-system move: /dev/shm is missing, not readable, or on the same file system as /tmp",
  );
}

for (const fsync of [false, true]) {
  Deno.test({
    name: `move() across file systems copies, verifies, publishes, then removes the source${
      fsync ? " (fsync)" : ""
    }`,
    ignore: !shmIsOtherFs,
    async fn(): Promise<void> {
      await withTempDir(async (dir) => {
        const src = join(dir, "shot");
        await makeTree(src, 30);
        await writeRandomFile(join(src, "big.mov"), 20 * MIB);
        const expected = await snapshot(src);
        await withTempDir(async (other) => {
          const dst = join(other, "shot");
          const result = await moveAll(src, dst, { fsync });
          assert(result.ok);
          assert(result.files.every((f) => f.status === "moved"));
          assertEquals(await snapshot(dst), expected);
          assertEquals(await listTree(dir), [], "the source tree is gone");
        }, { dir: SHM });
      });
    },
  });
}

Deno.test("killSignal terminates the workers at once and still removes every temporary file", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "big.mov"), 64 * MIB);
    const cancel = new AbortController();
    const kill = new AbortController();
    const error = await assertRejectsWith(
      copyAll(join(dir, "big.mov"), join(dir, "out", "big.mov"), {
        signal: cancel.signal,
        killSignal: kill.signal,
        chunkBytes: 4 * MIB,
        maxWorkers: 4,
        onChunk: () => {
          cancel.abort();
          kill.abort();
        },
      }),
      CancelledError,
      /cancelled/,
    );
    assertEquals(error.result.totals.filesCancelled, 1);
    assertEquals(await listTree(join(dir, "out")), []);
    await assertNoTemps(dir);
  });
});

Deno.test("chunked copies, done or cancelled, leave no file descriptor open", async () => {
  await withTempDir(async (dir) => {
    /** This process's descriptors open on files under `dir` (the runtime's own are left out). */
    const openFds = async (): Promise<string[]> => {
      const open: string[] = [];
      for await (const entry of Deno.readDir("/proc/self/fd")) {
        const target = await Deno.readLink(`/proc/self/fd/${entry.name}`).catch(() => "");
        if (target.startsWith(dir)) open.push(target);
      }
      return open;
    };
    await writeRandomFile(join(dir, "a.mov"), 40 * MIB + 3);
    const before = await openFds();
    for (let i = 0; i < 3; i++) {
      const result = await copyAll(join(dir, "a.mov"), join(dir, `copy${i}.mov`), {
        maxWorkers: 3,
        chunkBytes: 4 * MIB,
        cutoffBytes: MIB,
        offload: "never",
      });
      assert(result.ok);
      await assertSameFile(join(dir, `copy${i}.mov`), join(dir, "a.mov"));
    }
    const controller = new AbortController();
    await assertRejectsWith(
      copyAll(join(dir, "a.mov"), join(dir, "cancelled.mov"), {
        signal: controller.signal,
        maxWorkers: 3,
        chunkBytes: 4 * MIB,
        cutoffBytes: MIB,
        offload: "never",
        onChunk: () => controller.abort(),
      }),
      CancelledError,
      /cancelled/,
    );
    assertEquals(before, []);
    assertEquals(await openFds(), [], "descriptors still open on the copies");
  });
});
