// Many small local files: past the first WORKER_AFTER, a worker makes the
// libc calls. The same bytes, modes and times; failures with the same side
// and code as in the main thread; a name taken meanwhile is left alone.
import { join } from "node:path";
import { applyPlan, type FileResult, planBatch, planLines, readPlan } from "../mod.ts";
import { WORKER_AFTER } from "../lib/transfer/local_copier.ts";
import { assertTakenNamesLeftAlone, copyAll } from "./_outcomes.ts";
import {
  assert,
  assertEquals,
  assertNoTemps,
  assertSameTree,
  ROOT,
  runCli,
  straceWorks,
  withTempDir,
} from "./_helpers.ts";

const FILES = WORKER_AFTER * 3;
const MODES = [0o644, 0o600, 0o755, 0o640];

/** `count` small files of different sizes, modes and times in one folder. */
async function makeFiles(src: string, count: number): Promise<string[]> {
  await Deno.mkdir(src, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `sh010.${String(1001 + i).padStart(4, "0")}.exr`;
    const path = join(src, name);
    await Deno.writeFile(path, new Uint8Array((i * 37) % 5000).fill(i % 251));
    await Deno.chmod(path, MODES[i % MODES.length]!);
    await Deno.utime(path, 1_700_000_000 + i, 1_600_000_000 + i);
    names.push(name);
  }
  return names;
}

Deno.test("past the first small local files a worker copies them: same bytes, modes and times", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "plates");
    const names = await makeFiles(src, FILES);
    const out = join(dir, "out");
    const result = await copyAll(src, out);
    assert(result.ok, JSON.stringify(result.failures.slice(0, 3)));
    assertEquals(result.files.filter((f) => f.status === "copied").length, FILES);
    await assertSameTree(out, src);
    for (const name of names) {
      const [a, b] = [await Deno.stat(join(src, name)), await Deno.stat(join(out, name))];
      assertEquals(b.mode! & 0o7777, a.mode! & 0o7777, name);
      assertEquals(b.mtime!.getTime(), a.mtime!.getTime(), name);
    }
    await assertNoTemps(out);
  });
});

const straceMissing = !(await straceWorks());
if (straceMissing) console.warn("SKIPPED the worker's thread check: strace cannot trace here");

Deno.test({
  name: "the first small local files are published from the main thread, the rest from a worker",
  ignore: straceMissing,
  fn: async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, "plates");
      await makeFiles(src, FILES);
      const trace = join(dir, "trace");
      const out = join(dir, "out");
      const run = await runCli(["copy", "--quiet", src, out], {
        flags: ["--allow-read", "--allow-write", "--allow-ffi", "--allow-sys"],
        prefix: ["strace", "-f", "-e", "trace=renameat2", "-o", trace, Deno.execPath(), ROOT],
      });
      assertEquals(run.code, 0, run.stderr);
      await assertSameTree(out, src);
      // Each line: "<thread id> renameat2(…, "<dst>", RENAME_NOREPLACE) = 0".
      const threads = (await Deno.readTextFile(trace)).split("\n")
        .filter((line) => line.includes("renameat2(") && line.includes('.exr"'))
        .map((line) => line.split(" ")[0]!);
      assertEquals(threads.length, FILES);
      const first = threads[0]!;
      assertEquals(threads.slice(0, WORKER_AFTER), Array(WORKER_AFTER).fill(first));
      const later = new Set(threads.slice(WORKER_AFTER));
      assert(!later.has(first) && later.size === 1, `threads after the first files: ${[...later]}`);
    });
  },
});

Deno.test("a small file that fails in the worker fails as it does in the main thread: side and code", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "plates");
    const names = await makeFiles(src, FILES);
    // The whole plan, made before anything is removed (as `ferry plan` would).
    const lines = await Array.fromAsync(
      planLines(await planBatch([{ src, dst: join(dir, "out") }])),
    );
    // Gone between the plan and the copy: one copied in this thread, one in the worker.
    const early = names[10]!;
    const late = names[FILES - 10]!;
    await Deno.remove(join(src, early));
    await Deno.remove(join(src, late));
    const files: FileResult[] = [];
    const result = await applyPlan(await readPlan(lines), { onFile: (f) => files.push(f) });
    assert(!result.ok);
    const failed = files.filter((f) => f.status === "failed");
    assertEquals(failed.map((f) => f.dst).sort(), [early, late].map((n) => join(dir, "out", n)));
    const [a, b] = failed;
    assertEquals(a!.error?.code, b!.error?.code);
    assert(a!.reason!.startsWith("cannot read the source"), a!.reason);
    assertEquals(b!.reason!.replace(late, early), a!.reason!.replace(late, early));
    assertEquals(files.filter((f) => f.status === "copied").length, FILES - 2);
    await assertNoTemps(join(dir, "out"));
  });
});

Deno.test("a final name taken while the worker copies is left alone: the file fails as exists", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "card");
    const names = await makeFiles(src, FILES);
    await assertTakenNamesLeftAlone(src, join(dir, "out"), names, WORKER_AFTER * 2);
  });
});
