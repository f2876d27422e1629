import { basename, join } from "node:path";
import { isTempName, publish, tempPathFor, tempRunOf } from "../lib/fs/publish.ts";
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
