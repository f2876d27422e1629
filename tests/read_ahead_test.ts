// The read-ahead: the whole capacity for the first fill, a smaller depth after.
import { ReadAhead } from "../lib/transfer/read_ahead.ts";
import { assert, assertEquals } from "./_helpers.ts";

/** Numbers 0…count-1, counting how many were pulled from the source. */
function counted(count: number): { items: AsyncIterable<number>; pulled: () => number } {
  let pulled = 0;
  async function* items(): AsyncGenerator<number> {
    for (let i = 0; i < count; i++) {
      pulled++;
      yield i;
    }
  }
  return { items: items(), pulled: () => pulled };
}

/** Lets the background reading run until it waits. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("ReadAhead fills its whole capacity first, then holds only the steady depth", async () => {
  const source = counted(1000);
  const seen: number[] = [];
  const reader = new ReadAhead(source.items, 100, (item) => seen.push(item), 10);
  const first = await reader.fill();
  assertEquals(first.items.length, 100);
  assertEquals(first.complete, false);
  assertEquals(source.pulled(), 100);
  // Taking 95 of the 100 leaves 5: the buffer is refilled to 10, not to 100.
  for (let i = 0; i < 95; i++) assertEquals(await reader.next(), i);
  await settle();
  assertEquals(source.pulled(), 105);
  // Everything still comes, in order, each item seen once as it was read.
  const rest: number[] = [];
  for (let item = await reader.next(); item !== undefined; item = await reader.next()) {
    rest.push(item);
  }
  assertEquals(rest, Array.from({ length: 905 }, (_, i) => 95 + i));
  assertEquals(seen, Array.from({ length: 1000 }, (_, i) => i));
  assert(reader.complete, "the source has ended");
});

Deno.test("ReadAhead: a plan that fits in the first fill is complete at once", async () => {
  const source = counted(30);
  const reader = new ReadAhead(source.items, 100, () => {}, 10);
  const first = await reader.fill();
  assertEquals(first.items.length, 30);
  assert(first.complete, "all 30 were read before the first write");
  assertEquals(await reader.stop(), Array.from({ length: 30 }, (_, i) => i));
});
