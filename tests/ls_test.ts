import { join } from "node:path";
import { assertEquals, assertMatch, runCli, withTempDir } from "./_helpers.ts";

/** A render folder: two versions, a sequence with holes and an empty frame, mixed padding, other files. */
async function makeRenders(dir: string): Promise<void> {
  for (let f = 1001; f <= 1100; f++) {
    if (f === 1050 || f === 1051) continue;
    await Deno.writeFile(
      join(dir, `sh010_comp_v003.${f}.exr`),
      new Uint8Array(f === 1003 ? 0 : 1000),
    );
  }
  for (const f of [1001, 1002, 1003]) {
    await Deno.writeTextFile(join(dir, `sh010_comp_v002.${f}.exr`), "v2");
  }
  for (const f of [1, 10, 100]) await Deno.writeTextFile(join(dir, `x.${f}.png`), "x");
  await Deno.writeTextFile(join(dir, "notes_v2.txt"), "notes");
  await Deno.mkdir(join(dir, "renders"));
}

Deno.test("ferry ls collapses each sequence to one line with its frames, holes and empty frames; versions stay apart; other files and folders as they are", async () => {
  await withTempDir(async (dir) => {
    await makeRenders(dir);
    const run = await runCli(["ls", dir]);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.stdout.trim().split("\n"), [
      "sh010_comp_v002.####.exr  1001-1003  (3 frames, 6 B)",
      "sh010_comp_v003.####.exr  1001-1100  (98 frames, 94.7 KiB)  missing 1050-1051  empty 1003",
      "x.@.png  1-100  (3 frames, 3 B)  missing 2-9,11-99",
      "notes_v2.txt  (5 B)",
      "renders/",
    ]);
  });
});

Deno.test("ferry ls --json gives one event per sequence, file and folder", async () => {
  await withTempDir(async (dir) => {
    await makeRenders(dir);
    const run = await runCli(["ls", "--json", dir]);
    assertEquals(run.code, 0, run.stderr);
    const events = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const v003 = events.find((e) => e.pattern === "sh010_comp_v003.####.exr");
    assertEquals(
      [
        v003.frames,
        v003.count,
        v003.first,
        v003.last,
        v003.missing,
        v003.missing_count,
        v003.empty,
        v003.bytes,
      ],
      ["1001-1049,1052-1100", 98, 1001, 1100, "1050-1051", 2, "1003", 97000],
    );
    assertEquals(events.map((e) => e.event), ["sequence", "sequence", "sequence", "file", "dir"]);
  });
});

Deno.test("ferry ls PATTERN lists that sequence: the frames it names that are missing, in any token the grammar takes", async () => {
  await withTempDir(async (dir) => {
    await makeRenders(dir);
    for (const pattern of ["sh010_comp_v003.1001-1110#.exr", "sh010_comp_v003.[1001-1110].exr"]) {
      const run = await runCli(["ls", join(dir, pattern)]);
      assertEquals(run.code, 0, run.stderr);
      assertEquals(
        run.stdout.trim(),
        "sh010_comp_v003.####.exr  1001-1100  (98 frames, 94.7 KiB)  missing 1050-1051,1101-1110  empty 1003",
      );
    }
    const printf = await runCli(["ls", join(dir, "sh010_comp_v002.%04d.exr")]);
    assertEquals(printf.stdout.trim(), "sh010_comp_v002.####.exr  1001-1003  (3 frames, 6 B)");
  });
});

Deno.test("ferry ls says what is wrong with a pattern or a path, exit 2", async () => {
  await withTempDir(async (dir) => {
    const two = await runCli(["ls", join(dir, "a.####.####.exr")]);
    assertEquals(two.code, 2);
    assertMatch(two.stderr, /Invalid sequence pattern .*has 2 frame tokens/);
    const missing = await runCli(["ls", join(dir, "nope")]);
    assertEquals(missing.code, 2);
    assertMatch(missing.stderr, /Cannot list '.*nope': it does not exist/);
    const badSet = await runCli(["ls", join(dir, "a.[1-x].exr")]);
    assertEquals(badSet.code, 2);
    assertMatch(badSet.stderr, /Invalid frame set '1-x'/);
  });
});
