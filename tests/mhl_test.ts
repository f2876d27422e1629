import { join } from "node:path";
import { compareTrees, type FileCheck, verifyTree } from "../mod.ts";
import { MIB } from "../lib/size.ts";
import { copyAll } from "./_outcomes.ts";
import { latestManifest, noSchemaCheck, validate } from "./_mhl.ts";
import {
  asNobody,
  assert,
  assertEquals,
  assertMatch,
  listTree,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

async function makeShot(root: string): Promise<void> {
  await Deno.mkdir(join(root, "plate"), { recursive: true });
  await Deno.mkdir(join(root, "empty"));
  for (let i = 1; i <= 5; i++) {
    await writeRandomFile(join(root, "plate", `sh010.${1000 + i}.exr`), i * 100_000);
  }
  await writeRandomFile(join(root, "sh010 & v001.mov"), 30 * MIB);
  await Deno.writeTextFile(join(root, ".DS_Store"), "finder junk");
}

Deno.test({
  name:
    "copy --verify source --mhl: a valid ASC MHL whose digests match xxhsum, and ferry verify passes",
  ignore: noSchemaCheck !== null,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      await makeShot(join(dir, "sh010"));
      const run = await runCli([
        "copy",
        "--verify",
        "source",
        "--mhl",
        join(dir, "sh010"),
        join(dir, "out"),
      ]);
      assertEquals(run.code, 0, run.stderr);
      const out = join(dir, "out");
      assertEquals((await listTree(join(out, "ascmhl"))).length, 2, "one manifest and the chain");
      await validate(out, dir);
      const manifest = await latestManifest(out);
      assertEquals(manifest.sequence, 1);
      assertMatch(manifest.file, /^0001_out_\d{4}-\d\d-\d\d_\d{6}Z\.mhl$/);
      const paths = manifest.entries.map((e) => e.path).sort();
      assertEquals(paths, [
        ...[1, 2, 3, 4, 5].map((i) => `plate/sh010.${1000 + i}.exr`),
        "sh010 & v001.mov",
      ]);
      for (const entry of manifest.entries) {
        const xxh = await new Deno.Command("xxhsum", {
          args: ["-H1", join(out, entry.path)],
          stdout: "piped",
        })
          .output();
        assertEquals(entry.hashes, [{
          algorithm: "xxh64",
          digest: new TextDecoder().decode(xxh.stdout).split(" ")[0]!,
          action: "original",
        }]);
      }
      const verify = await runCli(["verify", out]);
      assertEquals(verify.code, 0, verify.stdout + verify.stderr);
      assertMatch(
        verify.stderr,
        /6 files: 6 ok, 0 mismatch, 0 missing, 0 new, 0 unreadable; recorded in .*0002_out_/,
      );
      await validate(out, dir);
    });
  },
});

Deno.test({
  name:
    "ferry verify fails on one flipped byte, names the file, and records failed in the next generation",
  ignore: noSchemaCheck !== null,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      await makeShot(join(dir, "sh010"));
      const result = await copyAll(join(dir, "sh010"), join(dir, "out"), {
        mhl: true,
        hash: "xxh128",
      });
      assert(result.ok);
      const victim = join(dir, "out", "plate", "sh010.1003.exr");
      const file = await Deno.open(victim, { read: true, write: true });
      const byte = new Uint8Array(1);
      await file.seek(1234, Deno.SeekMode.Start);
      await file.read(byte);
      await file.seek(1234, Deno.SeekMode.Start);
      await file.write(new Uint8Array([byte[0]! ^ 0xff]));
      file.close();
      await Deno.remove(join(dir, "out", "sh010 & v001.mov"));
      await Deno.writeTextFile(join(dir, "out", "plate", "extra.exr"), "new");
      const run = await runCli(["verify", join(dir, "out")]);
      assertEquals(run.code, 1);
      assertMatch(
        run.stdout,
        /^MISMATCH +plate\/sh010\.1003\.exr \(expected [0-9a-f]{32}, found [0-9a-f]{32}\)$/m,
      );
      assertMatch(run.stdout, /^MISSING +sh010 & v001\.mov$/m);
      assertMatch(run.stdout, /^NEW +plate\/extra\.exr$/m);
      const latest = await latestManifest(join(dir, "out"));
      assertEquals(latest.sequence, 2);
      const actions = Object.fromEntries(latest.entries.map((e) => [e.path, e.hashes[0]?.action]));
      assertEquals(actions["plate/sh010.1003.exr"], "failed");
      assertEquals(actions["plate/sh010.1001.exr"], "verified");
      assertEquals(actions["plate/extra.exr"], undefined, "a new file is reported, not recorded");
      await validate(join(dir, "out"), dir);
    });
  },
});

Deno.test("ferry verify reports unreadable files with the cause, checks the rest, exits 1", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    assert((await copyAll(join(dir, "sh010"), join(dir, "out"), { mhl: true })).ok);
    const prefix = await asNobody(dir);
    assert(prefix !== null, "setpriv is needed to drop root privileges for this test");
    // One file read on the main thread (100 kB), one by the workers (30 MiB).
    await Deno.chmod(join(dir, "out", "plate", "sh010.1002.exr"), 0o000);
    await Deno.chmod(join(dir, "out", "sh010 & v001.mov"), 0o000);
    const run = await runCli(["verify", join(dir, "out")], { prefix });
    assertEquals(run.code, 1, run.stderr);
    for (const name of ["plate/sh010\\.1002\\.exr", "sh010 & v001\\.mov"]) {
      assertMatch(
        run.stdout,
        new RegExp(
          `^UNREADABLE ${name} \\(cannot read '.*out/${name}': permission denied\\)$`,
          "m",
        ),
      );
    }
    assertMatch(run.stdout, /^OK +plate\/sh010\.1005\.exr$/m);
    assertMatch(run.stderr, /6 files: 4 ok, 0 mismatch, 0 missing, 0 new, 2 unreadable; recorded/);
    // The same against the source tree, without MHL.
    const against = await runCli(["verify", join(dir, "out"), "--against", join(dir, "sh010")], {
      prefix,
    });
    assertEquals(against.code, 1, against.stderr);
    assertMatch(
      against.stdout,
      /^UNREADABLE sh010 & v001\.mov \(cannot read '.*out\/sh010 & v001\.mov': permission denied\)$/m,
    );
    assertMatch(against.stderr, /6 files: 4 ok, 0 mismatch, 0 missing, 0 new, 2 unreadable$/m);
  });
});

Deno.test("verifyTree() and compareTrees() hand each check to onCheck once, as it ends", async () => {
  await withTempDir(async (dir) => {
    await makeShot(join(dir, "sh010"));
    assert((await copyAll(join(dir, "sh010"), join(dir, "out"), { mhl: true })).ok);
    await Deno.remove(join(dir, "out", "plate", "sh010.1004.exr"));
    const byPath = (checks: FileCheck[]) => [...checks].sort((a, b) => a.path < b.path ? -1 : 1);
    const seen: FileCheck[] = [];
    const report = await verifyTree(join(dir, "out"), { onCheck: (c) => seen.push(c) });
    assertEquals(byPath(seen), report.files);
    assertEquals(report.files.filter((f) => f.status === "missing").length, 1);
    const compared: FileCheck[] = [];
    const checks = await compareTrees(join(dir, "sh010"), join(dir, "out"), {
      onCheck: (c) => compared.push(c),
    });
    assertEquals(byPath(compared), checks);
    assertEquals(checks.length, 6);
  });
});

Deno.test("verifyTree() refuses a folder without history and a manifest changed after writing", async () => {
  await withTempDir(async (dir) => {
    let message = "";
    try {
      await verifyTree(dir);
    } catch (error) {
      message = (error as Error).message;
    }
    assertMatch(message, /Cannot verify '.*': it has no ASC MHL history/);
    await Deno.mkdir(join(dir, "src"));
    await writeRandomFile(join(dir, "src", "a.exr"), 10);
    await copyAll(join(dir, "src"), join(dir, "out"), { mhl: true });
    const folder = join(dir, "out", "ascmhl");
    const name = (await listTree(folder)).find((n) => n.endsWith(".mhl"))!;
    const text = await Deno.readTextFile(join(folder, name));
    await Deno.writeTextFile(join(folder, name), text.replace("<hostname>", "<hostname>x"));
    try {
      await verifyTree(join(dir, "out"));
      message = "";
    } catch (error) {
      message = (error as Error).message;
    }
    assertMatch(message, /was changed after it was written/);
  });
});

Deno.test("verify source: a copy corrupted after writing fails as corrupted and is never published", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "movie.mov"), 24 * MIB);
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const result = await copyAll(join(dir, "movie.mov"), join(out, "movie.mov"), {
      verify: "source",
      cutoffBytes: MIB,
      onChunk: (_file, chunk) => {
        if (chunk.offset + chunk.length < 24 * MIB) return;
        // The last range is on disk: damage the temporary file before the re-hash reads it.
        const tmp = [...Deno.readDirSync(out)].find((e) => e.name.endsWith(".ferry-partial"))!;
        const file = Deno.openSync(join(out, tmp.name), { write: true });
        file.writeSync(new Uint8Array([1, 2, 3]));
        file.close();
      },
    });
    assertEquals(result.files[0]?.status, "failed");
    assertEquals(result.files[0]?.error?.code, "corrupted");
    assertMatch(
      result.files[0]!.error!.message,
      /corrupted on transfer: the source's xxh64 is [0-9a-f]{16}, the copy's is [0-9a-f]{16}$/,
    );
    assertEquals(await listTree(out), []);
  });
});
