import { dirname, join } from "node:path";
import { DEFAULTS } from "../mod.ts";
import { MIB } from "../lib/size.ts";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";
import {
  asNobody,
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertSameFile,
  assertSameTree,
  IS_ROOT,
  listTree,
  ROOT,
  runCli,
  runCliInTerminal,
  snapshot,
  straceWorks,
  testbed,
  traceCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

async function makeShot(root: string): Promise<void> {
  await Deno.mkdir(join(root, "plate"), { recursive: true });
  for (let i = 1; i <= 12; i++) {
    await writeRandomFile(join(root, "plate", `sh010.${1000 + i}.exr`), 3000 * i);
  }
  await writeRandomFile(join(root, "sh010 v001.mov"), 15 * 1024 * 1024);
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("ferry copy copies a file and a tree byte for byte, into an existing directory like cp", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const file = await runCli([
      "copy",
      join(dir, "sh010", "sh010 v001.mov"),
      join(dir, "movie.mov"),
    ]);
    assertEquals(file.code, 0, file.stderr);
    await assertSameFile(join(dir, "movie.mov"), join(dir, "sh010", "sh010 v001.mov"));
    assertMatch(file.stderr, /^ferry: copied 1 of 1 file \(15\.0 MiB\) in .*\/s\n$/);

    const tree = await runCli(["copy", join(dir, "sh010"), join(dir, "new name")]);
    assertEquals(tree.code, 0, tree.stderr);
    await assertSameTree(join(dir, "new name"), join(dir, "sh010"));

    await Deno.mkdir(join(dir, "delivery"));
    const into = await runCli([
      "copy",
      "-w",
      "2",
      "-j",
      "2",
      join(dir, "sh010"),
      join(dir, "movie.mov"),
      join(dir, "delivery"),
    ]);
    assertEquals(into.code, 0, into.stderr);
    assertEquals(
      await listTree(join(dir, "delivery")).then((l) => l.filter((p) => !p.includes("/"))),
      [
        "movie.mov",
        "sh010",
      ],
    );
    await assertSameTree(join(dir, "delivery", "sh010"), join(dir, "sh010"));
  });
});

Deno.test("ferry move moves a tree and leaves no source", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const expected = await snapshot(join(dir, "sh010"));
    const run = await runCli(["move", join(dir, "sh010"), join(dir, "moved")]);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(await snapshot(join(dir, "moved")), expected);
    assertEquals((await listTree(dir)).includes("sh010"), false);
  });
});

Deno.test("ferry apply runs the original JSON from stdin and from a file", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const batch = {
      mappings: [
        { src: join(dir, "sh010", "plate"), dst: join(dir, "out1", "plate") },
        { src: join(dir, "sh010", "sh010 v001.mov"), dst: join(dir, "out1", "edit.mov") },
      ],
      operation_type: "copy",
      max_workers: 8,
      file_workers: 4,
      batch_id: "delivery-0042",
    };
    const fromStdin = await runCli(["apply", "--json"], { stdin: JSON.stringify(batch) });
    assertEquals(fromStdin.code, 0, fromStdin.stderr);
    await assertSameTree(join(dir, "out1", "plate"), join(dir, "sh010", "plate"));
    await assertSameFile(join(dir, "out1", "edit.mov"), join(dir, "sh010", "sh010 v001.mov"));
    const events = jsonLines(fromStdin.stdout);
    assertEquals(events[0]?.batch_id, "delivery-0042");

    const second = { ...batch, mappings: [{ src: join(dir, "sh010"), dst: join(dir, "out2") }] };
    await Deno.writeTextFile(join(dir, "batch.json"), JSON.stringify(second));
    const fromFile = await runCli(["apply", join(dir, "batch.json"), "--workers", "2"]);
    assertEquals(fromFile.code, 0, fromFile.stderr);
    await assertSameTree(join(dir, "out2"), join(dir, "sh010"));
  });
});

Deno.test("ferry apply rejects every malformed batch with exit 2 and touches nothing", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const src = join(dir, "sh010");
    const ok = { src, dst: join(dir, "out") };
    const cases: [unknown, RegExp][] = [
      ["{not json", /Cannot read the batch on stdin: not valid JSON/],
      [[ok], /expected a JSON object/],
      [{ mappings: [ok], extra: 1 }, /unknown key 'extra'/],
      [{ mappings: [] }, /'mappings' is empty/],
      [{ mappings: "a" }, /'mappings' must be an array/],
      [
        { mappings: [ok], operation_type: "sync" },
        /Invalid value for 'operation_type': "sync" \(expected copy, move\)/,
      ],
      [
        { mappings: [ok], max_workers: "8" },
        /Invalid value for 'max_workers': "8" \(expected a whole number from 1 to 256\)/,
      ],
      [
        { mappings: [ok], file_workers: 0 },
        /Invalid value for 'file_workers': 0 \(expected a whole number from 1 to 1024\)/,
      ],
      [
        { mappings: [ok], batch_id: 7 },
        /Invalid value for 'batch_id': expected a non-empty string/,
      ],
      [{ mappings: [ok, { src: 5, dst: "x" }] }, /Mapping 1: 'src' must be a non-empty path/],
      [{ mappings: [{ src, dst: join(dir, "o"), mode: 1 }] }, /Mapping 0: unknown key 'mode'/],
      [
        { mappings: [ok, { src: join(src, "plate"), dst: join(dir, "out") }] },
        /Mapping 1: destination '.*out' is also the destination of mapping 0/,
      ],
      [
        {
          mappings: [ok, {
            src: join(src, "sh010 v001.mov"),
            dst: join(dir, "out", "sh010 v001.mov"),
          }],
        },
        /Mapping 1 \('.*sh010 v001.mov'\): destination '.*out\/sh010 v001.mov' is also written by mapping 0/,
      ],
      [
        { mappings: [ok, { src: join(dir, "nope"), dst: join(dir, "x") }] },
        /Mapping 1: source '.*nope' does not exist/,
      ],
      [
        { mappings: [{ src, dst: join(src, "plate", "inside") }] },
        /Mapping 0: destination '.*inside' is inside the source directory/,
      ],
    ];
    const before = await snapshot(dir);
    for (const [input, pattern] of cases) {
      const text = typeof input === "string" ? input : JSON.stringify(input);
      const run = await runCli(["apply"], { stdin: text });
      assertEquals(run.code, 2, `${text}\n${run.stderr}`);
      assertMatch(run.stderr, pattern);
      assertMatch(run.stderr, /^ferry: error: /);
    }
    assertEquals(await snapshot(dir), before, "nothing was written");
    const missing = await runCli(["apply", join(dir, "no-batch.json")]);
    assertEquals(missing.code, 2);
    assertMatch(
      missing.stderr,
      /Cannot read batch file '.*no-batch.json': no such file or directory/,
    );
  });
});

Deno.test("ferry rejects usage errors with exit 2 and a hint", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a"), 10);
    await writeRandomFile(join(dir, "b"), 10);
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /Unknown command 'frobnicate'/],
      [["help", "frobnicate"], /Unknown command 'frobnicate'/],
      [["copy", join(dir, "a")], /Missing destination after/],
      [
        ["copy", "--workers", "0", join(dir, "a"), join(dir, "c")],
        /Invalid value for --workers: '0'/,
      ],
      [
        ["copy", "--cutoff", "12 parsecs", join(dir, "a"), join(dir, "c")],
        /Invalid value for --cutoff: '12 parsecs' is not a size/,
      ],
      [["copy", "--bogus", join(dir, "a"), join(dir, "c")], /Unknown option '--bogus'/],
      [
        ["copy", "--overwrite", "--skip-existing", join(dir, "a"), join(dir, "c")],
        /exclude each other/,
      ],
      [
        ["copy", "--update", "--overwrite", join(dir, "a"), join(dir, "c")],
        /--overwrite, --skip-existing, --update and --checksum exclude each other/,
      ],
      [
        ["copy", join(dir, "a"), join(dir, "b"), join(dir, "c")],
        /Target '.*c' is not an existing directory/,
      ],
      [["copy", join(dir, "a"), join(dir, "a")], /same path/],
    ];
    for (const [args, pattern] of cases) {
      const run = await runCli(args);
      assertEquals(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assertMatch(run.stderr, pattern);
    }
    assertEquals(await listTree(dir), ["a", "b"]);
  });
});

Deno.test("ferry --dry-run prints the plan and writes nothing", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const run = await runCli([
      "copy",
      "--dry-run",
      "--cutoff",
      "10MiB",
      join(dir, "sh010"),
      join(dir, "out"),
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertMatch(
      run.stdout,
      /^copy +.*sh010 v001\.mov -> .*out\/sh010 v001\.mov {2}15\.0 MiB in \d+ chunks$/m,
    );
    assertEquals(run.stdout.trim().split("\n").length, 13);
    assertMatch(run.stderr, /dry run: 13 files, .* nothing was written/);
    assertEquals(await listTree(join(dir, "out")), []);
  });
});

Deno.test("ferry --json prints one parseable event per line whose totals match the copy", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    await Deno.mkdir(join(dir, "out", "sh010", "plate"), { recursive: true });
    await Deno.writeTextFile(join(dir, "out", "sh010", "plate", "sh010.1001.exr"), "already there");
    const run = await runCli([
      "copy",
      "--json",
      "--batch-id",
      "b-7",
      join(dir, "sh010"),
      join(dir, "out"),
    ]);
    assertEquals(run.code, 1, "one file exists: exit 1");
    const events = jsonLines(run.stdout);
    const start = events[0]!;
    assertEquals(start.event, "start");
    assertEquals(start.batch_id, "b-7");
    assertEquals(start.files, 13);
    const files = events.filter((e) => e.event === "file");
    assertEquals(files.length, 13);
    const failed = files.filter((e) => e.status === "failed");
    assertEquals(failed.length, 1);
    assertMatch(
      String(failed[0]!.error),
      /sh010\.1001\.exr': the destination differs from the source and was left alone/,
    );
    assertEquals(failed[0]!.code, "differs");
    const summary = events[events.length - 1]!;
    assertEquals(summary.event, "summary");
    assertEquals(summary.exit_code, 1);
    assertEquals(summary.files_done, 12);
    assertEquals(summary.files_failed, 1);
    let bytes = 0;
    for (const event of files) {
      if (event.status !== "copied") continue;
      bytes += (await Deno.stat(String(event.dst))).size;
      await assertSameFile(String(event.dst), String(event.src));
    }
    assertEquals(summary.bytes_done, bytes);
    assertMatch(
      run.stderr,
      /1 failed\n {2}1 destination file differs from its source and was left alone \(the first: '.*sh010\.1001\.exr'\): --overwrite replaces them/,
    );
  });
});

Deno.test("ferry reports a source it may not read (Deno's --deny-read) and copies the rest, exit 1", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const secret = join(dir, "sh010", "plate", "sh010.1005.exr");
    const run = await runCli(["copy", join(dir, "sh010"), join(dir, "out")], {
      flags: ["--allow-read", "--allow-write", `--deny-read=${secret}`],
    });
    assertEquals(run.code, 1, run.stderr);
    assertMatch(
      run.stderr,
      /failed: Cannot copy '.*sh010\.1005\.exr' to '.*out\/plate\/sh010\.1005\.exr': ferry was not granted access/,
    );
    assertEquals((await listTree(join(dir, "out"))).length, 13, "12 files and the plate directory");
    await assertNoTemps(join(dir, "out"));
  });
});

Deno.test("ferry works under the narrowest permissions documented in docs/cli.md", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const src = join(dir, "sh010");
    const dst = join(dir, "delivery");
    const run = await runCli(["copy", src, dst], {
      flags: [`--allow-read=${ROOT},${src},${dst}`, `--allow-write=${dst}`],
    });
    assertEquals(run.code, 0, run.stderr);
    await assertSameTree(dst, src);
  });
});

Deno.test("ferry --version matches deno.json and --help explains the exit codes", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const version = await runCli(["--version"]);
  assertEquals(version.stdout, `ferry ${config.version}\n`);
  const help = await runCli(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /Exit codes: 0 all done · 1 some files failed · 2 usage or input error/);
  // The defaults it shows are the engine's.
  assertMatch(
    help.stdout,
    new RegExp(`--cutoff SIZE .*\\(default ${DEFAULTS.cutoffBytes / MIB}MiB\\)`),
  );
  assertMatch(help.stdout, new RegExp(`--workers N .*\\(default ${DEFAULTS.maxWorkers}\\)`));
});

/** Starts a copy, waits until it is copying a large file, sends SIGINT `times` times. */
async function interrupt(args: string[], times: number): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      join(ROOT, "cli.ts"),
      "--json",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  // Wait until movie bytes are flowing: a progress event past the first MiB.
  while (!/"event":"progress","bytes_done":\d{7,}/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  for (let i = 0; i < times; i++) {
    try {
      child.kill("SIGINT");
    } catch (error) {
      // The first signal may already have ended the run; that is fine.
      if (!(error instanceof TypeError) || i === 0) throw error;
    }
  }
  while (!(await reader.read()).done) { /* drain */ }
  const status = await child.status;
  return { code: status.code, stderr: await stderr };
}

for (const times of [1, 2]) {
  Deno.test(`SIGINT ${times === 1 ? "once" : "twice"} during a large copy exits 130 and leaves no temporary or partial file`, async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, "src");
      await Deno.mkdir(src);
      for (let i = 0; i < 4; i++) {
        await writeRandomFile(join(src, `head${i}.exr`), 1000);
        const big = await Deno.open(join(src, `movie${i}.mov`), { write: true, create: true });
        await big.truncate(1024 * 1024 * 1024); // sparse: cheap to make, slow enough to copy
        big.close();
      }
      const dst = join(dir, "dst");
      const run = await interrupt(["copy", "-w", "2", "-j", "1", src, dst], times);
      assertEquals(run.code, 130, run.stderr);
      assertMatch(run.stderr, /cancelling: removing temporary files/);
      assertMatch(run.stderr, /ferry: cancelled: copied \d+ of 8 files/);
      await assertNoTemps(dst);
      for (const name of await listTree(dst)) {
        await assertSameFile(join(dst, name), join(src, name));
      }
      assert(
        !(await listTree(dst)).some((name) => name.startsWith("movie")),
        "no movie was finished",
      );
    });
  });
}

Deno.test("an unreadable source (mode 000) fails that file with path and cause, the rest is copied, exit 1", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const prefix = await asNobody(dir);
    assert(prefix !== null, "setpriv is needed to drop root privileges for this test");
    await Deno.chmod(join(dir, "sh010", "plate", "sh010.1003.exr"), 0o000);
    await Deno.chmod(join(dir, "sh010", "sh010 v001.mov"), 0o000);
    const run = await runCli(["copy", join(dir, "sh010"), join(dir, "out")], { prefix });
    assertEquals(run.code, 1, run.stderr);
    assertMatch(
      run.stderr,
      /failed: Cannot copy '.*sh010\/plate\/sh010\.1003\.exr' to '.*out\/plate\/sh010\.1003\.exr': cannot read the source: permission denied/,
    );
    assertMatch(
      run.stderr,
      /failed: Cannot copy '.*sh010 v001\.mov' to '.*out\/sh010 v001\.mov': cannot read the source: permission denied/,
    );
    assertMatch(run.stderr, /copied 11 of 13 files.*2 failed/);
    const left = await listTree(join(dir, "out"));
    assertEquals(left.length, 12, "11 files and the plate directory");
    await assertNoTemps(join(dir, "out"));
  });
});

const straceMissing = !(await straceWorks());
if (straceMissing) {
  console.warn("SKIPPED open-count and fsync tests: strace is not installed or cannot trace here");
}

/** What a CLI run on the testbed's share is granted (the installed command's file grants). */
const SHARE_FLAGS = ["--allow-read", "--allow-write", "--allow-sys=statfs", "--allow-ffi"];

/**
 * Runs `fn` with a new folder on the testbed's share, removed after; prints
 * why and returns where the bed cannot come up.
 */
async function onTestbedShare(what: string, fn: (folder: string) => Promise<void>): Promise<void> {
  const bed = await testbed();
  if (typeof bed === "string") {
    console.warn(`SKIPPED ${what} on a share: ${bed}`);
    return;
  }
  const folder = join(bed.net, `ferry-test-${crypto.randomUUID()}`);
  await Deno.mkdir(folder);
  try {
    await fn(folder);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

/** Asserts that a traced call was made before a folder's lease file was opened. */
function assertBeforeLease(lines: readonly string[], call: string | undefined, what: string): void {
  const lease = lines.find((l) => l.includes("openat(") && /\.ferry-run\.[0-9a-f]+\.lease/.test(l));
  assert(call !== undefined && lease !== undefined, `${what} and a lease`);
  assert(parseFloat(call) < parseFloat(lease), `${call}\ncame after\n${lease}`);
}

// Every open of a file on a share costs a round trip, and on the testbed's
// FUSE share it drops the cached pages of the whole file: a worker keeps the
// source open from one range of a file to the next. Counted with strace.
for (const ffi of [false, true]) {
  Deno.test({
    name: `a file copied in many ranges is opened once per worker, not once per range (${
      ffi ? "libc reads with --allow-ffi" : "Deno file API without FFI"
    })`,
    ignore: straceMissing,
    async fn(): Promise<void> {
      await withTempDir(async (dir) => {
        const src = join(dir, "plate.mov");
        const dst = join(dir, "copy.mov");
        await writeRandomFile(src, 24 * 1024 * 1024 + 5);
        const lines = await traceCli(dir, "openat,fadvise64", [
          ...["copy", "--quiet", "--workers", "2", "--file-workers", "1"],
          ...["--chunk-size", "1MiB", "--cutoff", "1MiB", "--offload", "never", src, dst],
        ], ["--allow-read", "--allow-write", ...(ffi ? ["--allow-ffi"] : [])]);
        await assertSameFile(dst, src);
        const opens = lines.filter((line) => line.includes("openat(") && line.includes(`"${src}"`));
        assert(
          opens.length >= 1 && opens.length <= 2,
          `25 ranges, 2 workers, ${opens.length} opens`,
        );
        // With FFI each source descriptor also gets the sequential read-ahead hint.
        const hints = lines.filter((line) => line.includes("POSIX_FADV_SEQUENTIAL) = 0")).length;
        assertEquals(hints, ffi ? opens.length : 0);
      });
    },
  });
}

// Within one local file system the kernel copies: every copy_file_range
// step is made from the main thread (through nonblocking FFI), and no worker
// starts. A worker that took over after the first step made the copy wait for
// its start (20–40 ms), and a reflink needs none.
Deno.test({
  name:
    "a large file copied within one local file system starts no worker: the kernel copies it in steps",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "plate.mov");
      await writeRandomFile(src, 130 * MIB + 7); // three 64 MiB steps
      const dst = join(dir, "out", "plate.mov");
      const lines = await traceCli(dir, "copy_file_range,prctl", [
        ...["copy", "--quiet", src, dst],
      ], SHARE_FLAGS); // the installed command's: statfs tells a local folder
      await assertSameFile(dst, src);
      const steps = lines.filter((l) => l.includes("copy_file_range(") && !l.includes("= -1"));
      assert(steps.length >= 1, "the kernel copied the file");
      const workers = lines.filter((l) => /prctl\(PR_SET_NAME, "worker-/.test(l));
      assertEquals(workers, [], "no worker started");
    });
  },
});

// The worker that takes a file's first range sees the rest queued and keeps
// the file open: the pool queues all of a file's ranges before a worker
// takes one (an idle worker used to take the first range alone, and opened
// the second file of a tree twice, each side).
Deno.test({
  name:
    "each file of a tree copied in ranges by one worker is opened once on each side, the later files too",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "shot");
      await Deno.mkdir(src);
      const names = ["a.mov", "b.mov", "c.mov"];
      for (const name of names) await writeRandomFile(join(src, name), 4 * MIB + 7);
      const lines = await traceCli(dir, "openat", [
        ...["copy", "--quiet", "--workers", "1", "--file-workers", "1"],
        ...[
          "--chunk-size",
          "1MiB",
          "--cutoff",
          "1MiB",
          "--offload",
          "never",
          src,
          join(dir, "out"),
        ],
      ], ["--allow-read", "--allow-write", "--allow-ffi"]);
      await assertSameTree(join(dir, "out"), src);
      for (const name of names) {
        const reads = lines.filter((l) => l.includes(`"${join(src, name)}", O_RDONLY`));
        assertEquals(reads.length, 1, `${name}: opens of the source`);
        // The temporary: made by this thread or the worker, and opened by the worker once.
        const reopens = lines.filter((l) =>
          l.includes(`/.${name}.`) && l.includes(".ferry-partial") &&
          l.includes("O_WRONLY|O_CLOEXEC)")
        );
        assert(reopens.length <= 1, `${name}: its temporary opened ${reopens.length} times`);
      }
    });
  },
});

// Into a share a file's ranges are written one after another by one worker,
// which keeps the temporary open (a client takes one file's writes one at a
// time: a second writer added round trips, not speed); into a local folder
// they are written side by side. Which thread wrote is counted with strace.
Deno.test({
  name:
    "a file copied in ranges into a share is written by one worker at a time; into a local folder by several",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await onTestbedShare("the writers-per-file test", async (onShare) => {
      await withTempDir(async (dir) => {
        const src = join(dir, "plate.mov");
        await writeRandomFile(src, 8 * MIB + 5);
        const writers = async (dst: string): Promise<Set<string>> => {
          // A limit of 32 MiB/s spreads the 9 ranges over 250 ms: time for every worker to start.
          const lines = await traceCli(dir, "write,pwrite64", [
            ...["copy", "--quiet", "--workers", "4", "--file-workers", "1", "--bwlimit", "32M"],
            ...["--chunk-size", "1MiB", "--cutoff", "1MiB", "--offload", "never", src, dst],
          ], SHARE_FLAGS);
          await assertSameFile(dst, src);
          return new Set(
            // `write` (Deno's file API) or `pwrite64` (libc through FFI).
            lines.filter((line) => /write(?:64)?\(\d+<[^>]*\.ferry-partial>/.test(line))
              .map((line) => /\[(\d+)\]$/.exec(line)![1]!),
          );
        };
        assertEquals(
          (await writers(join(onShare, "plate.mov"))).size,
          1,
          "threads writing into the share",
        );
        const local = await writers(join(dir, "plate-copy.mov"));
        assert(local.size > 1, `${local.size} thread wrote into the local folder`);
      });
    });
  },
});

/**
 * Writes a small `src`, copies it to `dst` under strace (`statfs` and
 * `calls`), checks the copy and that the share's `statfs` was asked once.
 *
 * @returns The traced lines.
 */
async function copyAskingStatfsOnce(
  dir: string,
  onShare: string,
  calls: string,
  src: string,
  dst: string,
): Promise<string[]> {
  await writeRandomFile(src, 3000);
  const lines = await traceCli(dir, `statfs,${calls}`, ["copy", "--quiet", src, dst], SHARE_FLAGS);
  await assertSameFile(dst, src);
  const asked = lines.filter((l) => l.includes(`statfs("${onShare}"`));
  assertEquals(asked.length, 1, asked.join("\n"));
  return lines;
}

// Into a share each round trip counts: the free-space check's `statfs` of the
// destination folder also tells its kind (it was asked twice), and the worker
// that writes the file starts then, while the folder's lease is being taken,
// instead of after it.
Deno.test({
  name:
    "a file into a share: one statfs of its folder, and the worker starts before the folder's lease is taken",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await onTestbedShare("the round-trip test", async (onShare) => {
      await withTempDir(async (dir) => {
        const src = join(dir, "sh010.1001.exr");
        const dst = join(onShare, "sh010.1001.exr");
        const lines = await copyAskingStatfsOnce(dir, onShare, "openat,prctl", src, dst);
        const worker = lines.find((l) => /prctl\(PR_SET_NAME, "worker-/.test(l));
        assertBeforeLease(lines, worker, "a worker");
      });
    });
  },
});

// A file copied within one share is left out of the free-space check (the
// server may copy it without taking space), but that check's `statfs` still
// tells the folder's kind, and the source's: asked once, not three times
// (on the SMB bed each is 10–15 ms). A destination found missing is not
// resolved again (a round trip per mapping).
Deno.test({
  name:
    "a file copied within a share: one statfs of the share, and a missing destination looked at once",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await onTestbedShare("the within-share statfs test", async (onShare) => {
      await withTempDir(async (dir) => {
        const src = join(onShare, "sh020.1001.exr");
        const dst = join(onShare, "sh020.1001.copy.exr");
        const lines = await copyAskingStatfsOnce(dir, onShare, "readlink", src, dst);
        // The destination was missing when first looked at: its real path is its folder's.
        const resolved = lines.filter((l) => l.includes(`readlink("${dst}"`));
        assertEquals(resolved, []);
      });
    });
  },
});

// A temporary is created with the source's permission bits (and always the
// owner's read and write): where the umask keeps them, no chmod follows, one
// round trip per file into a share. Modes it does not keep (read-only,
// setuid, a narrower umask) are still set by chmod, and every copy ends with
// its source's mode.
Deno.test({
  name: "a file into a share is created with its mode: chmod only where the umask did not keep it",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await onTestbedShare("the creation-mode test", async (onShare) => {
      await withTempDir(async (dir) => {
        const src = join(dir, "modes");
        const modes = [0o644, 0o755, 0o640, 0o600, 0o444, 0o4755];
        await Deno.mkdir(src);
        for (const mode of modes) {
          await writeRandomFile(join(src, `f${mode.toString(8)}`), 3000);
          await Deno.chmod(join(src, `f${mode.toString(8)}`), mode);
        }
        const dst = join(onShare, "modes");
        const lines = await traceCli(dir, "chmod", ["copy", "--quiet", src, dst], SHARE_FLAGS);
        const umask = Deno.umask();
        const kept = (mode: number): boolean => (((mode & 0o777) | 0o600) & ~umask) === mode;
        for (const mode of modes) {
          const name = `f${mode.toString(8)}`;
          assertEquals((await Deno.stat(join(dst, name))).mode! & 0o7777, mode, name);
          const chmods = lines.filter((l) => l.includes(`chmod("${dst}/.${name}.`));
          assertEquals(chmods.length, kept(mode) ? 0 : 1, `${name}: ${chmods.join("\n")}`);
        }
      });
    });
  },
});

// A large file copied within one share (the server may copy it) skips the
// free-space check, and its copy asked the folder's kind after the folder's
// lease: that `statfs` now runs beside the lease's round trips.
Deno.test({
  name:
    "a large file copied within a share: the folder's statfs is asked before its lease is taken",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await onTestbedShare("the statfs-order test", async (onShare) => {
      await Deno.mkdir(join(onShare, "out"));
      await withTempDir(async (dir) => {
        const src = join(onShare, "clip.mov");
        await writeRandomFile(src, 2 * MIB + 5);
        const dst = join(onShare, "out", "clip.mov");
        const lines = await traceCli(
          dir,
          "statfs,openat",
          ["copy", "--quiet", src, dst],
          SHARE_FLAGS,
        );
        await assertSameFile(dst, src);
        const asked = lines.find((l) => l.includes(`statfs("${join(onShare, "out")}"`));
        assertBeforeLease(lines, asked, "a statfs of the folder");
      });
    });
  },
});

// --fsync: each copy reaches storage before its final name exists, and its
// directory (with the new name) before the file counts as done. Without the
// flag ferry flushes nothing, as cp does.
Deno.test({
  name:
    "--fsync flushes every copy before publishing it and its directory after; without it, nothing",
  ignore: straceMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "sh010");
      await Deno.mkdir(join(src, "plate"), { recursive: true });
      await writeRandomFile(join(src, "sh010.mov"), 5 * MIB + 3); // chunked (cutoff 1 MiB)
      await writeRandomFile(join(src, "plate", "sh010.1001.exr"), 1000); // whole
      await writeRandomFile(join(src, "plate", "sh010.1002.exr"), 0);
      const copyArgs = ["copy", "--quiet", "--cutoff", "1MiB", "--chunk-size", "1MiB"];
      const calls = "fsync,link,linkat,rename,renameat,renameat2,mkdir,mkdirat";
      const lines = await traceCli(dir, calls, [
        ...[...copyArgs, "--fsync", "--mhl", src, join(dir, "out")],
      ]);
      const copied = Object.entries(await snapshot(join(dir, "out")))
        .filter(([path]) => !path.startsWith("ascmhl"));
      assertEquals(Object.fromEntries(copied), await snapshot(src));
      const at = (line: string | undefined): number => line === undefined ? NaN : parseFloat(line);
      const flushOf = (path: string): string[] =>
        lines.filter((l) => / fsync\(\d+</.test(l) && l.includes(`<${path}>) = 0`));
      for (const name of ["sh010.mov", "plate/sh010.1001.exr", "plate/sh010.1002.exr"]) {
        const dst = join(dir, "out", name);
        const publish = lines.find((l) => /(link|rename)/.test(l) && l.includes(`"${dst}"`));
        assert(publish !== undefined, `no link or rename creates ${dst}`);
        const tmp = /"([^"]*\.ferry-partial)"/.exec(publish)?.[1];
        assert(tmp !== undefined, publish);
        const flushed = flushOf(tmp);
        assertEquals(flushed.length, 1, `${tmp} flushed once`);
        assert(at(flushed[0]) < at(publish), `${name}: flushed before it was published`);
        const dirFlushed = flushOf(dirname(dst)).filter((l) => at(l) > at(publish));
        assert(dirFlushed.length > 0, `${name}: its directory was flushed after publishing`);
      }
      // The ASC MHL manifest, the chain file (before its rename) and ascmhl/ too.
      const mhlDir = join(dir, "out", "ascmhl");
      const manifest = [...Deno.readDirSync(mhlDir)].find((e) => e.name.endsWith(".mhl"))!.name;
      // The manifest is written whole under a temporary name, flushed, then linked to its number.
      const manifestLink = lines.find((l) =>
        /link/.test(l) && l.includes(`"${join(mhlDir, manifest)}"`)
      );
      assert(manifestLink !== undefined, "the manifest is linked to its numbered name");
      const manifestTmp = /"([^"]*\.mhl\.tmp)"/.exec(manifestLink)![1]!;
      assertEquals(flushOf(manifestTmp).length, 1, "the manifest is flushed");
      assert(
        at(flushOf(manifestTmp)[0]) < at(manifestLink),
        "manifest flushed before it is linked",
      );
      const chainRename = lines.find((l) =>
        l.includes("rename") && l.includes('ascmhl_chain.xml"')
      );
      assert(chainRename !== undefined, "the chain file is renamed into place");
      const chainTmp = /"([^"]*\.tmp)"/.exec(chainRename)![1]!;
      assert(flushOf(chainTmp).some((l) => at(l) < at(chainRename)), "chain flushed before rename");
      assert(flushOf(mhlDir).some((l) => at(l) > at(chainRename)), "ascmhl/ flushed after");
      // A directory ferry made is flushed into its parent.
      const made = lines.find((l) =>
        l.includes("mkdir") && l.includes(`"${join(dir, "out", "plate")}"`)
      );
      assert(made !== undefined, "mkdir of out/plate");
      assert(flushOf(join(dir, "out")).some((l) => at(l) > at(made)), "out/ flushed after mkdir");

      const plain = await traceCli(dir, calls, [...copyArgs, src, join(dir, "plain")]);
      await assertSameTree(join(dir, "plain"), src);
      assertEquals(plain.filter((l) => / fsync\(/.test(l)), [], "no flush without --fsync");
    });
  },
});

Deno.test("a plain rerun of a finished copy does nothing and exits 0; a changed destination is one line", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    await Deno.mkdir(join(dir, "dst"));
    const first = await runCli(["copy", join(dir, "sh010"), `${join(dir, "dst")}/`]);
    assertEquals(first.code, 0, first.stderr);
    const before = await snapshot(join(dir, "dst"));
    const again = await runCli(["copy", join(dir, "sh010"), `${join(dir, "dst")}/`]);
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stderr, /copied 0 of 13 files .*; 13 skipped$/m);
    assertEquals(await snapshot(join(dir, "dst")), before);
    // Two frames fixed by hand at the destination: left alone, said in one line.
    for (const frame of ["sh010.1001.exr", "sh010.1002.exr"]) {
      await Deno.writeTextFile(join(dir, "dst", "sh010", "plate", frame), "hand fixed");
    }
    const fixed = await runCli(["copy", join(dir, "sh010"), join(dir, "dst")]);
    assertEquals(fixed.code, 1);
    const lines = fixed.stderr.trim().split("\n");
    assertEquals(lines.length, 2, fixed.stderr);
    assertMatch(
      lines[1]!,
      /^ {2}2 destination files differ from their sources and were left alone \(the first: '.*sh010\.100[12]\.exr'\): --overwrite replaces them, --update only the older ones, --checksum those whose bytes differ, --skip-existing leaves them quietly$/,
    );
    // --update never replaces them: they are newer than their sources.
    const update = await runCli(["copy", "--update", join(dir, "sh010"), join(dir, "dst")]);
    assertEquals(update.code, 0, update.stderr);
    assertEquals(
      await Deno.readTextFile(join(dir, "dst", "sh010", "plate", "sh010.1001.exr")),
      "hand fixed",
    );
    // --checksum compares bytes: it replaces them.
    const checksum = await runCli(["copy", "--checksum", join(dir, "sh010"), join(dir, "dst")]);
    assertEquals(checksum.code, 0, checksum.stderr);
    assertMatch(checksum.stderr, /copied 2 of 13 files .*; 11 skipped$/m);
    await assertSameTree(join(dir, "dst", "sh010"), join(dir, "sh010"));
  });
});

Deno.test("destinations as cp and rsync name them: -T, SRC/ for contents, DST/ for a folder", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    // -T: the path the copy gets, even when it exists.
    await Deno.mkdir(join(dir, "t"));
    assertEquals((await runCli(["copy", "-T", join(dir, "sh010"), join(dir, "t")])).code, 0);
    await assertSameTree(join(dir, "t"), join(dir, "sh010"));
    // SRC/: its contents, into an existing folder or a new one.
    await Deno.mkdir(join(dir, "c"));
    assertEquals((await runCli(["copy", `${join(dir, "sh010")}/`, join(dir, "c")])).code, 0);
    await assertSameTree(join(dir, "c"), join(dir, "sh010"));
    // DST/: a folder, made if missing; a file there is refused like cp's "Not a directory".
    const clip = join(dir, "sh010", "sh010 v001.mov");
    assertEquals((await runCli(["copy", clip, `${join(dir, "newdir")}/`])).code, 0);
    await assertSameFile(join(dir, "newdir", "sh010 v001.mov"), clip);
    await Deno.writeTextFile(join(dir, "afile"), "x");
    const refused = await runCli(["copy", clip, `${join(dir, "afile")}/`]);
    assertEquals(refused.code, 2);
    assertMatch(refused.stderr, /Destination '.*afile\/' is not a directory/);
  });
});

Deno.test("--dry-run --quiet prints nothing but failures", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const run = await runCli(["copy", "-n", "-q", join(dir, "sh010"), join(dir, "out")]);
    assertEquals(run.code, 0);
    assertEquals(run.stderr, "");
  });
});

Deno.test("ferry, ferry help CMD, ferry CMD --help and ferry version", async () => {
  const bare = await runCli([]);
  assertEquals(bare.code, 0);
  assertMatch(bare.stdout, /ferry help COMMAND/);
  const version = await runCli(["version"]);
  assertEquals(version.code, 0);
  assertMatch(version.stdout, /^ferry \d+\.\d+\.\d+$/m);
  for (const command of ["copy", "move", "apply", "verify", "hash", "demo"]) {
    const help = await runCli(["help", command]);
    assertEquals(help.code, 0, command);
    assertMatch(help.stdout, new RegExp(`^ferry ${command} `));
    assertEquals((await runCli([command, "--help"])).stdout, help.stdout);
  }
});

Deno.test("deno task install gives a ferry command that runs without prompts, with its V8 flags", async () => {
  await withTempDir(async (dir) => {
    const env = { DENO_INSTALL_ROOT: join(dir, "root"), NO_COLOR: "1" };
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["task", "install"],
      cwd: ROOT,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(install.code, 0, new TextDecoder().decode(install.stderr));
    const shim = join(dir, "root", "bin", "ferry");
    const script = await Deno.readTextFile(shim);
    for (
      const flag of [
        "--no-prompt",
        "--allow-ffi",
        "--allow-sys=hostname,statfs",
        "--allow-env=HOME,XDG_STATE_HOME",
        "--allow-run=sbatch",
        "--quiet",
        V8_FLAGS_ARG,
      ]
    ) {
      assert(script.includes(flag), `the command runs with ${flag}`);
    }
    // --quiet silences deno install too, so the task says where ferry went.
    assertMatch(
      new TextDecoder().decode(install.stdout),
      new RegExp(`^ferry installed: ${shim}$`, "m"),
    );
    // Only deno on the PATH: a machine without Slurm has no sbatch, and the
    // command still says nothing but what it was asked.
    const version = await new Deno.Command("/bin/sh", {
      args: [shim, "version"],
      env: { ...env, PATH: dirname(Deno.execPath()) },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(version.code, 0);
    assertMatch(new TextDecoder().decode(version.stdout), /^ferry \d+\.\d+\.\d+/);
    assertEquals(new TextDecoder().decode(version.stderr), "");
  });
});

Deno.test("-v lists files as they finish, --log keeps the JSON events, -r is accepted, every event has v: 1", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const log = join(dir, "run.jsonl");
    const run = await runCli([
      "copy",
      "-r",
      "-v",
      "--log",
      log,
      join(dir, "sh010"),
      join(dir, "out"),
    ]);
    assertEquals(run.code, 0, run.stderr);
    const listed = run.stderr.split("\n").filter((l) => l.startsWith("copied "));
    assertEquals(listed.length, 13);
    assertMatch(listed[0]!, /^copied +\/.*sh010\/.* -> \/.*out\/.*$/);
    const events = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(events[0].event, "start");
    assertEquals(events.at(-1).event, "summary");
    assertEquals(events.filter((e) => e.event === "file").length, 13);
    assert(events.every((e) => e.v === 1), "every logged event has its version");
    const json = await runCli(["copy", "--json", join(dir, "sh010"), join(dir, "out2")]);
    assert(jsonLines(json.stdout).every((e) => e.v === 1), "every --json event has its version");
    const hash = await runCli(["hash", "--json", join(dir, "sh010")]);
    assert(jsonLines(hash.stdout).every((e) => e.v === 1));
  });
});

Deno.test("a copy that takes more than a second draws a live progress bar in a terminal", async () => {
  const bed = await testbed();
  if (typeof bed === "string") {
    console.warn(`SKIPPED progress-bar test: ${bed}`);
    return;
  }
  await withTempDir(async (dir) => {
    // 600 small files from the share, one at a time: a couple of seconds.
    const src = join(bed.netStore, `progress-${crypto.randomUUID()}`);
    await Deno.mkdir(src);
    try {
      for (let i = 0; i < 600; i++) await Deno.writeTextFile(join(src, `f.${i}.exr`), "x");
      const shared = join(bed.net, src.slice(bed.netStore.length + 1));
      const { code, screen } = await runCliInTerminal([
        "copy",
        "--small-file-workers",
        "1",
        shared,
        join(dir, "out"),
      ]);
      assertEquals(code, 0, screen);
      // The live line: carriage return, erase the line, then the bar.
      const live = new RegExp(`\r${"\x1b"}\\[2K\\[█*[▏▎▍▌▋▊▉]? *\\] \\d+% {2}.* files \\d+/600`);
      assertMatch(screen, live);
      assertMatch(screen, /copied 600 of 600 files/);
      // --progress draws the same line where stderr is no terminal.
      const piped = await runCli([
        "copy",
        "--progress",
        "--small-file-workers",
        "1",
        shared,
        join(dir, "out2"),
      ]);
      assertEquals(piped.code, 0, piped.stderr);
      assertMatch(piped.stderr, live);
      const plain = await runCli(["copy", "--small-file-workers", "1", shared, join(dir, "out3")]);
      assert(!plain.stderr.includes("\r"), "without --progress, a pipe gets no live line");
    } finally {
      await Deno.remove(src, { recursive: true });
    }
  });
});

Deno.test("folders keep their modification times; -a keeps owner and group too (as root)", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const then = new Date("2025-03-04T05:06:07Z");
    await Deno.utime(join(dir, "sh010", "plate"), then, then);
    await Deno.utime(join(dir, "sh010"), then, then);
    const plain = await runCli(["copy", join(dir, "sh010"), join(dir, "plain")]);
    assertEquals(plain.code, 0, plain.stderr);
    for (const sub of ["", "plate"]) {
      assertEquals(
        (await Deno.stat(join(dir, "plain", sub))).mtime?.getTime(),
        then.getTime(),
        `'${sub}'`,
      );
    }
    if (!IS_ROOT) {
      console.warn(
        "SKIPPED the owner part of the -a test: only root can give files to another user",
      );
      return;
    }
    await new Deno.Command("chown", { args: ["-R", "65534:65534", join(dir, "sh010")] }).output();
    await Deno.utime(join(dir, "sh010", "plate"), then, then);
    assertEquals((await Deno.stat(join(dir, "plain", "plate", "sh010.1001.exr"))).uid, 0);
    const archive = await runCli(["copy", "-a", join(dir, "sh010"), join(dir, "archive")]);
    assertEquals(archive.code, 0, archive.stderr);
    for (const path of ["", "plate", "plate/sh010.1001.exr", "sh010 v001.mov"]) {
      const info = await Deno.stat(join(dir, "archive", path));
      assertEquals([info.uid, info.gid], [65534, 65534], `'${path}'`);
    }
    assertEquals((await Deno.stat(join(dir, "archive", "plate"))).mtime?.getTime(), then.getTime());
  });
});

Deno.test("a move by rename on one file system reports no copy rate", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const run = await runCli(["move", "--json", join(dir, "sh010"), join(dir, "moved")]);
    assertEquals(run.code, 0, run.stderr);
    assertMatch(run.stderr, /^ferry: moved 13 of 13 files \(.*\) in .* by rename$/m);
    const summary = jsonLines(run.stdout).at(-1)!;
    assertEquals(summary.bytes_per_second, 0);
  });
});

Deno.test("ferry hash shows how far it has got in a terminal, inside a large file too", async () => {
  const bed = await testbed();
  if (typeof bed === "string") {
    console.warn(`SKIPPED hash progress test: ${bed}`);
    return;
  }
  const name = `hash-progress-${crypto.randomUUID()}.mov`;
  const file = await Deno.open(join(bed.netStore, name), { write: true, createNew: true });
  await file.truncate(2 * 1024 * 1024 * 1024); // 2 GiB of holes: read as zeros over the share
  file.close();
  try {
    const { code, screen } = await runCliInTerminal(["hash", join(bed.net, name)]);
    assertEquals(code, 0, screen);
    assertMatch(screen, /ferry: hashed [\d.]+ [MG]iB \([\d.]+ [MG]iB\/s\), 0 of 1 files/);
    assertMatch(screen, /[0-9a-f]{16} {2}\S*hash-progress-/);
  } finally {
    await Deno.remove(join(bed.netStore, name));
  }
});
