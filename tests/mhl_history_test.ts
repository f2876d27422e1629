import { join } from "node:path";
import { copy, readChain } from "../mod.ts";
import { hashBytes } from "../lib/integrity/hash.ts";
import {
  asNobody,
  assert,
  assertEquals,
  assertMatch,
  type CliRun,
  listTree,
  makeReadOnly,
  runCli,
  runCliInTerminal,
  spawnCli,
  testbed,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";
import {
  copyFixture,
  latestManifest,
  manifestNames,
  noReference,
  noSchemaCheck,
  rootHashOf,
  runReference,
  SCENARIOS,
  validate,
} from "./_mhl.ts";

/** The lines `ferry verify` printed, as `STATUS path`, sorted, without OK lines. */
function problems(run: CliRun): string[] {
  return run.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("OK "))
    .map((l) => l.replace(/ \(.*\)$/, "").replace(/ +/, " ")).sort();
}

/** No stack trace or uncaught error ever reaches a user. */
function assertNoTrace(run: CliRun): void {
  assert(!/Uncaught|^\s+at /m.test(run.stderr), `a stack trace reached stderr:\n${run.stderr}`);
}

/** Flips one byte of a file. */
async function flipByte(path: string, at = 0): Promise<void> {
  const bytes = await Deno.readFile(path);
  bytes[at] = bytes[at]! ^ 0xff;
  await Deno.writeFile(path, bytes);
}

async function makeShot(root: string): Promise<void> {
  await Deno.mkdir(join(root, "plate"), { recursive: true });
  await Deno.mkdir(join(root, "empty", "deeper"), { recursive: true });
  for (let i = 1; i <= 6; i++) {
    await writeRandomFile(join(root, "plate", `sh010.${1000 + i}.exr`), 20_000 + i);
  }
  await writeRandomFile(join(root, "sh010 & v001.mov"), 3 * 1024 * 1024);
}

/** The reference's verdict lines: mismatched and missing files. */
function referenceProblems(output: string): string[] {
  const out: string[] = [];
  for (const m of output.matchAll(/hash mismatch for +(.+?) {2}\w+ \(old\)/g)) {
    out.push(`MISMATCH ${m[1]}`);
  }
  const missing = /ERROR: \d+ missing file\(s\):\n((?: {2}.*\n?)*)/.exec(output);
  for (const line of missing?.[1]?.split("\n") ?? []) {
    if (line.trim() !== "") out.push(`MISSING ${line.trim()}`);
  }
  return out.sort();
}

/** Folders with an `ascmhl/` history under `dir` (nested ones included). */
async function historyRoots(dir: string): Promise<string[]> {
  return (await listTree(dir)).filter((p) => p.endsWith("/ascmhl/ascmhl_chain.xml"))
    .map((p) => p.slice(0, -"/ascmhl/ascmhl_chain.xml".length)).sort();
}

Deno.test({
  name:
    "ferry verify gives the reference's verdict, file by file, on every example history it ships",
  ignore: noReference !== null,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      await copyFixture(SCENARIOS, join(dir, "ferry"));
      await copyFixture(SCENARIOS, join(dir, "ref"));
      // Damaged copies of the nested example too: a flipped byte inside one
      // card's history, a clip of the other card deleted.
      for (const side of ["ferry", "ref"]) {
        const reels = join(dir, side, "scenario_05", "file_server", "Reels");
        await copyFixture(reels, join(dir, side, "scenario_05", "file_server", "Damaged"));
        const damaged = join(dir, side, "scenario_05", "file_server", "Damaged");
        await flipByte(join(damaged, "A002R2EC", "Sidecar.txt"));
        await Deno.remove(join(damaged, "A003R2EC", "Clips", "A003C011_141024_R2EC.mov"));
      }
      const roots = await historyRoots(join(dir, "ferry"));
      assert(roots.length >= 12, `found only ${roots.length} example histories`);
      let failing = 0;
      for (const root of roots) {
        const ours = await runCli(["verify", "--no-record", join(dir, "ferry", root)]);
        assertNoTrace(ours);
        const theirs = await runReference(["create", "-h", "xxh64", join(dir, "ref", root)]);
        const expected = referenceProblems(theirs.output);
        assertEquals(problems(ours), expected, `${root}: reference said\n${theirs.output}`);
        assertEquals(
          ours.code === 0,
          theirs.code === 0,
          `${root}: exit ${ours.code} vs ${theirs.code}`,
        );
        if (theirs.code !== 0) failing++;
      }
      assert(failing >= 2, "the examples include a changed sidecar and the damaged copy");
    });
  },
});

Deno.test("a damaged delivery fails every verify, naming the same files, against the original hashes", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    assertEquals((await runCli(["copy", "--mhl", join(dir, "sh010"), join(dir, "out")])).code, 0);
    const out = join(dir, "out");
    await flipByte(join(out, "plate", "sh010.1003.exr"), 100);
    await Deno.remove(join(out, "sh010 & v001.mov"));
    await Deno.writeTextFile(join(out, "plate", "extra.exr"), "new");
    const expected = [
      "MISMATCH plate/sh010.1003.exr",
      "MISSING sh010 & v001.mov",
      "NEW plate/extra.exr",
    ];
    for (let round = 1; round <= 3; round++) {
      const run = await runCli(["verify", out]);
      assertEquals(run.code, 1, `round ${round}: ${run.stderr}`);
      assertEquals(problems(run), expected, `round ${round}`);
      assertNoTrace(run);
    }
    assertEquals((await manifestNames(out)).length, 4, "each check is recorded");
    if (noReference === null) {
      const theirs = await runReference(["create", "-h", "xxh64", out]);
      assertEquals(theirs.code, 11, theirs.output);
    }
  });
});

Deno.test("a cancelled --mhl copy records nothing; its rerun with --skip-existing records every file", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "card");
    await Deno.mkdir(src);
    for (let i = 0; i < 40; i++) await writeRandomFile(join(src, `clip${i}.mov`), 50_000);
    const out = join(dir, "out");
    const controller = new AbortController();
    let published = 0;
    await copy(src, out, {
      mhl: true,
      smallFileWorkers: 1,
      signal: controller.signal,
      onFile: () => {
        if (++published === 5) controller.abort();
      },
    }).then(() => assert(false, "the copy should have been cancelled"), () => {});
    const delivered = (await listTree(out)).length;
    assert(delivered >= 5 && delivered < 40, `${delivered} files were delivered before the cancel`);
    const partial = await runCli(["verify", out]);
    assertEquals(partial.code, 2, "a cancelled delivery has no history to pass");
    assertMatch(partial.stderr, /it has no ASC MHL history/);
    const rerun = await runCli(["apply", "--mhl", "--skip-existing"], {
      stdin: JSON.stringify({ mappings: [{ src, dst: out }], operation_type: "copy" }),
    });
    assertEquals(rerun.code, 0, rerun.stderr);
    const manifest = await latestManifest(out);
    assertEquals(manifest.entries.length, 40, "the skipped files are recorded too");
    const verify = await runCli(["verify", out]);
    assertEquals(verify.code, 0, verify.stdout);
    assertMatch(verify.stderr, /40 files: 40 ok, 0 mismatch, 0 missing, 0 new/);
    await Deno.remove(join(out, "clip7.mov"));
    const against = await runCli(["verify", out, "--against", src, "--no-record"]);
    assertEquals(against.code, 1);
    assertEquals(problems(against), ["MISSING clip7.mov"]);
    assertEquals(problems(await runCli(["verify", out])), ["MISSING clip7.mov"]);
  });
});

Deno.test("a --mhl copy killed with SIGKILL and rerun with --update ends with a history that verifies", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shot");
    await Deno.mkdir(src);
    for (let i = 0; i < 300; i++) await writeRandomFile(join(src, `f.${1000 + i}.exr`), 256 * 1024);
    const out = join(dir, "out");
    let killedAt = 0;
    for (let attempt = 0; attempt < 5 && killedAt === 0; attempt++) {
      await Deno.remove(out, { recursive: true }).catch(() => {});
      const child = spawnCli(["copy", "--mhl", "--small-file-workers", "1", src, out]);
      await waitFor(async () => {
        const names = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
        return names.filter((e) => e.name.endsWith(".exr")).length >= 3;
      });
      child.kill("SIGKILL");
      const status = await child.status;
      const count = (await listTree(out).catch(() => [])).filter((p) => p.endsWith(".exr")).length;
      if (status.signal === "SIGKILL" && count < 300) killedAt = count;
    }
    assert(killedAt > 0, "the copy was killed mid-way in one of 5 attempts");
    const rerun = await runCli(["apply", "--mhl", "--update"], {
      stdin: JSON.stringify({ mappings: [{ src, dst: out }], operation_type: "copy" }),
    });
    assertEquals(rerun.code, 0, rerun.stderr);
    const verify = await runCli(["verify", out]);
    assertEquals(verify.code, 0, verify.stdout);
    assertMatch(verify.stderr, /300 files: 300 ok, 0 mismatch, 0 missing, 0 new/);
  });
});

Deno.test("names with spaces at either end, and empty folders, verify unchanged with the reference's root hash", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(join(src, "empty", "deeper"), { recursive: true });
    await Deno.mkdir(join(src, "  a  "));
    await Deno.writeTextFile(join(src, "  a  ", " lead.exr"), "lead");
    await Deno.writeTextFile(join(src, "trail "), "trail");
    await Deno.writeTextFile(join(src, "plain.exr"), "plain");
    const out = join(dir, "out");
    assertEquals((await runCli(["copy", "--mhl", src, out])).code, 0);
    const verify = await runCli(["verify", out]);
    assertEquals(verify.code, 0, verify.stdout);
    assertMatch(verify.stderr, /3 files: 3 ok, 0 mismatch, 0 missing, 0 new/);
    const [first, second] = await manifestNames(out);
    const transfer = await rootHashOf(join(out, "ascmhl", first!));
    assertEquals(await rootHashOf(join(out, "ascmhl", second!)), transfer);
    assertEquals((await latestManifest(out)).directories.sort(), [
      "  a  ",
      "empty",
      "empty/deeper",
    ]);
    if (noReference === null) {
      const theirs = await runReference(["create", "-h", "xxh64", out]);
      assertEquals(theirs.code, 0, theirs.output);
      assertEquals(await rootHashOf(join(out, "ascmhl", (await manifestNames(out))[2]!)), transfer);
    }
  });
});

Deno.test({
  name:
    "a source with its own ASC MHL histories: the copy's generation verifies them and matches the reference",
  ignore: noReference !== null,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const reels = join(dir, "Reels");
      for (const card of ["A001", "B002"]) {
        await Deno.mkdir(join(reels, card, "Clips"), { recursive: true });
        await writeRandomFile(join(reels, card, "Clips", `${card}C001.mov`), 70_000);
        await Deno.writeTextFile(join(reels, card, "Sidecar.txt"), card);
      }
      await Deno.writeTextFile(join(reels, "notes.txt"), "reels");
      const card = await runReference(["create", "-h", "xxh64", join(reels, "A001")]);
      assertEquals(card.code, 0, card.output);
      const out = join(dir, "out");
      const run = await runCli(["copy", "--mhl", reels, out]);
      assertEquals(run.code, 0, run.stderr);
      const top = await latestManifest(out);
      assertEquals(top.entries.map((e) => e.path).sort(), [
        "B002/Clips/B002C001.mov",
        "B002/Sidecar.txt",
        "notes.txt",
      ]);
      assert(!top.directories.some((d) => d.split("/").includes("ascmhl")), top.directories.join());
      assertEquals(top.references.length, 1);
      assertMatch(top.references[0]!.path, /^A001\/ascmhl\/0002_A001_.*\.mhl$/);
      const nested = await latestManifest(join(out, "A001"));
      assertEquals(nested.entries.map((e) => `${e.path} ${e.hashes[0]?.action}`).sort(), [
        "Clips/A001C001.mov verified",
        "Sidecar.txt verified",
      ]);
      if (noSchemaCheck === null) {
        await validate(out, dir);
        await validate(join(out, "A001"), dir);
      }
      const verify = await runCli(["verify", out]);
      assertEquals(verify.code, 0, verify.stdout);
      assertMatch(verify.stderr, /5 files: 5 ok/);
      const ours = await rootHashOf(join(out, "ascmhl", (await manifestNames(out))[0]!));
      const theirs = await runReference(["create", "-h", "xxh64", out]);
      assertEquals(theirs.code, 0, theirs.output);
      const refManifest = join(out, "ascmhl", (await manifestNames(out)).at(-1)!);
      assertEquals(await rootHashOf(refManifest), ours);
      // A flipped byte in the card is found against the card's own history.
      await flipByte(join(out, "A001", "Sidecar.txt"));
      assertEquals(problems(await runCli(["verify", out])), ["MISMATCH A001/Sidecar.txt"]);
    });
  },
});

Deno.test({
  name:
    "ignore patterns, single-file generations and renames recorded by the reference are honoured",
  ignore: noReference !== null,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const card = join(dir, "card");
      await Deno.mkdir(join(card, ".thumbs"), { recursive: true });
      await Deno.writeTextFile(join(card, "a.mov"), "a");
      await Deno.writeTextFile(join(card, "scratch.tmp"), "tmp");
      await Deno.writeTextFile(join(card, ".thumbs", "a.jpg"), "jpg");
      const made = await runReference([
        "create",
        "-h",
        "xxh64",
        "-i",
        "*.tmp",
        "-i",
        ".thumbs",
        card,
      ]);
      assertEquals(made.code, 0, made.output);
      await Deno.writeTextFile(join(card, "later.tmp"), "more scratch");
      await Deno.remove(join(card, "scratch.tmp"));
      await Deno.writeTextFile(join(card, "b.mov"), "b");
      const single = await runReference([
        "create",
        "-h",
        "xxh64",
        "-sf",
        join(card, "b.mov"),
        card,
      ]);
      assertEquals(single.code, 0, single.output);
      await Deno.rename(join(card, "a.mov"), join(card, "a renamed.mov"));
      const renamed = await runReference(["create", "-h", "xxh64", "-dr", card]);
      assertEquals(renamed.code, 0, renamed.output);
      const third = join(card, "ascmhl", (await manifestNames(card))[2]!);
      assertMatch(await Deno.readTextFile(third), /<previousPath>a\.mov</);
      const verify = await runCli(["verify", card]);
      assertEquals(verify.code, 0, verify.stdout);
      assertEquals(verify.stdout.split("\n").filter(Boolean).sort(), [
        "OK         a renamed.mov",
        "OK         b.mov",
      ]);
      const ours = await latestManifest(card);
      assert(ours.ignore.includes("*.tmp") && ours.ignore.includes(".thumbs"), ours.ignore.join());
      assertEquals((await runCli(["verify", card])).code, 0, "the next check still ignores them");
      const after = await runReference(["create", "-h", "xxh64", card]);
      assertEquals(after.code, 0, after.output);
      // The renamed file is still checked against the hash it had under its old name.
      await flipByte(join(card, "a renamed.mov"));
      assertEquals(problems(await runCli(["verify", card])), ["MISMATCH a renamed.mov"]);
    });
  },
});

/** Re-chains a root after a test rewrote its manifest: the chain gets the new C4. */
async function rechain(root: string, name: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(join(root, "ascmhl", name), bytes);
  const c4 = await hashBytes("c4", bytes);
  const chainPath = join(root, "ascmhl", "ascmhl_chain.xml");
  const chain = await Deno.readTextFile(chainPath);
  await Deno.writeTextFile(chainPath, chain.replace(/<c4>[^<]*<\/c4>/, `<c4>${c4}</c4>`));
}

Deno.test("manifests and chains in every XML form the schema allows are read as XML, not as text", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(join(src, "plate"), { recursive: true });
    await Deno.writeTextFile(join(src, "plate", "café & crème.exr"), "frame");
    await Deno.writeTextFile(join(src, "a<b>.exr"), "angle");
    const base = join(dir, "base");
    assertEquals((await runCli(["copy", "--mhl", src, base])).code, 0);
    const [name] = await manifestNames(base);
    const text = await Deno.readTextFile(join(base, "ascmhl", name!));
    const encoder = new TextEncoder();
    const variants: Record<string, Uint8Array> = {
      "namespace prefix": encoder.encode(
        text.replace(/<(\/?)([a-z]\w*)/g, "<$1mhl:$2").replace('xmlns="', 'xmlns:mhl="'),
      ),
      "commented-out hash": encoder.encode(text.replace(
        "<hashes>",
        `<hashes><!-- <hash><path size="1">ghost.exr</path><xxh64 action="original">00</xxh64></hash> -->`,
      )),
      "CDATA path": encoder.encode(
        text.replace("a&lt;b&gt;.exr", "<![CDATA[a<b>.exr]]>"),
      ),
      "character references": encoder.encode(
        text.replace("café &amp; crème", "caf&#xE9; &#38; cr&#232;me"),
      ),
      "spaces in tags": encoder.encode(
        text.replace(/<hash>/g, "<hash >").replace(/<\/hash>/g, "</hash >"),
      ),
      "ISO-8859-1": Uint8Array.from(
        text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'),
        (c) => c.charCodeAt(0),
      ),
    };
    for (const [label, bytes] of Object.entries(variants)) {
      const root = join(dir, label.replace(/ /g, "_"));
      await copyFixture(base, root);
      await rechain(root, name!, bytes);
      const run = await runCli(["verify", "--no-record", root]);
      assertEquals(run.code, 0, `${label}: ${run.stdout}${run.stderr}`);
      assertMatch(run.stderr, /2 files: 2 ok, 0 mismatch, 0 missing, 0 new, 0 unreadable/);
      if (noReference === null) {
        const theirs = await runReference(["create", "-h", "xxh64", root]);
        assertEquals(theirs.code, 0, `${label}: the reference accepts it too\n${theirs.output}`);
      }
    }
    // A chain with a prefix and single-quoted attributes.
    const root = join(dir, "chain");
    await copyFixture(base, root);
    const chainPath = join(root, "ascmhl", "ascmhl_chain.xml");
    const chain = await Deno.readTextFile(chainPath);
    await Deno.writeTextFile(
      chainPath,
      chain.replace(/<(\/?)([a-z]\w*)/g, "<$1d:$2").replace('xmlns="', 'xmlns:d="')
        .replace(/sequencenr="(\d+)"/, "sequencenr='$1'"),
    );
    assertEquals((await readChain(root)).length, 1);
    const run = await runCli(["verify", root]);
    assertEquals(run.code, 0, run.stdout + run.stderr);
  });
});

Deno.test("16 verifies of one delivery at once each append their own generation", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const out = join(dir, "out");
    assertEquals((await runCli(["copy", "--mhl", join(dir, "sh010"), out])).code, 0);
    const runs = await Promise.all(Array.from({ length: 16 }, () => runCli(["verify", out])));
    for (const run of runs) {
      assertEquals(run.code, 0, run.stderr);
      assertNoTrace(run);
    }
    const chain = await readChain(out);
    assertEquals(chain.map((c) => c.sequence), Array.from({ length: 17 }, (_, i) => i + 1));
    assertEquals((await manifestNames(out)).length, 17);
    assertEquals((await listTree(join(out, "ascmhl"))).length, 18, "no temporary files are left");
    assertEquals((await runCli(["verify", out])).code, 0);
  });
});

Deno.test("a tampered or broken history is refused with a message that names the file", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const base = join(dir, "base");
    assertEquals((await runCli(["copy", "--mhl", join(dir, "sh010"), base])).code, 0);
    assertEquals((await runCli(["verify", base])).code, 0);
    const cases: [string, (root: string) => Promise<void>, RegExp][] = [
      [
        "chain deleted",
        (root) => Deno.remove(join(root, "ascmhl", "ascmhl_chain.xml")),
        /has no chain file: '.*\/ascmhl\/ascmhl_chain\.xml' is missing/,
      ],
      [
        "chain garbled",
        (root) =>
          Deno.writeTextFile(join(root, "ascmhl", "ascmhl_chain.xml"), "<ascmhldirectory><hash"),
        /'.*\/ascmhl\/ascmhl_chain\.xml' is not well-formed XML \(line \d+/,
      ],
      [
        "chain truncated",
        async (root) => {
          const path = join(root, "ascmhl", "ascmhl_chain.xml");
          const text = await Deno.readTextFile(path);
          await Deno.writeTextFile(path, text.slice(0, text.length / 2));
        },
        /'.*\/ascmhl\/ascmhl_chain\.xml' is not well-formed XML/,
      ],
      [
        "manifest deleted",
        async (root) => Deno.remove(join(root, "ascmhl", (await manifestNames(root))[0]!)),
        /the chain file lists generation 1 as '0001_base_.*\.mhl', but '.*\/ascmhl\/0001_base_.*\.mhl' is missing/,
      ],
      [
        "chain rolled back",
        async (root) => {
          const path = join(root, "ascmhl", "ascmhl_chain.xml");
          const text = await Deno.readTextFile(path);
          await Deno.writeTextFile(
            path,
            text.replace(/\s*<hashlist sequencenr="2">[\s\S]*?<\/hashlist>/, ""),
          );
        },
        /the manifest '.*\/ascmhl\/0002_base_.*\.mhl' is not listed in the chain file .*rolled back/,
      ],
    ];
    for (const [label, damage, message] of cases) {
      const root = join(dir, label.replace(/ /g, "_"));
      await copyFixture(base, root);
      await damage(root);
      const before = await listTree(join(root, "ascmhl"));
      const run = await runCli(["verify", root]);
      assertEquals(run.code, 2, `${label}: ${run.stderr}`);
      assertMatch(run.stderr, message);
      assertNoTrace(run);
      assertEquals(await listTree(join(root, "ascmhl")), before, `${label}: nothing is written`);
    }
  });
});

Deno.test("a read-only delivery is verified and says no generation could be appended", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const out = join(dir, "out");
    assertEquals((await runCli(["copy", "--mhl", join(dir, "sh010"), out])).code, 0);
    const prefix = await asNobody(dir);
    assert(prefix !== null, "setpriv is needed to drop root privileges for this test");
    await new Deno.Command("chmod", { args: ["-R", "a+rX,go-w", out] }).output();
    const run = await runCli(["verify", out], { prefix });
    assertEquals(run.code, 0, run.stderr);
    assertMatch(run.stderr, /7 files: 7 ok, .*; not recorded \(cannot write .*permission denied\)/);
    assertNoTrace(run);
    const quiet = await runCli(["verify", "--no-record", out], { prefix });
    assertEquals(quiet.code, 0, quiet.stderr);
    assert(!quiet.stderr.includes("not recorded"), quiet.stderr);
    await flipByte(join(out, "plate", "sh010.1001.exr"));
    const bad = await runCli(["verify", out], { prefix });
    assertEquals(bad.code, 1);
    assertEquals(problems(bad), ["MISMATCH plate/sh010.1001.exr"]);
    assertEquals((await manifestNames(out)).length, 1);
  });
});

Deno.test("a full disk while recording leaves no half manifest, and a failed copy records no generation", async () => {
  const bed = await testbed();
  if (typeof bed === "string") {
    console.warn(`SKIPPED disk-full MHL test: ${bed}`);
    return;
  }
  await withTempDir(async (dir) => {
    const out = join(bed.tiny, `mhl-${crypto.randomUUID()}`);
    const filler = join(bed.tiny, `filler-${crypto.randomUUID()}`);
    try {
      await makeShot(join(dir, "sh010"));
      assertEquals((await runCli(["copy", "--mhl", join(dir, "sh010"), out])).code, 0);
      const before = await listTree(join(out, "ascmhl"));
      // Fill the volume to the last byte.
      const file = await Deno.open(filler, { write: true, create: true });
      const block = new Uint8Array(1024 * 1024);
      for (let size = block.length; size >= 1; size = Math.floor(size / 2)) {
        while (await file.write(block.subarray(0, size)).then(() => true, () => false)) {
          /* fill */
        }
      }
      file.close();
      const run = await runCli(["verify", out]);
      assertEquals(run.code, 0, run.stderr);
      assertMatch(
        run.stderr,
        /not recorded \(cannot write the ASC MHL manifest '.*': no space left on the device\)/,
      );
      assertEquals(await listTree(join(out, "ascmhl")), before, "no 0-byte or temporary manifest");
      assertEquals((await runCli(["verify", out])).code, 0, "the history is intact");
    } finally {
      await Deno.remove(filler).catch(() => {});
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  });
});

Deno.test("a --mhl copy with a failed file records no generation and says how to complete it", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const out = join(dir, "out");
    await Deno.mkdir(join(out, "plate"), { recursive: true });
    await Deno.writeTextFile(join(out, "plate", "sh010.1002.exr"), "someone else's frame");
    const run = await runCli(["apply", "--mhl"], {
      stdin: JSON.stringify({ mappings: [{ src: join(dir, "sh010"), dst: out }] }),
    });
    assertEquals(run.code, 1);
    assertMatch(
      run.stderr,
      /no ASC MHL generation for '.*out': 1 of its files were not delivered; rerun with --skip-existing or --update/,
    );
    assert(!(await Deno.stat(join(out, "ascmhl")).then(() => true, () => false)));
    // The manifest cannot be written: the copied files stay, the run fails, the message names it.
    const blocked = join(dir, "blocked");
    await Deno.mkdir(join(blocked, "ascmhl"), { recursive: true });
    const undo = await makeReadOnly(join(blocked, "ascmhl"));
    assert(undo !== null, "chattr +i (as root) or mode 0555 is needed for this test");
    try {
      const second = await runCli(["apply", "--mhl"], {
        stdin: JSON.stringify({ mappings: [{ src: join(dir, "sh010"), dst: blocked }] }),
      });
      assertEquals(second.code, 1);
      assertMatch(
        second.stderr,
        /failed: cannot write the ASC MHL manifest '.*blocked\/ascmhl\/0001_blocked_.*\.mhl': (operation not permitted|permission denied)/,
      );
      assertNoTrace(second);
      assertEquals(await listTree(join(blocked, "ascmhl")), []);
    } finally {
      await undo();
    }
    assertEquals((await listTree(join(blocked, "plate"))).length, 6, "the copied files stay");
  });
});

Deno.test("--mhl and verify never stop at Deno's permission prompt in a terminal", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "src"));
    await Deno.writeTextFile(join(dir, "src", "a.exr"), "pixels");
    for (
      const args of [["copy", "--mhl", join(dir, "src"), join(dir, "out")], [
        "verify",
        join(dir, "out"),
      ]]
    ) {
      // A pseudo-terminal, and a stdin that stays open: a prompt would wait for ever.
      const { code, screen: text } = await runCliInTerminal(args, {
        flags: ["--allow-read", "--allow-write"],
        timeoutMs: 20_000,
      });
      assertEquals(code, 0, text);
      assert(!/requests|Allow\?/.test(text), text);
    }
    assertMatch(
      await Deno.readTextFile(
        join(dir, "out", "ascmhl", (await manifestNames(join(dir, "out")))[0]!),
      ),
      /<hostname>unknown</,
    );
  });
});

Deno.test("a rerun of a finished --mhl delivery exits 0 and records nothing new", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    const out = join(dir, "out");
    assertEquals((await runCli(["copy", "--mhl", join(dir, "sh010"), out])).code, 0);
    const again = await runCli(["apply", "--mhl"], {
      stdin: JSON.stringify({ mappings: [{ src: join(dir, "sh010"), dst: out }] }),
    });
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stderr, /copied 0 of 7 files .*; 7 skipped$/m);
    assertEquals((await manifestNames(out)).length, 1);
  });
});
