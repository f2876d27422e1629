import { join } from "node:path";
import { createHasher, type Hasher } from "../lib/integrity/hash.ts";
import { libxxhashVersion } from "../lib/integrity/libxxhash.ts";
import { MIB } from "../lib/size.ts";
import { isLocalFileSystem } from "../lib/fs/file_ops.ts";
import {
  assert,
  assertEquals,
  assertThrows,
  ROOT,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

const XXHSUM_FLAG = { xxh64: "-H1", xxh3: "-H3", xxh128: "-H2" } as const;
const ALGORITHMS = ["xxh64", "xxh3", "xxh128"] as const;

/** The digest `xxhsum` prints for a file, or `null` where xxhsum is missing. */
async function xxhsum(algorithm: keyof typeof XXHSUM_FLAG, path: string): Promise<string | null> {
  try {
    const out = await new Deno.Command("xxhsum", {
      args: [XXHSUM_FLAG[algorithm], path],
      stdout: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return /([0-9a-f]{16,32})\s*$/.exec(text)?.[1] ?? /^([0-9a-f]{16,32})\s/.exec(text)?.[1] ??
      null;
  } catch {
    return null;
  }
}

const version = libxxhashVersion();
if (version === null) {
  console.warn("SKIPPED libxxhash comparisons: install Debian's libxxhash0 (the xxhash package)");
}
const xxhsumMissing = await xxhsum("xxh64", "/dev/null") === null;
if (xxhsumMissing) console.warn("SKIPPED xxhsum comparisons: install Debian's xxhash package");

/** Feeds `data` in uneven pieces, moving the state to a second hasher half-way. */
function feed(first: Hasher, second: Hasher, data: Uint8Array): string {
  const half = Math.floor(data.length / 2);
  for (let at = 0, step = 1; at < half; at += step, step = step * 3 + 1) {
    first.update(data.subarray(at, Math.min(half, at + step)));
  }
  second.load(first.save());
  second.update(data.subarray(half));
  return second.digest();
}

// Sizes around XXH3's internal boundaries (16, 128, 240 bytes; its 1 KiB
// stripes and 64 KiB blocks) and a few MiB.
const SIZES = [0, 1, 3, 16, 17, 128, 129, 240, 241, 1024, 65_536 + 7, 3 * MIB + 5];

Deno.test({
  name: "libxxhash and hash-wasm give the same xxHash digests as xxhsum, whole or moved half-way",
  ignore: version === null || xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      for (const size of SIZES) {
        const data = crypto.getRandomValues(new Uint8Array(Math.min(size, 65_536)));
        const bytes = new Uint8Array(size);
        for (let at = 0; at < size; at += data.length) bytes.set(data.subarray(0, size - at), at);
        const path = join(dir, `f${size}`);
        await Deno.writeFile(path, bytes);
        for (const algorithm of ALGORITHMS) {
          const expected = await xxhsum(algorithm, path);
          for (const implementation of ["libxxhash", "hash-wasm"] as const) {
            const whole = await createHasher(algorithm, { implementation });
            whole.update(bytes);
            assertEquals(whole.digest(), expected, `${implementation} ${algorithm} ${size} B`);
            const moved = feed(
              await createHasher(algorithm, { implementation }),
              await createHasher(algorithm, { implementation }),
              bytes,
            );
            assertEquals(moved, expected, `${implementation} ${algorithm} ${size} B, moved`);
          }
        }
      }
    });
  },
});

Deno.test({
  name: "a libxxhash hasher starts over on reset and refuses a state hash-wasm saved",
  ignore: version === null,
  async fn(): Promise<void> {
    for (const algorithm of ALGORITHMS) {
      const native = await createHasher(algorithm, { implementation: "libxxhash" });
      const wasm = await createHasher(algorithm, { implementation: "hash-wasm" });
      native.update(new TextEncoder().encode("junk"));
      native.reset();
      native.update(new TextEncoder().encode("hello world\n"));
      wasm.update(new TextEncoder().encode("hello world\n"));
      const saved = wasm.save();
      assertEquals(native.digest(), wasm.digest(), algorithm);
      assertThrows(() => native.load(saved), /another implementation/);
    }
  },
});

Deno.test("asking for libxxhash where it cannot compute the algorithm is refused", async () => {
  let error: unknown;
  await createHasher("md5", { implementation: "libxxhash" }).catch((caught) => error = caught);
  assert(error instanceof RangeError && /does not compute md5/.test(error.message), `${error}`);
});

Deno.test({
  name: "ferry hash gives the same lines with --allow-ffi (libxxhash) as without (hash-wasm)",
  ignore: xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      // One file on the main thread (≤ 1 MiB), two read by workers in ranges.
      const sizes = [1000, 9 * MIB + 1, 20 * MIB];
      const paths = sizes.map((size) => join(dir, `clip${size}.mov`));
      for (const [i, size] of sizes.entries()) await writeRandomFile(paths[i]!, size);
      for (const algorithm of ALGORITHMS) {
        const native = await runCli(["hash", "--hash", algorithm, ...paths], {
          flags: ["--allow-read", "--allow-ffi"],
        });
        const wasm = await runCli(["hash", "--hash", algorithm, ...paths], {
          flags: ["--allow-read"],
        });
        assertEquals([native.code, wasm.code], [0, 0], native.stderr + wasm.stderr);
        assertEquals(native.stdout, wasm.stdout, algorithm);
        const lines = native.stdout.trim().split("\n");
        assertEquals(lines.length, paths.length);
        for (const [i, path] of paths.entries()) {
          const digest = await xxhsum(algorithm, path);
          assert(digest !== null && lines[i]!.includes(digest), `${algorithm}: ${lines[i]}`);
        }
      }
    });
  },
});

Deno.test({
  name: "ferry hash on one core reads local files on its main thread, with xxhsum's lines",
  ignore: xxhsumMissing,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      assert(await isLocalFileSystem(dir), `${dir} is not on a local file system`);
      // Sizes around the 1 MiB read: one read, a short last read, many reads.
      const sizes = [MIB + 1, 2 * MIB, 7 * MIB + 3, 12 * MIB];
      const paths = sizes.map((_, i) => join(dir, `frame.${1001 + i}.exr`));
      for (const [i, size] of sizes.entries()) await writeRandomFile(paths[i]!, size);
      const oneCore = ["taskset", "-c", "0", Deno.execPath(), ROOT];
      for (const ffi of [true, false]) {
        const run = await runCli(["hash", "--hash", "xxh128", dir], {
          flags: ["--allow-read", "--allow-sys=statfs", ...(ffi ? ["--allow-ffi"] : [])],
          prefix: oneCore,
        });
        assertEquals(run.code, 0, run.stderr);
        const lines = run.stdout.trim().split("\n");
        assertEquals(lines.length, paths.length);
        for (const [i, path] of paths.entries()) {
          assertEquals(lines[i], `${await xxhsum("xxh128", path)}  ${path}`, `ffi ${ffi}`);
        }
      }
    });
  },
});
