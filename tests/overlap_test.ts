import { join } from "node:path";
import { assertEquals, assertMatch, runCli, snapshot, withTempDir } from "./_helpers.ts";

/** Runs `ferry apply` with a JSON batch and asserts it is refused with exit 2 and the tree untouched. */
async function assertRefused(
  dir: string,
  batch: Record<string, unknown>,
  flags: string[],
  message: RegExp,
): Promise<void> {
  const before = await snapshot(dir);
  for (const extra of [[], ["--dry-run"]]) {
    const run = await runCli(["apply", ...flags, ...extra], { stdin: JSON.stringify(batch) });
    assertEquals(run.code, 2, `${JSON.stringify(batch)} ${extra}: ${run.stdout}${run.stderr}`);
    assertMatch(run.stderr, message);
    assertEquals(await snapshot(dir), before, "nothing is touched");
  }
}

async function makeVersions(dir: string): Promise<void> {
  for (const v of ["v1", "v2"]) {
    await Deno.mkdir(join(dir, "e", v), { recursive: true });
    await Deno.writeTextFile(join(dir, "e", v, "frame.exr"), `pixels of ${v}`);
  }
}

Deno.test("a batch whose mappings read what others write is refused before anything is touched", async () => {
  await withTempDir(async (dir) => {
    await makeVersions(dir);
    const e = (p: string) => join(dir, "e", p);
    // One mapping's destination is the next one's source (the v2 frames would be lost).
    for (const operation_type of ["move", "copy"]) {
      await assertRefused(
        dir,
        {
          mappings: [{ src: e("v1"), dst: e("v2") }, { src: e("v2"), dst: e("v3") }],
          operation_type,
        },
        ["--overwrite"],
        /Mapping 0: destination '.*\/e\/v2' is the source of mapping 1 \('.*\/e\/v2'\): ferry would write what it reads/,
      );
      // A swap.
      await assertRefused(
        dir,
        {
          mappings: [{ src: e("v1"), dst: e("v2") }, { src: e("v2"), dst: e("v1") }],
          operation_type,
        },
        ["--overwrite"],
        /Mapping 0: destination '.*\/e\/v2' is the source of mapping 1/,
      );
    }
    // A destination inside another mapping's source.
    await assertRefused(
      dir,
      { mappings: [{ src: e("v1"), dst: join(dir, "out") }, { src: e("v2"), dst: e("v1/v2") }] },
      [],
      /Mapping 1: destination '.*\/e\/v1\/v2' is inside the source of mapping 0/,
    );
    // A source inside its own destination: the copy would write into the tree it reads.
    await assertRefused(
      dir,
      { mappings: [{ src: e("v1"), dst: join(dir, "e") }] },
      ["--overwrite"],
      /Mapping 0: source '.*\/e\/v1' is inside its own destination \('.*\/e'\)/,
    );
    // A source inside another mapping's destination.
    await Deno.mkdir(join(dir, "x"));
    await assertRefused(
      dir,
      {
        mappings: [{ src: e("v1"), dst: join(dir, "out") }, {
          src: join(dir, "x"),
          dst: join(dir, "e"),
        }],
      },
      ["--overwrite"],
      /Mapping 0: source '.*\/e\/v1' is inside the destination of mapping 1/,
    );
  });
});

Deno.test("two names of one place are one place: symlinked parents and hard links", async () => {
  await withTempDir(async (dir) => {
    await makeVersions(dir);
    await Deno.mkdir(join(dir, "show"));
    await Deno.symlink(join(dir, "show"), join(dir, "alias"));
    // Two destinations that are one path through a symbolic link.
    await assertRefused(
      dir,
      {
        mappings: [
          { src: join(dir, "e", "v1", "frame.exr"), dst: join(dir, "show", "frame.exr") },
          { src: join(dir, "e", "v2", "frame.exr"), dst: join(dir, "alias", "frame.exr") },
        ],
      },
      [],
      /Mapping 1: destination '.*\/alias\/frame\.exr' is also the destination of mapping 0 \(as '.*\/show\/frame\.exr', through a symbolic link\)/,
    );
    // A hard link moved onto the file it links to would lose both names.
    await Deno.link(join(dir, "e", "v1", "frame.exr"), join(dir, "e", "v1", "frame_hard.exr"));
    await assertRefused(
      dir,
      {
        mappings: [{
          src: join(dir, "e", "v1", "frame_hard.exr"),
          dst: join(dir, "e", "v1", "frame.exr"),
        }],
        operation_type: "move",
      },
      ["--overwrite"],
      /Mapping 0: destination '.*\/frame\.exr' is the same file as its source \('.*\/frame_hard\.exr', hard links to one file\)/,
    );
    // Through the CLI's cp form too.
    const before = await snapshot(dir);
    const run = await runCli([
      "move",
      "--overwrite",
      join(dir, "e", "v1", "frame_hard.exr"),
      join(dir, "e", "v1", "frame.exr"),
    ]);
    assertEquals(run.code, 2, run.stderr);
    assertEquals(await snapshot(dir), before);
  });
});
