import { join } from "node:path";
import { selectSequence } from "../lib/sequence/selection.ts";
import { SequenceTally } from "../cli/sequence_tally.ts";
import { progressLine } from "../cli/render.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  listTree,
  runCli,
  sha256,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** sh010.1001–1050.exr with 1020–1021 missing and 1030 empty, each frame different bytes. */
async function makePlates(dir: string): Promise<string> {
  const plates = join(dir, "plates");
  await Deno.mkdir(plates);
  for (let f = 1001; f <= 1050; f++) {
    if (f === 1020 || f === 1021) continue;
    const path = join(plates, `sh010.${f}.exr`);
    if (f === 1030) await Deno.writeFile(path, new Uint8Array());
    else await writeRandomFile(path, 10_000 + f);
  }
  await Deno.writeTextFile(join(plates, "notes.txt"), "not a frame");
  return plates;
}

Deno.test("ferry copy 'sh010.####.exr' --frames --renumber copies the selected frames renumbered, says the holes first and the sequence last", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const shuttle = join(dir, "shuttle");
    const run = await runCli([
      "copy",
      join(plates, "sh010.####.exr"),
      `${shuttle}/`,
      "--frames",
      "1001-1025",
      "--renumber",
      "1",
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertMatch(
      run.stderr,
      /sequence .*plates\/sh010\.####\.exr 1001-1025: 23 of 25 frames; missing 1020-1021; -> .*shuttle\/sh010\.####\.exr/,
    );
    assertMatch(run.stderr, /sh010\.####\.exr 1001-1025: 23\/23 frames copied, missing 1020-1021/);
    const names = await listTree(shuttle);
    assertEquals(names.length, 23);
    assertEquals(names[0], "sh010.0001.exr");
    assertEquals(names.at(-1), "sh010.0025.exr");
    assertEquals(names.includes("sh010.0020.exr"), false);
    for (const f of [1, 19, 22, 25]) {
      assertEquals(
        await sha256(join(shuttle, `sh010.${String(f).padStart(4, "0")}.exr`)),
        await sha256(join(plates, `sh010.${1000 + f}.exr`)),
      );
    }
  });
});

Deno.test("renumbering round-trips: --offset there and back, and a destination pattern renames with another padding", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const there = join(dir, "there");
    const out = await runCli([
      "copy",
      join(plates, "sh010.%04d.exr"),
      `${there}/`,
      "--offset",
      "-1000",
    ]);
    assertEquals(out.code, 0, out.stderr);
    const back = join(dir, "back");
    const again = await runCli([
      "copy",
      join(there, "sh010.####.exr"),
      `${back}/`,
      "--offset",
      "1000",
    ]);
    assertEquals(again.code, 0, again.stderr);
    for (const name of await listTree(plates)) {
      if (name === "notes.txt") continue;
      assertEquals(await sha256(join(back, name)), await sha256(join(plates, name)), name);
    }
    const renamed = await runCli([
      "copy",
      join(plates, "sh010.####.exr"),
      join(dir, "v2", "sh010_v002.$F6.exr"),
      "--frames",
      "1001-1003",
    ]);
    assertEquals(renamed.code, 0, renamed.stderr);
    assertEquals(await listTree(join(dir, "v2")), [
      "sh010_v002.001001.exr",
      "sh010_v002.001002.exr",
      "sh010_v002.001003.exr",
    ]);
    const rename = await runCli([
      "copy",
      join(plates, "sh010.1001.exr"),
      "--sequence",
      `${join(dir, "r")}/`,
      "--rename",
      "plate_%03d.exr",
      "--renumber",
      "1",
      "--frames",
      "1001-1002",
    ]);
    assertEquals(rename.code, 0, rename.stderr);
    assertEquals(await listTree(join(dir, "r")), ["plate_001.exr", "plate_002.exr"]);
  });
});

Deno.test("--require-complete refuses a sequence with holes or empty frames (exit 2, nothing written); --allow-empty-frames lets empty ones through", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const out = join(dir, "out");
    const holes = await runCli([
      "copy",
      join(plates, "sh010.####.exr"),
      `${out}/`,
      "--require-complete",
    ]);
    assertEquals(holes.code, 2);
    assertMatch(
      holes.stderr,
      /--require-complete: .*sh010\.####\.exr 1020-1021,1030 is missing or empty; nothing was copied/,
    );
    assertEquals(await listTree(out), []);
    const empty = await runCli([
      "copy",
      join(plates, "sh010.####.exr"),
      `${out}/`,
      "--frames",
      "1022-1040",
      "--require-complete",
    ]);
    assertEquals(empty.code, 2);
    assertMatch(empty.stderr, /1030 is missing or empty/);
    const allowed = await runCli([
      "copy",
      join(plates, "sh010.####.exr"),
      `${out}/`,
      "--frames",
      "1022-1040",
      "--require-complete",
      "--allow-empty-frames",
    ]);
    assertEquals(allowed.code, 0, allowed.stderr);
    assertEquals((await listTree(out)).length, 19);
  });
});

Deno.test("a sequence's failed frames are said in one line per reason, as frame ranges", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const out = join(dir, "out");
    // Other files already where three frames go: those frames fail (left alone), the others are copied.
    await Deno.mkdir(out);
    for (const f of [1005, 1007, 1008]) {
      await Deno.writeTextFile(join(out, `sh010.${f}.exr`), "older");
    }
    const run = await runCli([
      "copy",
      join(plates, "sh010.####.exr"),
      `${out}/`,
      "--frames",
      "1001-1010",
    ]);
    assertEquals(run.code, 1, run.stderr);
    assertMatch(run.stderr, /failed: .*sh010\.####\.exr 1005,1007-1008 \(the destination differs/);
    assertMatch(run.stderr, /sh010\.####\.exr 1001-1010: 7\/10 frames copied/);
    assertEquals(run.stderr.match(/failed:/g)?.length, 1, run.stderr);
  });
});

Deno.test("a JSON batch takes a sequence pattern with frames and renumber; selectSequence() is the same in the library", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const batch = JSON.stringify({
      mappings: [{
        src: join(plates, "sh010.####.exr"),
        dst: join(dir, "out", "sh010_v2.####.exr"),
        frames: "1001-1010",
        renumber: 101,
      }],
      operation_type: "copy",
    });
    const run = await runCli(["apply", "-"], { stdin: batch });
    assertEquals(run.code, 0, run.stderr);
    assertEquals((await listTree(join(dir, "out")))[0], "sh010_v2.0101.exr");
    assertEquals((await listTree(join(dir, "out"))).length, 10);
    const bad = await runCli(["apply", "-"], {
      stdin: JSON.stringify({
        mappings: [{ src: join(plates, "notes.txt"), dst: dir, frames: "1-2" }],
      }),
    });
    assertEquals(bad.code, 2);
    assertMatch(bad.stderr, /Mapping 0: 'frames' goes with a frame sequence 'src'/);
    const picked = await selectSequence(join(plates, "sh010.####.exr"), {
      folder: join(dir, "lib"),
    }, {
      frames: "1018-1031",
    });
    assertEquals([picked.selected.toString(), picked.missing.toString(), picked.empty.toString()], [
      "1018-1019,1022-1031",
      "1020-1021",
      "1030",
    ]);
    assert(picked.mappings.every((m) => m.dst.startsWith(join(dir, "lib"))));
  });
});

Deno.test("bad sequence input says what is wrong and touches nothing: no frames, --frames without a pattern, --renumber with --offset", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const out = join(dir, "out");
    const cases: [string[], RegExp][] = [
      [
        [join(plates, "sh010.####.exr"), `${out}/`, "--frames", "2001-2010"],
        /no frame of 2001-2010 is there \(there are 1001-1019,1022-1050\)/,
      ],
      [
        [join(plates, "notes.txt"), `${out}/`, "--frames", "1-2"],
        /--frames goes with a frame sequence source/,
      ],
      [
        [join(plates, "sh010.####.exr"), `${out}/`, "--renumber", "1", "--offset", "2"],
        /--renumber and --offset exclude each other/,
      ],
      [[join(plates, "sh010.####.exr"), `${out}/`, "--frames", "1-x"], /Invalid frame set '1-x'/],
      [[join(plates, "notes.txt"), `${out}/`, "--sequence"], /--sequence needs a frame's path/],
      [
        [plates, join(out, "x.####.exr")],
        /is a frame sequence pattern: it goes with a sequence source/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(["copy", ...args]);
      assertEquals(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assertMatch(run.stderr, message);
    }
    assertEquals(await listTree(out), []);
  });
});

Deno.test("ferry verify says the frames missing from each sequence of a delivery", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const delivery = join(dir, "delivery");
    const copied = await runCli(["copy", "-T", plates, delivery, "--mhl"]);
    assertEquals(copied.code, 0, copied.stderr);
    const run = await runCli(["verify", "--no-record", delivery]);
    assertEquals(run.code, 0, run.stderr);
    assertMatch(run.stderr, /sequence sh010\.####\.exr 1001-1050: 48 frames; missing 1020-1021/);
  });
});

Deno.test("a copy of folders says the frames missing from the sequences it delivered (and --json has them)", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const run = await runCli(["copy", "-T", plates, join(dir, "out"), "--json"]);
    assertEquals(run.code, 0, run.stderr);
    assertMatch(
      run.stderr,
      /sequence .*out\/sh010\.####\.exr 1001-1050: 48 frames; missing 1020-1021/,
    );
    const summary = run.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((e) =>
      e.event === "summary"
    );
    assertEquals(summary.sequence_gaps[0].missing, "1020-1021");
    // --quiet leaves the gaps out of stderr, not out of --json or the log.
    const log = join(dir, "copy.log");
    const quietly = ["-T", "--quiet", "--json", "--log", log];
    const quiet = await runCli(["copy", ...quietly, plates, join(dir, "quiet")]);
    assertEquals(quiet.code, 0, quiet.stderr);
    assertEquals(quiet.stderr, "");
    for (const text of [quiet.stdout, await Deno.readTextFile(log)]) {
      const events = text.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(events.find((e) => e.event === "summary").sequence_gaps[0].missing, "1020-1021");
    }
  });
});

Deno.test("while a sequence copies, the progress line names it with its frames done", async () => {
  await withTempDir(async (dir) => {
    const plates = await makePlates(dir);
    const picked = await selectSequence(join(plates, "sh010.####.exr"), {
      folder: join(dir, "out"),
    }, {
      frames: "1001-1010",
    });
    const tally = new SequenceTally([picked]);
    const [first, second] = picked.mappings;
    tally.file({ src: first!.src, dst: first!.dst, bytes: 1, status: "copied" });
    const line = progressLine(
      {
        bytesDone: 1,
        bytesTotal: 10,
        filesDone: 1,
        filesTotal: 10,
        bytesPerSecond: 1,
        etaMs: 1000,
        elapsedMs: 2000,
        inFlight: [second!.src, picked.mappings[2]!.src],
        planning: false,
      },
      200,
      (path) => tally.label(path),
    );
    assertMatch(line, /sh010\.####\.exr 1001-1010: 1\/10 frames$/);
  });
});
