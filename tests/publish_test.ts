import { basename, join } from "node:path";
import { isTempName, publish, tempPathFor, tempRunOf } from "../lib/fs/publish.ts";
import { ASYNC_FILE_OPS, type FileOps } from "../lib/fs/file_ops.ts";
import { RUN_ID } from "../lib/fs/temp_lease.ts";
import { FolderLinks } from "../lib/fs/folder_links.ts";
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

Deno.test("publish() asks a folder whose link is refused once, even for files published at the same time, and still never clobbers there", async () => {
  await withTempDir(async (dir) => {
    // A file system that refuses hard links, as the SMB and NFS clients of the realnet bed do:
    // the calls are Deno's own, on real files, but `link` fails with EPERM, a round trip later.
    const links: string[] = [];
    const ops: FileOps = {
      ...ASYNC_FILE_OPS,
      link: async (_from, to) => {
        links.push(to);
        await new Promise((done) => setTimeout(done, 20));
        throw Object.assign(new Error("link refused"), { code: "EPERM" });
      },
    };
    const memory = new FolderLinks();
    const names = ["a.exr", "b.exr", "c.exr"];
    const tmps = names.map((name) => tempPathFor(join(dir, name)));
    for (const [i, tmp] of tmps.entries()) await Deno.writeTextFile(tmp, `frame ${names[i]}`);
    // Three files of one folder published at once: one asks, the other two wait for its answer.
    const outcomes = await Promise.all(
      names.map((name, i) => publish(tmps[i]!, join(dir, name), "error", ops, memory)),
    );
    assertEquals(outcomes, ["published", "published", "published"]);
    assertEquals(links.length, 1, `asked once for the folder: ${links.join(", ")}`);
    assert(memory.refuses(dir));
    // Remembered, the folder still refuses to replace a name that exists.
    const tmp = tempPathFor(join(dir, "a.exr"));
    await Deno.writeTextFile(tmp, "newer");
    assertEquals(await publish(tmp, join(dir, "a.exr"), "error", ops, memory), "exists");
    assertEquals(await Deno.readTextFile(join(dir, "a.exr")), "frame a.exr");
    assertEquals(links.length, 1);
    await Deno.remove(tmp);
    assertEquals(await listTree(dir), names);
    for (const name of names) {
      assertEquals(await Deno.readTextFile(join(dir, name)), `frame ${name}`);
    }
  });
});

Deno.test("publish() in a folder that takes links: files published at once link at once, without waiting on each other", async () => {
  await withTempDir(async (dir) => {
    let out = 0;
    let most = 0;
    const ops: FileOps = {
      ...ASYNC_FILE_OPS,
      link: async (from, to) => {
        most = Math.max(most, ++out);
        await new Promise((done) => setTimeout(done, 20));
        out--;
        await Deno.link(from, to);
      },
    };
    const memory = new FolderLinks();
    const first = tempPathFor(join(dir, "first.exr"));
    await Deno.writeTextFile(first, "first");
    assertEquals(await publish(first, join(dir, "first.exr"), "error", ops, memory), "published");
    const names = ["a.exr", "b.exr", "c.exr"];
    const tmps = names.map((name) => tempPathFor(join(dir, name)));
    for (const tmp of tmps) await Deno.writeTextFile(tmp, tmp);
    await Promise.all(
      names.map((name, i) => publish(tmps[i]!, join(dir, name), "error", ops, memory)),
    );
    assertEquals(most, 3);
    assert(!memory.refuses(dir));
    assertEquals(await listTree(dir), ["a.exr", "b.exr", "c.exr", "first.exr"]);
  });
});
