import { basename, join } from "node:path";
import { isTempName, publish, tempPathFor, tempRunOf } from "../lib/fs/publish.ts";
import { ASYNC_FILE_OPS, type FileOps } from "../lib/fs/file_ops.ts";
import { RUN_ID } from "../lib/fs/temp_lease.ts";
import { assert, assertEquals, listTree, withTempDir } from "./_helpers.ts";

Deno.test("tempPathFor() gives hidden, unique names beside the destination that fit in 255 bytes", () => {
  const a = tempPathFor("/shots/sh010/plate.0001.exr");
  const b = tempPathFor("/shots/sh010/plate.0001.exr");
  assert(a !== b);
  assert(a.startsWith("/shots/sh010/.plate.0001.exr."));
  assert(isTempName(a) && !isTempName("/shots/sh010/plate.0001.exr"));
  const long = tempPathFor(`/x/${"é".repeat(127)}`);
  assert(new TextEncoder().encode(basename(long)).length <= 255);
  assert(isTempName(long));
  // Under this run's lease: its id in the name, unique by a counter.
  const leased = ["a", "b", "c"].map(() => tempPathFor("/shots/sh010/plate.0001.exr", true));
  assertEquals(new Set(leased).size, 3);
  for (const tmp of leased) {
    assert(tmp.startsWith("/shots/sh010/.plate.0001.exr."), tmp);
    assert(isTempName(tmp), tmp);
    assertEquals(tempRunOf(tmp), RUN_ID);
  }
  assertEquals(tempRunOf(a), null);
  assert(tempPathFor("plate.exr").startsWith(".plate.exr."), "a bare name stays in its folder");
});

Deno.test("publish() never clobbers an existing file unless overwriting", async () => {
  await withTempDir(async (dir) => {
    const dst = join(dir, "a.exr");
    await Deno.writeTextFile(dst, "old");
    const tmp = tempPathFor(dst);
    await Deno.writeTextFile(tmp, "new");
    assertEquals(await publish(tmp, dst, "error"), "exists");
    assertEquals(await Deno.readTextFile(dst), "old");
    assertEquals(await publish(tmp, dst, "overwrite"), "published");
    assertEquals(await Deno.readTextFile(dst), "new");
    assertEquals(await listTree(dir), ["a.exr"]);
  });
});

Deno.test("publish() remembers a folder whose link is refused, and still never clobbers there", async () => {
  await withTempDir(async (dir) => {
    // A file system that refuses hard links, as the SMB and NFS clients of the realnet bed do:
    // the calls are Deno's own, on real files, but `link` fails with EPERM.
    const links: string[] = [];
    const ops: FileOps = {
      ...ASYNC_FILE_OPS,
      link: (_from, to) => {
        links.push(to);
        return Promise.reject(Object.assign(new Error("link refused"), { code: "EPERM" }));
      },
    };
    const linkless = new Set<string>();
    const names = ["a.exr", "b.exr", "c.exr"];
    for (const name of names) {
      const tmp = tempPathFor(join(dir, name));
      await Deno.writeTextFile(tmp, `frame ${name}`);
      assertEquals(await publish(tmp, join(dir, name), "error", ops, linkless), "published");
    }
    assertEquals(links, [join(dir, "a.exr")], "asked once for the folder");
    assertEquals([...linkless], [dir]);
    // Remembered, the folder still refuses to replace a name that exists.
    const tmp = tempPathFor(join(dir, "a.exr"));
    await Deno.writeTextFile(tmp, "newer");
    assertEquals(await publish(tmp, join(dir, "a.exr"), "error", ops, linkless), "exists");
    assertEquals(await Deno.readTextFile(join(dir, "a.exr")), "frame a.exr");
    await Deno.remove(tmp);
    assertEquals(await listTree(dir), names);
    for (const name of names) {
      assertEquals(await Deno.readTextFile(join(dir, name)), `frame ${name}`);
    }
  });
});
