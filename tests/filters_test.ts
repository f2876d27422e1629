import { join } from "node:path";
import { parseFilters } from "../lib/plan/filters.ts";
import { OptionError, resolveOptions } from "../lib/options.ts";
import { copy, planToFile } from "../mod.ts";
import {
  assertEquals,
  assertMatch,
  assertThrows,
  listTree,
  runCli,
  withTempDir,
} from "./_helpers.ts";

/** [rules, path, folder?, kept] */
const CASES: [string[], string, boolean, boolean][] = [
  [["- *.tmp"], "a.tmp", false, false],
  [["- *.tmp"], "deep/in/a.tmp", false, false],
  [["- *.tmp"], "a.exr", false, true],
  [["+ *.exr", "- *"], "sh010/plate.1001.exr", false, true],
  [["+ *.exr", "- *"], "sh010/notes.txt", false, false],
  [["+ *.exr", "- *"], "sh010", true, true],
  [["- *", "+ *.exr"], "plate.exr", false, false],
  [["- cache/"], "sh010/cache", true, false],
  [["- cache/"], "cache", false, true],
  [["- plates/cache/"], "plates/cache", true, false],
  [["- plates/cache/"], "other/plates/cache", true, true],
  [["- /plates/*.exr"], "plates/a.exr", false, false],
  [["- plates/*.exr"], "plates/sub/a.exr", false, true],
  [["- plates/**.exr"], "plates/sub/a.exr", false, false],
  [["- a/**/b.exr"], "a/b.exr", false, false],
  [["- a/**/b.exr"], "a/x/y/b.exr", false, false],
  [["- ?.exr"], "a.exr", false, false],
  [["- ?.exr"], "ab.exr", false, true],
  [["- [ab].exr"], "b.exr", false, false],
  [["- [!ab].exr"], "c.exr", false, false],
  [["- [!ab].exr"], "a.exr", false, true],
  [["- *.EXR"], "a.exr", false, true],
  [["- .DS_Store"], "x/.DS_Store", false, false],
  [["- sh0[1-2]0.*"], "sh020.exr", false, false],
  [["- sh0[1-2]0.*"], "sh030.exr", false, true],
  [["- a+b(1).exr"], "a+b(1).exr", false, false],
  [[], "anything", false, true],
];

Deno.test("parseFilters(): the first rule that matches decides, folder rules end in /, globs as documented", () => {
  for (const [rules, path, folder, kept] of CASES) {
    const filter = parseFilters(rules);
    const got = filter === null ? true : folder ? filter.keepFolder(path) : filter.keepFile(path);
    assertEquals(got, kept, `${JSON.stringify(rules)} on ${folder ? "folder" : "file"} '${path}'`);
  }
});

Deno.test("filter rules that cannot be read are refused before any I/O, naming the flag", () => {
  for (
    const [rules, message] of [
      [["* x"], /write it as '\+ GLOB' \(include\) or '- GLOB' \(exclude\)/],
      [["- /"], /the glob is empty/],
      [["- [ab"], /a '\[' without its '\]'/],
    ] as const
  ) {
    assertThrows(() => resolveOptions({ filters: rules }), OptionError);
    assertThrows(() => resolveOptions({ filters: rules }), message);
  }
});

async function makeTree(root: string): Promise<void> {
  for (
    const path of [
      "a.exr",
      "b.tmp",
      "cache/c.exr",
      "plates/p.exr",
      "plates/cache/q.exr",
      "sub/n.txt",
    ]
  ) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), path);
  }
}

Deno.test("ferry copy --include/--exclude copies what the rules keep, in the order given; a JSON batch and the library take the same rules", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await makeTree(src);
    const cli = await runCli([
      "copy",
      src,
      join(dir, "cli"),
      "--include",
      "*.exr",
      "--exclude",
      "cache/",
      "--exclude",
      "*",
    ]);
    assertEquals(cli.code, 0, cli.stderr);
    assertEquals(await listTree(join(dir, "cli")), ["a.exr", "plates", "plates/p.exr", "sub"]);
    const batch = JSON.stringify({
      mappings: [{ src, dst: join(dir, "json") }],
      filters: ["- *.tmp", "- plates/cache/"],
    });
    const json = await runCli(["apply", "-"], { stdin: batch });
    assertEquals(json.code, 0, json.stderr);
    assertEquals(await listTree(join(dir, "json")), [
      "a.exr",
      "cache",
      "cache/c.exr",
      "plates",
      "plates/p.exr",
      "sub",
      "sub/n.txt",
    ]);
    await copy(src, join(dir, "lib"), { filters: ["+ **/p.exr", "- *"] });
    assertEquals(await listTree(join(dir, "lib")), [
      "cache",
      "plates",
      "plates/cache",
      "plates/p.exr",
      "sub",
    ]);
    assertEquals(await Deno.readTextFile(join(dir, "lib", "plates", "p.exr")), "plates/p.exr");
  });
});

Deno.test("a plan keeps its rules: apply refuses --include, and a move with rules leaves what they exclude", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await makeTree(src);
    const plan = join(dir, "p.plan");
    await planToFile([{ src, dst: join(dir, "out") }], plan, { filters: ["- *.tmp"] });
    const refused = await runCli(["apply", plan, "--include", "*.exr"]);
    assertEquals(refused.code, 2);
    assertMatch(refused.stderr, /fixes --include/);
    const moved = await runCli(["move", src, join(dir, "moved"), "--exclude", "*.tmp"]);
    assertEquals(moved.code, 0, moved.stderr);
    assertEquals(await listTree(src), ["b.tmp"]);
    assertEquals((await listTree(join(dir, "moved"))).includes("b.tmp"), false);
  });
});

Deno.test("a bad rule on the command line exits 2 and names the flag", async () => {
  const run = await runCli(["copy", "/tmp", "/tmp/x", "--exclude", "[ab"]);
  assertEquals(run.code, 2);
  assertMatch(
    run.stderr,
    /Invalid filter rule '- \[ab': a '\[' without its '\]' \(in --include\/--exclude\)/,
  );
});
