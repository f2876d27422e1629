import { join } from "node:path";
import { checksumLine, FileHasher, hashFile } from "../mod.ts";
import { c4FromDigest, createHasher } from "../lib/integrity/hash.ts";
import { MIB } from "../lib/size.ts";
import { copyAll } from "./_outcomes.ts";
import {
  assert,
  assertEquals,
  assertRejectsWith,
  ROOT,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** The standard tool for each algorithm, and how to read its output. */
const TOOLS: Record<string, [string, string[]]> = {
  xxh64: ["xxhsum", ["-H1"]],
  xxh3: ["xxhsum", ["-H3"]],
  xxh128: ["xxhsum", ["-H2"]],
  md5: ["md5sum", []],
  sha1: ["sha1sum", []],
};

async function toolDigest(algorithm: string, path: string): Promise<string | null> {
  const [tool, args] = TOOLS[algorithm]!;
  try {
    const out = await new Deno.Command(tool, { args: [...args, path], stdout: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return /([0-9a-f]{8,})\s*$/.exec(text)?.[1] ?? /^([0-9a-f]+)\s/.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}

const xxhsumMissing = await toolDigest("xxh64", "/dev/null") === null;
if (xxhsumMissing) console.warn("SKIPPED xxhsum comparisons: install Debian's xxhash package");

// Files up to one buffer (1 MiB) are hashed on the main thread, larger ones by
// the workers in 8 MiB ranges; the sizes sit on both sides of each boundary.
const SIZES = [0, 1, MIB, MIB + 1, 8 * MIB - 1, 8 * MIB, 8 * MIB + 1, 10 * MIB, 70 * MIB + 3];

Deno.test({
  name: "digests computed during a copy equal xxhsum, md5sum and sha1sum on the same files",
  ignore: xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "src");
      await Deno.mkdir(src);
      for (const size of SIZES) await writeRandomFile(join(src, `f${size}.bin`), size);
      for (const algorithm of ["xxh64", "xxh3", "xxh128", "md5", "sha1"] as const) {
        const dst = join(dir, algorithm);
        const result = await copyAll(src, dst, { hash: algorithm, maxWorkers: 4 });
        assert(result.ok);
        for (const file of result.files) {
          assertEquals(file.hash?.algorithm, algorithm);
          assertEquals(
            file.hash?.digest,
            await toolDigest(algorithm, file.src),
            `${algorithm} ${file.src}`,
          );
          assertEquals(await hashFile(file.dst, algorithm), file.hash?.digest);
        }
      }
    });
  },
});

Deno.test({
  name: "small files verified side by side each get their own digest (one hasher, reused)",
  ignore: xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "src");
      await Deno.mkdir(src);
      for (let i = 0; i < 40; i++) await writeRandomFile(join(src, `f${i}.dpx`), 997 * i * i);
      const result = await copyAll(src, join(dir, "dst"), {
        verify: "source",
        smallFileWorkers: 16,
      });
      assert(result.ok);
      assertEquals(result.files.length, 40);
      for (const file of result.files) {
        assertEquals(file.hash?.verified, true, file.src);
        assertEquals(file.hash?.digest, await toolDigest("xxh64", file.src), file.src);
      }
    });
  },
});

Deno.test({
  name: "FileHasher hashes files side by side, on the main thread and on workers, as xxhsum does",
  ignore: xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const paths = SIZES.map((size) => join(dir, `f${size}.bin`));
      for (const [i, size] of SIZES.entries()) await writeRandomFile(paths[i]!, size);
      await using hasher = new FileHasher({ workers: 3 });
      const digests = await Promise.all(paths.map((path) => hasher.hash(path, "xxh64")));
      for (const [i, path] of paths.entries()) {
        assertEquals(digests[i], await toolDigest("xxh64", path), path);
      }
      await assertRejectsWith(
        hasher.hash(join(dir, "gone.bin"), "xxh64"),
        Deno.errors.NotFound,
        /gone\.bin/,
      );
    });
  },
});

Deno.test("every npm package is loaded at the exact version deno.json pins", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const users: Record<string, string> = {
    "hash-wasm": "lib/integrity/hash.ts",
    "saxes": "lib/integrity/mhl/xml_reader.ts",
    "ignore": "lib/integrity/mhl/ignore_spec.ts",
  };
  assertEquals(Object.keys(config.imports).sort(), Object.keys(users).sort());
  for (const [name, file] of Object.entries(users)) {
    const pinned: string = config.imports[name];
    assert(new RegExp(`^npm:${name}@\\d+\\.\\d+\\.\\d+$`).test(pinned), pinned);
    const source = await Deno.readTextFile(join(ROOT, file));
    const used = [...source.matchAll(new RegExp(`"(npm:${name}[^"]*)"`, "g"))].map((m) => m[1]);
    assert(used.length > 0, `${file} names ${name}`);
    for (const specifier of used) assertEquals(specifier, pinned);
  }
});

Deno.test("c4 digests match the published C4 ID test vectors", async () => {
  const empty = await createHasher("c4");
  assertEquals(
    empty.digest(),
    "c459dsjfscH38cYeXXYogktxf4Cd9ibshE3BHUo6a58hBXmRQdZrAkZzsWcbWtDg5oQstpDuni4Hirj75GEmTc1sFT",
  );
  const foo = await createHasher("c4");
  foo.update(new TextEncoder().encode("foo"));
  assertEquals(
    foo.digest(),
    "c45xZeXwMSpqXjpDumcHMA6mhoAmGHkUo7r9WmN2UgSEQzj9KjgseaQdkEJ11fGb5S1WEENcV3q8RFWwEeVpC7Fjk2",
  );
  assertEquals(c4FromDigest(new Uint8Array(64)), "c4" + "1".repeat(88));
});

Deno.test("a hash state saved after some bytes continues to the same digest elsewhere", async () => {
  const data = crypto.getRandomValues(new Uint8Array(50_000));
  for (const algorithm of ["xxh64", "xxh3", "xxh128", "md5", "sha1", "c4"] as const) {
    const whole = await createHasher(algorithm);
    whole.update(data);
    const first = await createHasher(algorithm);
    first.update(data.subarray(0, 12_345));
    const second = await createHasher(algorithm);
    second.load(first.save());
    second.update(data.subarray(12_345));
    assertEquals(second.digest(), whole.digest(), algorithm);
  }
});

Deno.test({
  name: "ferry hash prints lines that xxhsum -c accepts",
  ignore: xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      await Deno.mkdir(join(dir, "plate"));
      // The first file is read by workers and ends last; its line still comes first.
      await writeRandomFile(join(dir, "plate", "a.mov"), 20 * MIB + 1);
      for (let i = 0; i < 3; i++) await writeRandomFile(join(dir, "plate", `f ${i}.exr`), 1000 * i);
      for (const [algorithm, flag] of [["xxh64", "-H1"], ["xxh3", "-H3"], ["xxh128", "-H2"]]) {
        const run = await runCli(["hash", "--hash", algorithm!, "plate"], { cwd: dir });
        assertEquals(run.code, 0, run.stderr);
        const names = run.stdout.trim().split("\n").map((line) => /plate\/([^)]*)/.exec(line)?.[1]);
        assertEquals(names, ["a.mov", "f 0.exr", "f 1.exr", "f 2.exr"]);
        await Deno.writeTextFile(join(dir, "sums"), run.stdout);
        const check = await new Deno.Command("xxhsum", {
          args: [flag!, "-c", "sums"],
          cwd: dir,
          stdout: "piped",
        })
          .output();
        assertEquals(check.code, 0, new TextDecoder().decode(check.stdout));
      }
      assertEquals(checksumLine("md5", "abc", "x y"), "abc  x y");
    });
  },
});
