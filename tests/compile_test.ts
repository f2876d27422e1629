import { join } from "node:path";
import {
  assertEquals,
  assertMatch,
  assertSameTree,
  compileBinary,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

// Builds the single binary with the exact `deno task compile` command (output
// redirected to a temporary path). `deno compile` downloads its `denort`
// runtime from Deno's own host; where that host cannot be reached, the test
// is skipped with the reason instead of passing silently.
const outDir = await Deno.makeTempDir({ prefix: "ferry-compile-" });
const binary = join(outDir, "dist", "ferry");
const build = await compileBinary(binary);
if (build.offline) {
  console.warn(
    "SKIPPED compiled-binary test: `deno compile` cannot download its denort runtime here " +
      "(no route to Deno's download host). It runs wherever that host is reachable.",
  );
}

Deno.test({
  name: "deno task compile without its runtime explains why and leaves no empty dist/ behind",
  ignore: !build.offline,
  async fn(): Promise<void> {
    try {
      assertMatch(
        build.log,
        /ferry: deno compile could not download its runtime \(denort\).*DENORT_BIN/,
      );
      assertEquals(await Deno.stat(join(outDir, "dist")).then(() => true, () => false), false);
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the compiled binary copies a tree (deno task compile)",
  ignore: build.offline,
  async fn(): Promise<void> {
    try {
      assertEquals(build.ok, true, build.log);
      await withTempDir(async (dir) => {
        await Deno.mkdir(join(dir, "src", "plate"), { recursive: true });
        await writeRandomFile(join(dir, "src", "plate", "a.exr"), 100_000);
        await writeRandomFile(join(dir, "src", "movie.mov"), 24 * 1024 * 1024);
        const run = await new Deno.Command(binary, {
          args: ["copy", join(dir, "src"), join(dir, "dst")],
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(run.code, 0, new TextDecoder().decode(run.stderr));
        await assertSameTree(join(dir, "dst"), join(dir, "src"));
      });
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});
