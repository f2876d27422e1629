// --bwlimit: the timetable's grammar and the limit the threads share
// (deterministic: a given clock; the rate reached is measured by bench/bwlimit.ts).
import { parseBandwidth, rateAt } from "../lib/transfer/bandwidth.ts";
import { RateLimit } from "../lib/workers/rate_limit.ts";
import { OptionError } from "../lib/options.ts";
import { MIB } from "../lib/size.ts";
import { join } from "node:path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertSameFile,
  listTree,
  runCli,
  spawnCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

Deno.test("parseBandwidth() reads rates, off and timetables, and refuses the rest with the option's name", () => {
  assertEquals(parseBandwidth("500M").entries, [{ minute: 0, bytesPerSecond: 500 * MIB }]);
  assertEquals(parseBandwidth("1.5G").entries[0]!.bytesPerSecond, 1.5 * 1024 * MIB);
  assertEquals(parseBandwidth("off").entries, [{ minute: 0, bytesPerSecond: null }]);
  assertEquals(parseBandwidth(2 * MIB).entries, [{ minute: 0, bytesPerSecond: 2 * MIB }]);
  const day = parseBandwidth("20:00,off 08:00,300M 12:30,1G");
  assertEquals(day.entries.map((e) => e.minute), [480, 750, 1200]);
  const at = (h: number, m: number): number | null => rateAt(day, new Date(2026, 11, 6, h, m));
  assertEquals([at(2, 0), at(8, 0), at(12, 29), at(12, 30), at(23, 59)], [
    null,
    300 * MIB,
    300 * MIB,
    1024 * MIB,
    null,
  ]);
  for (
    const [text, why] of [
      ["", /it is empty/],
      ["fast", /'fast' is not a rate/],
      ["1K", /the least is 64\.0 KiB\/s/],
      ["25:00,1G", /'25:00' is not a time of day/],
      ["08:00,1G 08:00,2G", /a time is given twice/],
      ["08:00 1G", /'08:00' is not HH:MM,RATE/],
    ] as const
  ) {
    let error: unknown;
    try {
      parseBandwidth(text, "--bwlimit");
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof OptionError, `'${text}' is refused`);
    assertMatch(error.message, why);
    assertMatch(error.message, /^Invalid value for --bwlimit: /);
  }
});

Deno.test("RateLimit reserves bytes at the rate, with bursts of at most 50 ms, shared through its memory", () => {
  let now = 1_000_000;
  const limit = new RateLimit(undefined, () => now);
  assertEquals(limit.reserve(10 * MIB), 0, "no rate: no wait");
  limit.setRate(100 * MIB); // 100 MiB/s: 1 MiB is 10 ms
  // Another thread's view of the same memory.
  const other = new RateLimit(limit.buffer, () => now);
  assertEquals(other.rate, 100 * MIB);
  const waits = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? limit : other).reserve(MIB));
  // The first 5 MiB fit in the burst (50 ms); then each waits 10 ms more.
  assertEquals(waits.slice(0, 5), [0, 0, 0, 0, 0]);
  assertEquals(waits.slice(5, 8), [10_000, 20_000, 30_000]);
  // A large piece waits for its whole cost: 20 MiB are 200 ms.
  now += 10_000_000;
  assertEquals(limit.reserve(20 * MIB), 150_000);
  // After a second idle, the link is free again: no credit beyond the burst.
  now += 10_000_000;
  assertEquals(limit.reserve(MIB), 0);
  // The waits come in steps of at most 100 ms: 30 MiB are 300 ms, 250 of them past the burst.
  now += 10_000_000;
  assertEquals([...limit.pauses(30 * MIB, () => false)], [100, 100, 50]);
  assertEquals([...limit.pauses(30 * MIB, () => true)], [], "a cancel stops the wait");
  limit.setRate(null);
  assertEquals(limit.rate, null);
  assertEquals(limit.reserve(1024 * MIB), 0);
});

Deno.test("ferry copy --bwlimit: a bad value is refused before anything is touched", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a.mov"), MIB);
    const run = await runCli([
      "copy",
      "--bwlimit",
      "08:00,fast",
      join(dir, "a.mov"),
      join(dir, "b.mov"),
    ]);
    assertEquals(run.code, 2);
    assertMatch(run.stderr, /Invalid value for --bwlimit: '08:00,fast' \('fast' is not a rate/);
    assertEquals(await listTree(dir), ["a.mov"]);
  });
});

Deno.test("ferry copy --bwlimit shows the limit in progress events, and SIGUSR1 lifts it while it runs", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "clip.mov");
    await writeRandomFile(src, 24 * MIB);
    const child = spawnCli(
      ["copy", "--json", "--no-ledger", "--bwlimit", "4M", src, join(dir, "copy.mov")],
      ["-A"],
      "piped",
    );
    const stderr = new Response(child.stderr).text();
    const limits: (number | undefined)[] = [];
    let signalled = false;
    for await (
      const line of child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lines())
    ) {
      const event = JSON.parse(line);
      if (event.event !== "progress") continue;
      limits.push(event.bandwidth_limit);
      if (!signalled && event.bandwidth_limit !== undefined) {
        child.kill("SIGUSR1");
        signalled = true;
      }
    }
    const status = await child.status;
    assertEquals(status.code, 0, await stderr);
    assertMatch(await stderr, /bandwidth limit lifted \(SIGUSR1 again puts it back\)/);
    assertEquals(limits[0], 4 * MIB);
    await assertSameFile(join(dir, "copy.mov"), src);
  });
});

/** Splits a text stream into lines. */
function lines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, out): void {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) if (part !== "") out.enqueue(part);
    },
    flush(out): void {
      if (rest !== "") out.enqueue(rest);
    },
  });
}
