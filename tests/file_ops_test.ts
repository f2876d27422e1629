// Small local files take synchronous calls; shares keep Deno's asynchronous ones.
import { join, resolve } from "node:path";
import { absolutePath } from "../lib/fs/absolute_path.ts";
import {
  fileSystemKind,
  isLocalFileSystem,
  SYNC_FILE_OPS,
  turn,
  TURN_EVERY_MS,
} from "../lib/fs/file_ops.ts";
import { type FileSystemStats, statFileSystem } from "../lib/fs/statfs.ts";
import { ALIGN_BYTES, alignedBytes } from "../lib/fs/aligned_bytes.ts";
import { Slab } from "../lib/workers/slab.ts";
import { copyAll } from "./_outcomes.ts";
import {
  assert,
  assertEquals,
  assertSameTree,
  spawnCli,
  testbed,
  waitFor,
  withTempDir,
} from "./_helpers.ts";

const STATFS_MODULE = new URL("../lib/fs/statfs.ts", import.meta.url).href;
const bed = await testbed();
if (typeof bed === "string") console.warn(`SKIPPED local/share detection: ${bed}`);

Deno.test({
  name:
    "the bed's tmpfs and XFS volumes are local, its FUSE share is a share, a missing folder cannot be told",
  ignore: typeof bed === "string",
  fn: async () => {
    if (typeof bed === "string") return;
    assertEquals(await isLocalFileSystem(bed.local), true);
    assertEquals(await isLocalFileSystem(bed.reflink), true);
    assertEquals(await isLocalFileSystem(bed.net), false);
    assertEquals(await isLocalFileSystem(join(bed.local, "no such folder")), false);
    assertEquals(
      await Promise.all([bed.local, bed.reflink, bed.net].map(fileSystemKind)),
      ["local", "local", "share"],
    );
    assertEquals(await fileSystemKind(join(bed.local, "no such folder")), "unknown");
  },
});

Deno.test({
  name: "statfs through libc says what Node's statfs says, on every bed volume",
  ignore: typeof bed === "string",
  fn: async () => {
    if (typeof bed === "string") return;
    const paths = [bed.local, bed.reflink, bed.net, join(bed.local, "no such folder")];
    // The same module without --allow-ffi takes Node's fs.statfs.
    const script = `import { statFileSystem } from ${JSON.stringify(STATFS_MODULE)};
      console.log(JSON.stringify(await Promise.all(Deno.args.map(statFileSystem))));`;
    const viaNode = async (flags: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...flags,
          `data:application/typescript,${encodeURIComponent(script)}`,
          ...paths,
        ],
        stdout: "piped",
      }).output();
      assert(out.success, `deno run ${flags.join(" ")} failed`);
      return JSON.parse(new TextDecoder().decode(out.stdout)) as (FileSystemStats | null)[];
    };
    const node = await viaNode(["--allow-read", "--allow-sys=statfs"]);
    const none = await viaNode(["--allow-read", "--allow-ffi"]);
    const libc = await Promise.all(paths.map(statFileSystem));
    assertEquals(none, [null, null, null, null], "without --allow-sys=statfs nothing is asked");
    assertEquals(libc[3], null);
    assertEquals(node[3], null);
    for (const [i, path] of paths.slice(0, 3).entries()) {
      const [a, b] = [libc[i]!, node[i]!];
      assert(a !== null && b !== null, path);
      assertEquals([a.type, a.blockBytes], [b.type, b.blockBytes], path);
      // Free space moves as other tests write; a few MiB either way.
      const apart = Math.abs(a.availableBlocks - b.availableBlocks) * a.blockBytes;
      assert(apart < 256 * 1024 * 1024, `${path}: ${apart} bytes apart`);
    }
    assertEquals(libc[0]!.type, 0x01021994, "tmpfs");
    assertEquals(libc[1]!.type, 0x58465342, "XFS");
  },
});

Deno.test("synchronous calls fail as rejected promises, with Deno's error classes", async () => {
  const missing = "/no/such/ferry/path";
  let rejected: unknown;
  await SYNC_FILE_OPS.stat(missing).catch((error) => rejected = error);
  assert(rejected instanceof Deno.errors.NotFound, String(rejected));
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a"), "a");
    await Deno.writeTextFile(join(dir, "b"), "b");
    let exists: unknown;
    await SYNC_FILE_OPS.link(join(dir, "a"), join(dir, "b")).catch((error) => exists = error);
    assert(exists instanceof Deno.errors.AlreadyExists, String(exists));
  });
});

Deno.test({
  name:
    "small files copy the same through either kind of call: local → local, local → share, share → local",
  ignore: typeof bed === "string",
  fn: async () => {
    if (typeof bed === "string") return;
    const id = crypto.randomUUID();
    const roots = [join(bed.local, `ops-${id}`), join(bed.net, `ops-${id}`)];
    try {
      const src = join(roots[0]!, "src");
      await Deno.mkdir(join(src, "sub"), { recursive: true });
      for (let i = 0; i < 40; i++) {
        await Deno.writeTextFile(join(src, i % 2 ? "sub" : ".", `f${i}.exr`), "x".repeat(i * 999));
      }
      await Deno.writeFile(join(src, "at-limit.bin"), new Uint8Array(256 * 1024).fill(7));
      await Deno.writeFile(join(src, "above.bin"), new Uint8Array(256 * 1024 + 1).fill(9));
      for (const [from, to] of [[src, join(roots[0]!, "copy")], [src, join(roots[1]!, "copy")]]) {
        const result = await copyAll(from!, to!);
        assert(result.ok, JSON.stringify(result.failures.map((f) => f.reason)));
        assertEquals(result.files.length, 42);
        await assertSameTree(to!, from!);
      }
      const back = join(roots[0]!, "back");
      assert((await copyAll(join(roots[1]!, "copy"), back)).ok);
      await assertSameTree(back, src);
    } finally {
      for (const root of roots) await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("turn(): a caller that comes while a turn is under way waits for it too", async () => {
  // Many files are in flight at once in the small-file lane. Were a later
  // caller let through while another waited for its turn, the callers would
  // keep the microtask queue busy and the timer (and with it Ctrl-C) would
  // fire only once every one of them was waiting.
  const start = performance.now();
  while (performance.now() - start <= TURN_EVERY_MS) Deno.statSync(Deno.cwd());
  const first = turn();
  let firstDone = false;
  first.then(() => firstDone = true);
  await turn();
  assert(firstDone, "the second caller went on before the turn was given");
  // Right after a turn, callers go on at once.
  let again = false;
  turn().then(() => again = true);
  await Promise.resolve();
  assert(again, "a caller right after a turn waited");
});

Deno.test("Ctrl-C during a long run of small local files stops it there: the event loop keeps its turns", async () => {
  await withTempDir(async (dir) => {
    // One flat folder of many empty files on a local file system: every call
    // is synchronous, and without turns of the event loop the signal would
    // wait until the whole folder was copied.
    const src = join(dir, "flat");
    await Deno.mkdir(src);
    const count = 20_000;
    for (let i = 0; i < count; i++) Deno.writeFileSync(join(src, `f${i}`), new Uint8Array(0));
    const out = join(dir, "out");
    const child = spawnCli(["copy", "--quiet", src, out]);
    // A few hundred files published: the copy is in its synchronous stride.
    const copying = await waitFor(async () => {
      let seen = 0;
      try {
        for await (const _ of Deno.readDir(out)) if (++seen >= 300) return true;
      } catch {
        // not made yet
      }
      return false;
    }, 60_000);
    assert(copying, "the copy started");
    child.kill("SIGINT");
    assertEquals((await child.status).code, 130);
    const published = (await Array.fromAsync(Deno.readDir(out))).map((e) => e.name);
    assert(published.length < count, `stopped before the end: ${published.length} of ${count}`);
    assert(!published.some((name) => name.endsWith(".ferry-partial")), "no temporary left");
  });
});

Deno.test("copy and hash buffers start on a page where FFI is granted, and are plain buffers where it is not", async () => {
  for (const length of [ALIGN_BYTES, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
    const buffer = alignedBytes(length);
    assertEquals(buffer.length, length);
    const address = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
    assertEquals(address % BigInt(ALIGN_BYTES), 0n);
    assert(buffer.every((b) => b === 0));
  }
  // A slab's data (shared memory read once for several destinations) too, as workers see it.
  const slab = Slab.create(1024 * 1024);
  const shared = new Slab(slab.buffer);
  assertEquals([shared.data.length, shared.data.byteOffset], [1024 * 1024, slab.data.byteOffset]);
  const at = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(shared.data)));
  assertEquals(at % BigInt(ALIGN_BYTES), 0n);
  // Without --allow-ffi the address cannot be known: a plain buffer of the length asked.
  await withTempDir(async (dir) => {
    const script = join(dir, "plain.ts");
    const url = new URL("../lib/fs/aligned_bytes.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `const { alignedBytes } = await import("${url}");\n` +
        `console.log(Deno.permissions.querySync({ name: "ffi" }).state, alignedBytes(1048576).length);\n`,
    );
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", script],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assertEquals(code, 0);
    assertEquals(new TextDecoder().decode(stdout).trim(), "prompt 1048576");
  });
});

Deno.test("absolutePath() gives node:path's resolve() for relative, absolute, dotted and trailing-slash paths", () => {
  const paths = [
    "plates",
    "./plates/sh010/",
    "../renders//v002/.",
    "/",
    "/plates/../renders/",
    ".",
  ];
  for (const path of paths) assertEquals(absolutePath(path), resolve(path), path);
  assertEquals(absolutePath("plates/"), join(Deno.cwd(), "plates"));
});
