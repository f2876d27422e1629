import { join } from "node:path";
import { spaceNeeds } from "../lib/fs/free_space.ts";
import { planTransfer } from "../lib/plan/transfer_plan.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  listTree,
  runCli,
  testbed,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

const MIB = 1024 * 1024;
const FLAGS = ["--allow-read", "--allow-write", "--allow-sys=statfs", "--allow-ffi"];

/** The testbed's paths, or `undefined` with the reason printed where it is not up. */
async function bedOrSkip(): Promise<
  Exclude<Awaited<ReturnType<typeof testbed>>, string> | undefined
> {
  const bed = await testbed();
  if (typeof bed !== "string") return bed;
  console.warn(`SKIPPED free-space tests: ${bed}`);
  return undefined;
}

Deno.test("a batch that cannot fit on its destination is refused before anything is written", async () => {
  const bed = await bedOrSkip();
  if (bed === undefined) return;
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await Deno.mkdir(src);
    for (let i = 1; i <= 12; i++) await writeRandomFile(join(src, `f.${1000 + i}.exr`), 10 * MIB);
    for (const volume of [bed.tiny, bed.tinyNet]) {
      const out = join(volume, `full-${crypto.randomUUID()}`);
      const run = await runCli(["copy", src, out], { flags: FLAGS });
      assertEquals(run.code, 2, run.stderr);
      assertMatch(
        run.stderr,
        /Not enough free space on the destination '.*': the batch writes 120 MiB there and [\d.]+ MiB are free \(nothing was written; --no-space-check copies anyway\)/,
      );
      assertEquals(await listTree(out), []);
      assert(!(await Deno.stat(out).then(() => true, () => false)), "not even the folder");
    }
  });
});

Deno.test("with --no-space-check, a file that can never fit fails before it is written and the rest fit", async () => {
  const bed = await bedOrSkip();
  if (bed === undefined) return;
  await withTempDir(async (dir) => {
    const src = join(dir, "card");
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "a_clip.mov"), 20 * MIB);
    await writeRandomFile(join(src, "b_huge.mov"), 80 * MIB);
    await writeRandomFile(join(src, "c_clip.mov"), 25 * MIB);
    const out = join(bed.tiny, `tight-${crypto.randomUUID()}`);
    try {
      const run = await runCli(
        ["copy", "--no-space-check", "--verify", "source", "--cutoff", "8MiB", src, out],
        { flags: FLAGS },
      );
      assertEquals(run.code, 1, run.stderr);
      assertMatch(
        run.stderr,
        /failed: Cannot copy '.*b_huge\.mov' to '.*b_huge\.mov': no space left on the destination: the file needs 80\.0 MiB and [\d.]+ MiB are free; nothing of it was written/,
      );
      assertEquals(await listTree(out), ["a_clip.mov", "c_clip.mov"]);
      await assertNoTemps(out);
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  });
});

Deno.test("a copy within a file system that cannot clone counts against its free space, offload or not", async () => {
  const bed = await bedOrSkip();
  if (bed === undefined) return;
  // tiny/ is a 64 MiB tmpfs: 40 MiB in it, and a copy of them beside it.
  const src = join(bed.tiny, `within-${crypto.randomUUID()}`);
  const out = `${src}-copy`;
  try {
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "a_clip.mov"), 20 * MIB);
    await writeRandomFile(join(src, "b_clip.mov"), 20 * MIB);
    for (const offload of ["auto", "never"]) {
      const run = await runCli(["copy", "--offload", offload, src, out], { flags: FLAGS });
      assertEquals(run.code, 2, `--offload ${offload}: ${run.stderr}`);
      assertMatch(
        run.stderr,
        /Not enough free space on the destination '.*': the batch writes 40\.0 MiB there and [\d.]+ MiB are free/,
      );
      assert(!(await Deno.stat(out).then(() => true, () => false)), "nothing was written");
    }
  } finally {
    await Deno.remove(src, { recursive: true }).catch(() => {});
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

Deno.test("a copy within XFS, which clones, is not counted when offload may clone it", async () => {
  const bed = await bedOrSkip();
  if (bed === undefined) return;
  const src = join(bed.reflink, `clone-${crypto.randomUUID()}`);
  try {
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "a_clip.mov"), MIB);
    const { files } = await planTransfer([{ src, dst: `${src}-copy` }]);
    assertEquals(await spaceNeeds(files, { mayClone: true }), []);
    const counted = await spaceNeeds(files, { mayClone: false });
    assertEquals(counted.map((need) => need.needBytes), [MIB]);
  } finally {
    await Deno.remove(src, { recursive: true }).catch(() => {});
  }
});
