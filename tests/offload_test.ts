import { join } from "node:path";
import { CancelledError } from "../mod.ts";
import { MIB } from "../lib/size.ts";
import { copyAll, filesOf } from "./_outcomes.ts";
import { libcAvailable } from "../lib/fs/libc.ts";
import {
  KernelCopy,
  MAX_CALL_BYTES,
  nextShareStep,
  SAME_FS_OFFLOAD_STEP_BYTES,
  SHARE_STEP_MS,
} from "../lib/fs/offload.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertRejectsWith,
  assertSameTree,
  listTree,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

const SIZES = [0, 1, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1, 10 * MIB, 10 * MIB + 1, 33 * MIB + 12345];

Deno.test("offload is available to the tests (they run with --allow-ffi on Linux)", () => {
  assertEquals(libcAvailable(), Deno.build.os === "linux");
});

Deno.test("copies are byte-identical with offload never, auto and always", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    for (const size of SIZES) await writeRandomFile(join(src, `f${size}.bin`), size);
    for (const offload of ["never", "auto", "always"] as const) {
      const dst = join(dir, offload);
      const result = await copyAll(src, dst, {
        offload,
        chunkBytes: 4 * MIB,
        cutoffBytes: 10 * MIB,
        maxWorkers: 3,
      });
      assert(result.ok, JSON.stringify(result.files.map((f) => f.reason)));
      await assertSameTree(dst, src);
      const offloaded = result.files.reduce((sum, f) => sum + (f.offloadedBytes ?? 0), 0);
      const chunked = SIZES.filter((s) => s >= 10 * MIB).reduce((a, b) => a + b, 0);
      // Within one ext4/xfs/btrfs/tmpfs file system the kernel copies every chunk.
      assertEquals(offloaded, offload === "never" ? 0 : chunked, `${offload}: bytes offloaded`);
    }
  });
});

Deno.test("KernelCopy reports errno names for failed calls", () => {
  const kernel = KernelCopy.open();
  assert(kernel !== null);
  try {
    let code = "";
    try {
      kernel.openFile("/no/such/file", false);
    } catch (error) {
      code = (error as { code: string }).code;
    }
    assertEquals(code, "ENOENT");
  } finally {
    kernel.close();
  }
});

const SHM = "/dev/shm";
const crossFs = await Deno.stat(SHM).then(
  async (info) => info.dev !== (await Deno.stat(Deno.cwd())).dev,
  () => false,
);
if (!crossFs) console.warn("SKIPPED offload fallback tests: no /dev/shm on another file system");

Deno.test({
  name: "offload falls back to read/write where the kernel refuses (ext4 to tmpfs: EXDEV)",
  ignore: !crossFs,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      await writeRandomFile(join(dir, "a.mov"), 24 * MIB);
      await withTempDir(async (other) => {
        const auto = await copyAll(dir, join(other, "auto"), { offload: "auto", cutoffBytes: MIB });
        assert(auto.ok);
        assertEquals(auto.files[0]?.offloadedBytes, undefined);
        await assertSameTree(join(other, "auto"), dir);

        const always = await copyAll(dir, join(other, "always"), {
          offload: "always",
          cutoffBytes: MIB,
        });
        assertEquals(always.files[0]?.status, "failed");
        assertMatch(always.files[0]!.error!.message, /copy offload is not possible here \(EXDEV\)/);
        assertEquals(await listTree(join(other, "always")), []);
        await assertNoTemps(other);
      }, { dir: SHM });
    });
  },
});

Deno.test("a cancel between copy_file_range steps stops the copy and removes the temporary", async () => {
  await withTempDir(async (dir) => {
    // One file system: the file is one range copied in 64 MiB kernel steps;
    // the worker checks the cancel flag between steps.
    const size = 4 * SAME_FS_OFFLOAD_STEP_BYTES;
    await writeRandomFile(join(dir, "plate.mov"), size);
    const controller = new AbortController();
    let seenAtAbort = 0;
    let lastSeen = 0;
    const error = await assertRejectsWith(
      copyAll(join(dir, "plate.mov"), join(dir, "out", "plate.mov"), {
        signal: controller.signal,
        offload: "always",
        progressIntervalMs: 1,
        onProgress: (p) => {
          lastSeen = p.bytesDone;
          if (p.bytesDone > 0 && seenAtAbort === 0) {
            seenAtAbort = p.bytesDone;
            controller.abort();
          }
        },
      }),
      CancelledError,
      /cancelled/,
    );
    assert(seenAtAbort > 0 && seenAtAbort < size, `aborted at ${seenAtAbort} of ${size} bytes`);
    assert(lastSeen < size, `the kernel copy went on to ${lastSeen} of ${size} bytes`);
    assertEquals(filesOf(error).map((f) => f.status), ["cancelled"]);
    assertEquals(
      await listTree(join(dir, "out")),
      [],
      "nothing left, not even the created directory",
    );
    await assertNoTemps(dir);
  });
});

Deno.test("server-side steps on a share grow while they are quick, shrink when slow, stay small under a limit", () => {
  let size = SAME_FS_OFFLOAD_STEP_BYTES;
  const sizes: number[] = [];
  for (let i = 0; i < 6; i++) sizes.push(size = nextShareStep(size, SHARE_STEP_MS / 4, false));
  assertEquals(sizes.map((s) => s / MIB), [128, 256, 512, 1024, 1024, 1024]);
  assertEquals(size, MAX_CALL_BYTES);
  // Within the band the size holds; past it, it halves down to 64 MiB.
  assertEquals(nextShareStep(size, SHARE_STEP_MS * 0.75, false), size);
  const down: number[] = [];
  for (let i = 0; i < 6; i++) down.push(size = nextShareStep(size, SHARE_STEP_MS * 2, false));
  assertEquals(down.map((s) => s / MIB), [512, 256, 128, 64, 64, 64]);
  assertEquals(nextShareStep(512 * MIB, 1, true), SAME_FS_OFFLOAD_STEP_BYTES);
});
