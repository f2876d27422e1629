import { formatBytes, formatDuration, parseSize } from "../lib/size.ts";
import { assertEquals, assertThrows } from "./_helpers.ts";

Deno.test("parseSize() reads binary and decimal units", () => {
  assertEquals(parseSize("1048576"), 1048576);
  assertEquals(parseSize("16MiB"), 16 * 1024 * 1024);
  assertEquals(parseSize("16m"), 16 * 1024 * 1024);
  assertEquals(parseSize("1G"), 1024 ** 3);
  assertEquals(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  assertEquals(parseSize("10MB"), 10_000_000);
  assertEquals(parseSize(" 512 KiB "), 512 * 1024);
});

Deno.test("parseSize() rejects what is not a size", () => {
  assertThrows(() => parseSize("lots"), /'lots' is not a size/);
  assertThrows(() => parseSize("-1M"), /is not a size/);
  assertThrows(() => parseSize("3 parsecs"), /is not a size/);
});

Deno.test("formatBytes() and formatDuration() read naturally", () => {
  assertEquals(formatBytes(0), "0 B");
  assertEquals(formatBytes(1536), "1.5 KiB");
  assertEquals(formatBytes(552.9053573101112), "553 B", "a rate below 1 KiB/s");
  assertEquals(formatBytes(300 * 1024 * 1024), "300 MiB");
  assertEquals(formatDuration(850), "850 ms");
  assertEquals(formatDuration(4200), "4.2 s");
  assertEquals(formatDuration(185_000), "3m05s");
  assertEquals(formatDuration(3_720_000), "1h02m");
});
