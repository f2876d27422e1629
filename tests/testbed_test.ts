// Tests on ../shared/testbed: a FUSE "network share" with 0.5 ms per request,
// an XFS volume with reflink, and a 64 MiB share for disk-full. Where the bed
// is not up they are skipped with the reason printed, never passed silently.
import { join } from "node:path";
import { MIB } from "../lib/size.ts";
import { copyAll } from "./_outcomes.ts";
import { copy } from "../mod.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertSameFile,
  assertSameTree,
  freeBytes,
  listTree,
  outputOf,
  ROOT,
  runCli,
  straceWorks,
  testbed,
  writeRandomFile,
} from "./_helpers.ts";

const bed = await testbed();
if (typeof bed === "string") console.warn(`SKIPPED testbed tests: ${bed}`);
const ignore = typeof bed === "string";
const paths = typeof bed === "string" ? undefined : bed;

/** A fresh directory on one of the bed's volumes, removed afterwards. */
async function inBed(root: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: root, prefix: "ferry-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "testbed: a 256 MiB copy with offload on the XFS reflink volume shares extents with its source",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.reflink, async (dir) => {
      // Large enough that a copy of the data would show in the free space;
      // writing and comparing 1 GiB on the bed's loop device took 30 s.
      await writeRandomFile(join(dir, "plate.mov"), 256 * MIB);
      const before = await freeBytes(dir);
      const result = await copyAll(join(dir, "plate.mov"), join(dir, "copy.mov"), {
        offload: "auto",
      });
      assert(result.ok);
      assertEquals(result.files[0]?.offloadedBytes, 256 * MIB);
      const used = before - (await freeBytes(dir));
      assert(used < 16 * MIB, `the reflinked copy used ${used} bytes of space`);
      await assertSameFile(join(dir, "copy.mov"), join(dir, "plate.mov"));
      const fiemap = await new Deno.Command("xfs_io", {
        args: ["-r", "-c", "fiemap -v", join(dir, "copy.mov")],
        stdout: "piped",
      }).output();
      // FIEMAP_EXTENT_SHARED is flag 0x2000.
      assertMatch(new TextDecoder().decode(fiemap.stdout), /0x2[0-9a-f]{3}/);
    });
  },
});

Deno.test({
  name:
    "testbed: net/ to local/ falls back to read/write (copy_file_range refused) and is identical",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.netStore, async (seeded) => {
      await Deno.mkdir(join(seeded, "plate"));
      for (let i = 0; i < 6; i++) {
        await writeRandomFile(join(seeded, "plate", `f${i}.exr`), 3 * MIB);
      }
      await writeRandomFile(join(seeded, "movie.mov"), 40 * MIB);
      const src = join(paths!.net, seeded.slice(paths!.netStore.length));
      await inBed(paths!.local, async (dir) => {
        const result = await copyAll(src, join(dir, "out"), { offload: "auto" });
        assert(result.ok, JSON.stringify(result.files.map((f) => f.reason)));
        assertEquals(result.files.some((f) => (f.offloadedBytes ?? 0) > 0), false);
        await assertSameTree(join(dir, "out"), seeded);
      });
    });
  },
});

Deno.test({
  name: "testbed: net/ to net/ is copied on the server (offload) and is identical",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.net, async (dir) => {
      await writeRandomFile(join(dir, "movie.mov"), 48 * MIB);
      const result = await copyAll(join(dir, "movie.mov"), join(dir, "copy.mov"), {
        offload: "auto",
        cutoffBytes: 16 * MIB,
      });
      assert(result.ok);
      assertEquals(result.files[0]?.offloadedBytes, 48 * MIB);
      await assertSameFile(join(dir, "copy.mov"), join(dir, "movie.mov"));
    });
  },
});

Deno.test({
  name:
    "testbed: a full volume stops an in-kernel copy on one file system half-way: the file fails, no partial",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.tiny, async (dir) => {
      // 40 MiB on a 64 MiB tmpfs: the copy (no reflink on tmpfs) runs out of
      // space after ~20 MiB. The first calls copy from the main thread; after
      // the failed one a worker takes the rest, finds ENOSPC and says so.
      // Without --allow-sys=statfs ferry cannot see the free space first (with
      // it, the batch is refused before anything is written: free_space_test).
      const src = join(dir, "src");
      await Deno.mkdir(src);
      await writeRandomFile(join(src, "plate.mov"), 40 * MIB);
      await writeRandomFile(join(src, "notes.txt"), 1000);
      const run = await runCli(["copy", "--cutoff", "16MiB", src, join(dir, "out")], {
        flags: ["--allow-read", "--allow-write", "--allow-ffi"],
      });
      assertEquals(run.code, 1, run.stderr);
      assertMatch(
        run.stderr,
        /failed: Cannot copy '.*plate\.mov' to '.*out\/plate\.mov': cannot write the destination: no space left on the device/,
      );
      assertEquals(await listTree(join(dir, "out")), ["notes.txt"]);
      await assertNoTemps(dir);
    });
  },
});

Deno.test({
  name:
    "testbed: a full share over the network fails the file that does not fit, cleans up, goes on",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.local, async (src) => {
      await writeRandomFile(join(src, "a-huge.mov"), 80 * MIB);
      await writeRandomFile(join(src, "b-small.exr"), 1 * MIB);
      await inBed(paths!.tinyNet, async (dir) => {
        const run = await runCli(["copy", "-j", "1", src, join(dir, "out")]);
        assertEquals(run.code, 1, run.stderr);
        assertMatch(
          run.stderr,
          /failed: Cannot copy '.*a-huge\.mov' to '.*a-huge\.mov': cannot write the destination: no space left on the device/,
        );
        assertEquals(await listTree(join(dir, "out")), ["b-small.exr"]);
        await assertSameFile(join(dir, "out", "b-small.exr"), join(src, "b-small.exr"));
        await assertNoTemps(dir);
      });
    });
  },
});

/** Bytes this process has had fetched from block devices so far (`read_bytes`). */
async function blockReads(): Promise<number> {
  return Number(/^read_bytes: (\d+)$/m.exec(await Deno.readTextFile("/proc/self/io"))![1]);
}

Deno.test({
  name:
    "testbed: --verify source reads the copy back from the XFS volume's device, --verify cache from memory",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.local, async (src) => {
      const file = join(src, "plate.mov");
      await writeRandomFile(file, 64 * MIB);
      await inBed(paths!.reflink, async (dir) => {
        const readBacks: (string | undefined)[] = [];
        const fetched: number[] = [];
        for (const verify of ["source", "cache"] as const) {
          const before = await blockReads();
          const result = await copy(file, join(dir, `${verify}.mov`), {
            verify,
            onFile: (f) => readBacks.push(f.hash?.readBack),
          });
          fetched.push((await blockReads()) - before);
          assert(result.ok);
          await assertSameFile(join(dir, `${verify}.mov`), file);
        }
        assertEquals(readBacks, ["storage", "cache"]);
        // The source is on tmpfs (no device): what was fetched is the copy's read-back.
        assert(fetched[0]! >= 64 * MIB, `--verify source fetched ${fetched[0]} bytes`);
        assert(fetched[1]! < MIB, `--verify cache fetched ${fetched[1]} bytes`);
      });
    });
  },
});

Deno.test({
  name: "testbed: without --allow-ffi the read-back is flushed only, and each file says so",
  ignore,
  async fn(): Promise<void> {
    await inBed(paths!.reflink, async (dir) => {
      await writeRandomFile(join(dir, "a.exr"), 3 * MIB);
      const run = await runCli([
        "copy",
        "--json",
        "--verify",
        "source",
        join(dir, "a.exr"),
        join(dir, "b.exr"),
      ]);
      assertEquals(run.code, 0, run.stderr);
      const file = run.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((e) =>
        e.event === "file"
      );
      assertEquals([file.verified, file.read_back], [true, "flushed"]);
    });
  },
});

Deno.test({
  name:
    "testbed: FileHasher hashes large files on the share in ranges and on tmpfs whole, each digest as xxhsum's",
  ignore,
  async fn(): Promise<void> {
    const { FileHasher } = await import("../mod.ts");
    for (const root of [paths!.net, paths!.local]) {
      await inBed(root, async (dir) => {
        const sizes = [MIB + 1, 8 * MIB, 8 * MIB + 1, 20 * MIB + 7];
        const files = sizes.map((size) => join(dir, `clip${size}.mov`));
        for (const [i, size] of sizes.entries()) await writeRandomFile(files[i]!, size);
        for (const options of [{}, { workers: 3 }]) {
          await using hasher = new FileHasher(options);
          for (const algorithm of ["xxh64", "xxh128"] as const) {
            const digests = await Promise.all(files.map((file) => hasher.hash(file, algorithm)));
            for (const [i, file] of files.entries()) {
              const out = await outputOf("xxhsum", [algorithm === "xxh64" ? "-H1" : "-H2", file]);
              if (out === null) return console.warn("SKIPPED the xxhsum comparison: no xxhsum");
              const expected = new TextDecoder().decode(out.stdout).split(" ")[0];
              assertEquals(digests[i], expected, `${algorithm} ${file}`);
            }
          }
        }
      });
    }
  },
});

const straceMissing = !(await straceWorks());
if (straceMissing) {
  console.warn("SKIPPED the descriptor count on the share: strace cannot trace here");
}

Deno.test({
  name:
    "testbed: a worker writes a file's ranges on the share through one descriptor, and every descriptor is closed before the file is published (strace)",
  ignore: ignore || straceMissing,
  async fn(): Promise<void> {
    await inBed(paths!.local, async (local) => {
      const src = join(local, "clip.mov");
      // Above the 64 MiB below which a file is one copyFile call: 10 ranges of 8 MiB.
      await writeRandomFile(src, 72 * MIB + 5);
      await inBed(paths!.net, async (dir) => {
        for (const extra of [[], ["--fsync"]]) {
          const dst = join(dir, `clip${extra.length}.mov`);
          const trace = "/tmp/trace-debug";
          const run = await runCli(
            ["copy", "--quiet", "-w", "1", "-j", "1", "--chunk-size", "8MiB", ...extra, src, dst],
            {
              flags: ["-A"],
              prefix: [
                "strace",
                "-f",
                "-y",
                "-o",
                trace,
                "-e",
                "trace=%file,%desc",
                Deno.execPath(),
                ROOT,
              ],
            },
          );
          assertEquals(run.code, 0, run.stderr);
          await assertSameFile(dst, src);
          const lines = (await Deno.readTextFile(trace)).split("\n");
          const partial = /ferry-partial/;
          // Opens of the existing temporary for writing (its creation has O_CREAT).
          const opens = lines.filter((l) =>
            /openat\(/.test(l) && partial.test(l) && /O_WRONLY/.test(l) && !/O_CREAT/.test(l)
          );
          assertEquals(opens.length, 1, `10 ranges, one worker: one open\n${opens.join("\n")}`);
          // The one that names the temporary as its source publishes it.
          const publish = lines.findIndex((l) =>
            /(renameat2|linkat)\(AT_FDCWD[^,]*, "[^"]*ferry-partial"/.test(l)
          );
          assert(publish > 0, "published");
          // A close split by another thread ends in its "resumed" line.
          const lastClose = lines.findLastIndex((l, i) =>
            /close\(\d+<[^>]*ferry-partial>(\)| <unfinished)/.test(l) &&
            (!/unfinished/.test(l) || lines.slice(i + 1).some((r) => /close resumed/.test(r)))
          );
          assert(
            lastClose > 0 && lastClose < publish,
            `closed at ${lastClose}, published at ${publish}`,
          );
          if (extra.length > 0) {
            const syncs = lines.filter((l) => /fdatasync\(\d+<[^>]*ferry-partial>/.test(l));
            assert(
              syncs.length >= 7,
              `each range flushed through that descriptor: ${syncs.length}`,
            );
          }
        }
      });
    });
  },
});
