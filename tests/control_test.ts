import { ControlBlock } from "../lib/workers/control.ts";
import { RateMeter } from "../lib/transfer/progress.ts";
import { assertEquals } from "./_helpers.ts";

Deno.test("ControlBlock counts bytes per worker and shares the cancel flag through its buffer", () => {
  const main = new ControlBlock(3);
  const worker = new ControlBlock(main.buffer);
  assertEquals(worker.workers, 3);
  worker.addBytes(0, 5 * 2 ** 30);
  worker.addBytes(2, 7);
  assertEquals(main.totalBytes(), 5 * 2 ** 30 + 7);
  assertEquals(worker.cancelled, false);
  main.cancel();
  assertEquals(worker.cancelled, true);
});

Deno.test("RateMeter reports the rate over its window and the time left", () => {
  const meter = new RateMeter(2000);
  assertEquals(meter.bytesPerSecond, 0);
  assertEquals(meter.etaMs(100), null);
  meter.sample(0, 0);
  meter.sample(1000, 100);
  assertEquals(meter.bytesPerSecond, 100);
  assertEquals(meter.etaMs(300), 2000);
  meter.sample(5000, 100); // stalled: the old samples fall out of the window
  meter.sample(6000, 100);
  assertEquals(meter.bytesPerSecond, 0);
});
