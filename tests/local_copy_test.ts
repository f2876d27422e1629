// Small local files through libc: ten calls a file, the same bytes, mode
// and times as Deno's calls give, failures that name their side, and an
// atomic no-replace publish.
import { join } from "node:path";
import { LocalCopy, type LocalCopyRequest } from "../lib/fs/local_copy.ts";
import { assertTakenNamesLeftAlone } from "./_outcomes.ts";
import {
  assert,
  assertEquals,
  assertSameTree,
  ROOT,
  runCli,
  straceWorks,
  testbed,
  withTempDir,
} from "./_helpers.ts";

const bed = await testbed();
if (typeof bed === "string") console.warn(`SKIPPED LocalCopy across file systems: ${bed}`);

/** A request for `src` as it is now. */
async function requestFor(src: string, tmp: string): Promise<LocalCopyRequest> {
  const info = await Deno.lstat(src);
  return {
    src,
    tmp,
    size: info.size,
    mtimeMs: info.mtime!.getTime(),
    atimeMs: info.atime!.getTime(),
    mode: info.mode! & 0o7777,
    owner: null,
    fsync: false,
  };
}

function thrown(call: () => unknown): Error & { code?: string; path?: string; failure?: string } {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error("it did not throw");
}

Deno.test("LocalCopy copies bytes, mode and times, and publishes without replacing", async () => {
  const local = LocalCopy.open();
  assert(local !== null, "libc loads with -A");
  try {
    await withTempDir(async (dir) => {
      const src = join(dir, "plate.1001.exr");
      const bytes = crypto.getRandomValues(new Uint8Array(60_000));
      await Deno.writeFile(src, bytes, { mode: 0o640 });
      await Deno.chmod(src, 0o640);
      await Deno.utime(src, new Date(1_600_000_000_123), new Date(1_500_000_000_456));
      const tmp = join(dir, ".tmp");
      local.copy(await requestFor(src, tmp));
      const copy = await Deno.stat(tmp); // before reading it, which sets its atime
      assertEquals(copy.mode! & 0o7777, 0o640);
      assertEquals(copy.mtime!.getTime(), 1_500_000_000_456);
      assertEquals(copy.atime!.getTime(), 1_600_000_000_123);
      assertEquals(await Deno.readFile(tmp), bytes);

      // A temporary that exists is never written into (O_EXCL).
      const again = thrown(() => local.copy({ ...copyRequest(src, tmp) }));
      assertEquals([again.code, again.path], ["EEXIST", tmp]);

      await Deno.writeTextFile(join(dir, "taken"), "someone else's");
      assertEquals(local.publish(tmp, join(dir, "taken"), false), "exists");
      assertEquals(await Deno.readTextFile(join(dir, "taken")), "someone else's");
      assertEquals(local.publish(tmp, join(dir, "final.exr"), false), "published");
      assertEquals(await Deno.readFile(join(dir, "final.exr")), bytes);
      await Deno.writeTextFile(tmp, "newer");
      assertEquals(local.publish(tmp, join(dir, "taken"), true), "published");
      assertEquals(await Deno.readTextFile(join(dir, "taken")), "newer");
    });
  } finally {
    local.close();
  }
});

/** A request that needs no stat (for calls expected to fail before the copy). */
function copyRequest(src: string, tmp: string): LocalCopyRequest {
  return {
    src,
    tmp,
    size: 1,
    mtimeMs: null,
    atimeMs: null,
    mode: 0o644,
    owner: null,
    fsync: false,
  };
}

Deno.test("LocalCopy names the side that failed, and tells a changed source", async () => {
  const local = LocalCopy.open()!;
  try {
    await withTempDir(async (dir) => {
      const missing = thrown(() => local.copy(copyRequest(join(dir, "gone"), join(dir, ".t1"))));
      assertEquals([missing.code, missing.path], ["ENOENT", join(dir, "gone")]);
      const src = join(dir, "a");
      await Deno.writeTextFile(src, "twelve bytes");
      const noFolder = thrown(() => local.copy(copyRequest(src, join(dir, "no", ".t2"))));
      assertEquals([noFolder.code, noFolder.path], ["ENOENT", join(dir, "no", ".t2")]);
      // A kernel copy that fails for a reason other than a refusal (a folder
      // where the plan saw a file: EISDIR) is not blamed on the destination:
      // the read that follows names the source.
      await Deno.mkdir(join(dir, "now-a-folder"));
      const folder = thrown(() =>
        local.copy(copyRequest(join(dir, "now-a-folder"), join(dir, ".t5")))
      );
      assertEquals([folder.code, folder.path], ["EISDIR", join(dir, "now-a-folder")]);
      // The plan saw 11 bytes; the file has 12 now.
      const request = { ...await requestFor(src, join(dir, ".t3")), size: 11 };
      assertEquals(thrown(() => local.copy(request)).failure, "source-changed");
      const later = { ...await requestFor(src, join(dir, ".t4")), mtimeMs: 1000 };
      assertEquals(thrown(() => local.copy(later)).failure, "source-changed");
    });
  } finally {
    local.close();
  }
});

Deno.test({
  name: "LocalCopy falls back to read/write where copy_file_range is refused (tmpfs → XFS)",
  ignore: typeof bed === "string",
  fn: async () => {
    if (typeof bed === "string") return;
    const local = LocalCopy.open()!;
    const id = crypto.randomUUID();
    const [from, to] = [join(bed.local, `lc-${id}`), join(bed.reflink, `lc-${id}`)];
    try {
      await Deno.mkdir(from);
      await Deno.mkdir(to);
      for (const size of [0, 1, 200_000, 256 * 1024]) {
        const src = join(from, `f${size}`);
        const bytes = new Uint8Array(size).map((_, i) => (i * 31 + size) & 255);
        await Deno.writeFile(src, bytes);
        local.copy(await requestFor(src, join(to, `.f${size}`)));
        assertEquals(
          local.publish(join(to, `.f${size}`), join(to, `f${size}`), false),
          "published",
        );
        assertEquals(await Deno.readFile(join(to, `f${size}`)), bytes, `${size} bytes`);
      }
    } finally {
      local.close();
      await Deno.remove(from, { recursive: true }).catch(() => {});
      await Deno.remove(to, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("without unscoped read and write grants, small files take Deno's calls", async () => {
  await withTempDir(async (dir) => {
    const script = join(dir, "probe.ts");
    await Deno.writeTextFile(
      script,
      `import { LocalCopy } from "${ROOT}/lib/fs/local_copy.ts";\n` +
        `console.log(LocalCopy.open() === null ? "none" : "libc");\n`,
    );
    const probe = async (flags: string[]): Promise<string> => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", `--allow-read`, ...flags, script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim();
    };
    assertEquals(await probe(["--allow-ffi", "--allow-write"]), "libc");
    assertEquals(await probe(["--allow-ffi", `--allow-write=${dir}`]), "none");
    assertEquals(await probe(["--allow-write"]), "none");
  });
});

// The engine's path: a tree of small local files is copied, checked and
// published in ten calls a file (cp -a makes about as many), and a file that
// appears under its final name meanwhile is left alone and fails as `exists`.
const straceMissing = !(await straceWorks());
if (straceMissing) console.warn("SKIPPED the call count of small files: strace cannot trace here");

Deno.test({
  name:
    "a small local file takes ten system calls with --allow-ffi (strace), and the tree is the same",
  ignore: straceMissing,
  fn: async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, "plates");
      await Deno.mkdir(join(src, "sh010"), { recursive: true });
      const files = 200;
      for (let i = 0; i < files; i++) {
        await Deno.writeTextFile(join(src, "sh010", `sh010.${1001 + i}.exr`), "x".repeat(i * 7));
      }
      const traced = async (out: string, flags: string[]): Promise<string[]> => {
        const trace = join(dir, "trace");
        const run = await runCli(["copy", "--quiet", ...flags, src, out], {
          flags: ["--allow-read", "--allow-write", "--allow-ffi", "--allow-sys"],
          prefix: ["strace", "-f", "-y", "-o", trace, Deno.execPath(), ROOT],
        });
        assertEquals(run.code, 0, run.stderr);
        await assertSameTree(out, src);
        return (await Deno.readTextFile(trace)).split("\n");
      };
      // Every call that names one frame, its temporary, or a descriptor open on either
      // (a call another thread interrupts is split; its first half names the path,
      // and an `openat`'s second half too, as the descriptor it returned: not counted).
      const callsOf = (lines: string[]): string[] =>
        lines.filter((line) => line.includes("sh010.1042.exr") && !line.includes(" resumed>"))
          .map((line) => /^\d+ +(\w+)\(/.exec(line)?.[1] ?? line);
      const calls = callsOf(await traced(join(dir, "out"), []));
      assertEquals(calls.sort(), [
        "close", // the source
        "close", // the temporary
        "copy_file_range",
        "fchmod",
        "openat", // the source
        "openat", // the temporary, O_EXCL
        "renameat2", // RENAME_NOREPLACE
        "statx", // the walk's lstat
        "statx", // the open source after the copy: did it change?
        "utimensat", // futimens
      ]);
      // --fsync: the copy is flushed before its rename, its folder after.
      const lines = await traced(join(dir, "flushed"), ["--fsync"]);
      const flushed = callsOf(lines);
      assertEquals(flushed.length, 11, flushed.join(" "));
      assert(flushed.indexOf("fsync") < flushed.indexOf("renameat2"), flushed.join(" "));
      const renamed = lines.findIndex((l) => l.includes("renameat2(") && l.includes("1042.exr"));
      const folder = `<${join(dir, "flushed", "sh010")}>`;
      assert(lines.slice(renamed).some((l) => l.includes("fsync(") && l.includes(folder)));
    });
  },
});

Deno.test("a final name taken during a local copy is left alone: the file fails as exists", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "card");
    await Deno.mkdir(src);
    const names = Array.from({ length: 50 }, (_, i) => `c${i}.r3d`);
    for (const name of names) await Deno.writeTextFile(join(src, name), `clip ${name}`);
    await assertTakenNamesLeftAlone(src, join(dir, "out"), names, 1);
  });
});
