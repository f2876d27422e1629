import { join } from "node:path";
import {
  assert,
  assertEquals,
  assertMatch,
  listTree,
  runCli,
  sha256,
  spawnCli,
  testbed,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

Deno.test("a move rerun after a crash between publishing and removing the source finishes the move", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "render");
    await Deno.mkdir(src);
    for (const name of ["a.exr", "b.exr", "c.exr"]) await writeRandomFile(join(src, name), 40_000);
    const sums = Object.fromEntries(
      await Promise.all(
        ["a.exr", "b.exr", "c.exr"].map(async (n) => [n, await sha256(join(src, n))]),
      ),
    );
    // The state a crash leaves: published copies (ferry gives them the source's mtime), sources still there.
    const out = join(dir, "out");
    assertEquals((await runCli(["copy", src, out])).code, 0);
    await Deno.remove(join(out, "c.exr")); // c was never published
    for (const [policy, label] of [["--skip-existing", "skip"], ["--update", "update"]] as const) {
      const run = await runCli(["apply", policy], {
        stdin: JSON.stringify({ mappings: [{ src, dst: out }], operation_type: "move" }),
      });
      assertEquals(run.code, 0, `${label}: ${run.stderr}`);
      assertMatch(run.stderr, /moved 3 of 3 files/);
      assertEquals(await listTree(src), [], `${label}: no source is left behind`);
      for (const [name, sum] of Object.entries(sums)) {
        assertEquals(await sha256(join(out, name)), sum);
      }
      // Back to the crash state for the next policy.
      assertEquals((await runCli(["copy", `${out}/`, src])).code, 0);
      await Deno.remove(join(out, "c.exr"));
      for (const name of ["a.exr", "b.exr", "c.exr"]) await Deno.stat(join(src, name));
    }
  });
});

Deno.test("finishing a move compares content; a destination that only looks alike stays, and so does the source", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "render");
    await Deno.mkdir(src);
    await writeRandomFile(join(src, "a.exr"), 40_000);
    const out = join(dir, "out");
    assertEquals((await runCli(["copy", src, out])).code, 0);
    // Same size and time, other bytes.
    const info = await Deno.stat(join(out, "a.exr"));
    const bytes = await Deno.readFile(join(out, "a.exr"));
    bytes[7] = bytes[7]! ^ 0xff;
    await Deno.writeFile(join(out, "a.exr"), bytes);
    await Deno.utime(join(out, "a.exr"), info.atime!, info.mtime!);
    const run = await runCli(["apply", "--update", "--verify", "source"], {
      stdin: JSON.stringify({ mappings: [{ src, dst: out }], operation_type: "move" }),
    });
    assertEquals(run.code, 1);
    assertMatch(
      run.stderr,
      /failed: Cannot copy '.*render\/a\.exr' to '.*out\/a\.exr': the destination has the source's size and time but not its content \(xxh64 [0-9a-f]{16}, the source's [0-9a-f]{16}\); both are left alone/,
    );
    await Deno.stat(join(src, "a.exr")); // the source is still there
    // Without hashing the bytes are compared: a look-alike never costs the source.
    for (const policy of ["--update", "--skip-existing"]) {
      const plain = await runCli(["apply", policy], {
        stdin: JSON.stringify({ mappings: [{ src, dst: out }], operation_type: "move" }),
      });
      assertEquals(plain.code, 1, policy);
      assertMatch(plain.stderr, /size and time but not its content; both are left alone/);
      await Deno.stat(join(src, "a.exr"));
    }
  });
});

Deno.test("a move across file systems killed with SIGKILL and rerun with --update loses nothing and finishes", async () => {
  const bed = await testbed();
  if (typeof bed === "string") {
    console.warn(`SKIPPED cross-file-system move kill test: ${bed}`);
    return;
  }
  await withTempDir(async (dir) => {
    const src = join(dir, "render");
    await Deno.mkdir(src);
    const sums: Record<string, string> = {};
    for (let i = 0; i < 200; i++) {
      const name = `f.${1000 + i}.exr`;
      await writeRandomFile(join(src, name), 200 * 1024);
      sums[name] = await sha256(join(src, name));
    }
    const out = join(bed.local, `move-${crypto.randomUUID()}`);
    try {
      let killed = false;
      for (let attempt = 0; attempt < 5 && !killed; attempt++) {
        const child = spawnCli(["move", "--small-file-workers", "2", src, out]);
        await waitFor(async () => 200 - (await listTree(src)).length >= 5);
        child.kill("SIGKILL");
        const status = await child.status;
        killed = status.signal === "SIGKILL" && (await listTree(src)).length > 0;
      }
      assert(killed, "the move was killed mid-way in one of 5 attempts");
      // Every file is at least in one place, whole.
      for (const [name, sum] of Object.entries(sums)) {
        const here = await sha256(join(src, name)).catch(() => null);
        const there = await sha256(join(out, name)).catch(() => null);
        assert(here === sum || there === sum, `${name} is whole somewhere`);
      }
      const rerun = await runCli(["apply", "--update"], {
        stdin: JSON.stringify({ mappings: [{ src, dst: out }], operation_type: "move" }),
      });
      assertEquals(rerun.code, 0, rerun.stderr);
      assertEquals(await listTree(src), []);
      for (const [name, sum] of Object.entries(sums)) {
        assertEquals(await sha256(join(out, name)), sum);
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  });
});
