import { join } from "node:path";
import { type FileResult, summarize } from "../mod.ts";
import { copyAll } from "./_outcomes.ts";
import { summaryLines } from "../cli/render.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  makeReadOnly,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

Deno.test("bad option values are named by their flag or JSON key, never by an internal name", async () => {
  const cases: [string[], string | undefined, RegExp][] = [
    [
      ["copy", "--workers", "-1", "a", "b"],
      undefined,
      /Invalid value for --workers: '-1' \(expected a whole number from 1 to 256\)/,
    ],
    [
      ["copy", "-w", "-1", "a", "b"],
      undefined,
      /Invalid value for --workers: '-1' \(expected a whole number from 1 to 256\)/,
    ],
    [["copy", "--workers", "257", "a", "b"], undefined, /Invalid value for --workers: '257'/],
    [
      ["copy", "--buffer-size", "257MiB", "a", "b"],
      undefined,
      /Invalid value for --buffer-size: '257MiB' \(expected a size from 4\.0 KiB to 256 MiB\)/,
    ],
    [
      ["apply", "-"],
      `{"mappings":[{"src":"/a","dst":"/b"}],"max_workers":257}`,
      /Invalid value for 'max_workers': 257 \(expected a whole number from 1 to 256\)/,
    ],
    [
      ["apply", "-"],
      `{"mappings":[{"src":"/a","dst":"/b"}],"file_workers":5000}`,
      /Invalid value for 'file_workers': 5000 \(expected a whole number from 1 to 1024\)/,
    ],
    [
      ["copy", "--against", "x", "a", "b"],
      undefined,
      /--against is not an option of 'ferry copy' \(it goes with 'ferry verify'\)/,
    ],
    [["verify", "--mhl", "x"], undefined, /--mhl is not an option of 'ferry verify'/],
  ];
  for (const [args, stdin, message] of cases) {
    const run = await runCli(args, stdin === undefined ? {} : { stdin });
    assertEquals(run.code, 2, args.join(" "));
    assertMatch(run.stderr, message);
    assert(!/maxWorkers|bufferBytes|fileWorkers|ambiguous/.test(run.stderr), run.stderr);
  }
});

Deno.test("every failure says which side it was, and names the folder that could not be made", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.exr"), "a");
    // A source ferry may not read.
    const denied = await runCli(["copy", join(dir, "a.exr"), join(dir, "b.exr")], {
      flags: [`--allow-read=${join(dir, "b.exr")}`, `--allow-write=${dir}`],
    });
    assertEquals(denied.code, 2);
    assertMatch(
      denied.stderr,
      /source '.*a\.exr' cannot be read: ferry was not granted access to it/,
    );
    // A destination folder that vanishes during the copy.
    const src = join(dir, "src");
    await Deno.mkdir(src);
    for (let i = 0; i < 30; i++) await writeRandomFile(join(src, `f${i}.exr`), 100_000);
    let done = 0;
    const result = await copyAll(src, join(dir, "out"), {
      smallFileWorkers: 1,
      onFile: () => {
        if (++done === 3) Deno.removeSync(join(dir, "out"), { recursive: true });
      },
    });
    const reasons = new Set(result.files.filter((f) => f.status === "failed").map((f) => f.reason));
    assertEquals([...reasons], ["cannot write the destination: no such file or directory"]);
    // A read-only folder: the message names the level that failed.
    await Deno.mkdir(join(src, "a", "b", "c"), { recursive: true });
    await Deno.writeTextFile(join(src, "a", "b", "c", "deep.exr"), "deep");
    const ro = join(dir, "ro");
    await Deno.mkdir(ro);
    const undo = await makeReadOnly(ro);
    assert(undo !== null, "chattr +i (as root) or mode 0555 is needed for this test");
    try {
      const run = await runCli(["apply"], {
        stdin: JSON.stringify({ mappings: [{ src: join(src, "a"), dst: join(ro, "a") }] }),
      });
      assertEquals(run.code, 1);
      assertMatch(
        run.stderr,
        /cannot create the destination folder '.*\/ro\/a': (operation not permitted|permission denied)/,
      );
      assert(
        !/cannot create the destination folder '.*\/ro\/a\/b\/c'/.test(run.stderr),
        run.stderr,
      );
    } finally {
      await undo();
    }
  });
});

Deno.test("a cancelled file gets its own event, and a cancelled move says 'not moved'", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    for (let i = 0; i < 20; i++) await writeRandomFile(join(src, `f${i}.exr`), 50_000);
    const controller = new AbortController();
    const events: FileResult[] = [];
    await copyAll(src, join(dir, "out"), {
      smallFileWorkers: 1,
      signal: controller.signal,
      onFile: (file) => {
        events.push(file);
        if (events.length === 4) controller.abort();
      },
    }).catch(() => {});
    assertEquals(events.length, 20, "one event per file");
    assert(events.some((e) => e.status === "cancelled"));
    const cancelled = events.filter((e) => e.status === "cancelled");
    const lines = summaryLines({
      batchId: "b",
      operation: "move",
      failures: [],
      totals: summarize(cancelled),
      elapsedMs: 10,
      bytesPerSecond: 0,
      ok: false,
    }, true);
    assertMatch(lines[0]!, /not moved \(cancelled\)/);
  });
});

Deno.test("every failed file carries a failure code in the result and in --json", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(join(src, "dir_here"), { recursive: true });
    await Deno.writeTextFile(join(src, "differs.exr"), "new");
    await Deno.writeTextFile(join(src, "fine.exr"), "fine");
    await Deno.writeTextFile(join(src, "dir_here", "x"), "x");
    const fifo = await new Deno.Command("mkfifo", { args: [join(src, "pipe")] }).output();
    assert(fifo.success, "mkfifo");
    const out = join(dir, "out");
    await Deno.mkdir(join(out, "is_dir.exr"), { recursive: true });
    await Deno.writeTextFile(join(src, "is_dir.exr"), "file");
    await Deno.writeTextFile(join(out, "differs.exr"), "old!");
    const result = await copyAll(src, out);
    const codes = Object.fromEntries(
      result.files.filter((f) => f.status === "failed").map((f) => [
        f.src.slice(src.length + 1),
        f.error?.code,
      ]),
    );
    assertEquals(codes, {
      "differs.exr": "differs",
      "is_dir.exr": "is-directory",
      pipe: "not-regular",
    });
    const run = await runCli(["copy", "--json", src, join(dir, "out2")]);
    const events = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const failed = events.filter((e) => e.event === "file" && e.status === "failed");
    assertEquals(failed.map((e) => e.code), ["not-regular"]);
    assertEquals(events.at(-1).failures.map((f: { code: string }) => f.code), ["not-regular"]);
  });
});
