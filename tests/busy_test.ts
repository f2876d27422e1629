// The retry of a call a share refuses with EBUSY (lib/fs/busy.ts). Real
// refusals are made on the realnet SMB bed (realnet_test.ts); these pin the
// helper's own rules with calls that fail a counted number of times.
import { BUSY_WAIT_MS, isBusy, whileBusy, whileBusySync } from "../lib/fs/busy.ts";
import { ErrnoError } from "../lib/fs/libc.ts";
import { assert, assertEquals, assertRejectsWith, assertThrows } from "./_helpers.ts";

/** A call refused `times` times (with `error`), then answered. */
function refusedTimes(
  times: number,
  error: () => Error,
): { call: () => string; calls: () => number } {
  let calls = 0;
  return {
    call: () => {
      if (calls++ < times) throw error();
      return "done";
    },
    calls: () => calls,
  };
}

Deno.test("isBusy() knows Deno's EBUSY and libc's", () => {
  assert(isBusy(new Deno.errors.Busy("rename")));
  assert(isBusy(new ErrnoError("pwrite", 16)));
  assert(!isBusy(new ErrnoError("pwrite", 28)));
  assert(!isBusy(new Deno.errors.NotFound("x")));
  assert(!isBusy(undefined));
});

Deno.test("whileBusy() and whileBusySync() call again while refused with EBUSY, and only then", async () => {
  const async = refusedTimes(3, () => new Deno.errors.Busy("rename"));
  assertEquals(await whileBusy(() => Promise.resolve().then(async.call)), "done");
  assertEquals(async.calls(), 4);
  const sync = refusedTimes(3, () => new ErrnoError("pwrite", 16));
  assertEquals(whileBusySync(sync.call), "done");
  assertEquals(sync.calls(), 4);
  // Any other error at once.
  const full = refusedTimes(1, () => new ErrnoError("pwrite", 28));
  assertThrows(() => whileBusySync(full.call), /^ErrnoError: pwrite failed: ENOSPC$/);
  assertEquals(full.calls(), 1);
});

Deno.test("whileBusy() gives up with the refusal after its bound; whileBusySync() at once when stopped", async () => {
  const held = refusedTimes(Infinity, () => new Deno.errors.Busy("rename"));
  const start = Date.now();
  await assertRejectsWith(
    whileBusy(() => Promise.resolve().then(held.call), 200),
    Deno.errors.Busy,
    /^rename$/,
  );
  assert(Date.now() - start >= 200, "waited its bound");
  assert(held.calls() >= 3 && held.calls() <= 6, `${held.calls()} calls`);
  assert(BUSY_WAIT_MS >= 1000, "the default outlasts a deferred close");
  const stopped = refusedTimes(Infinity, () => new ErrnoError("pwrite", 16));
  assertThrows(() => whileBusySync(stopped.call, () => true), /^ErrnoError: pwrite failed: EBUSY$/);
  assertEquals(stopped.calls(), 1);
});
