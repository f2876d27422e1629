/**
 * Waiting out a file that a share still holds open. SMB refuses to rename
 * or remove a file while any handle to it is open (`EBUSY`), and a handle
 * outlives the process that had it: a FUSE client closes it when it gets
 * round to the kernel's release, the Linux CIFS client defers closes by
 * a second, and a killed run's temporaries are exactly such files. A
 * refused rename or remove is tried again, waiting longer each time, up to
 * a bound; a handle that outlives it belongs to a client that is gone, and
 * the server drops it only after minutes. A worker's open, read or write
 * that a share answers with a sharing violation (a client opening the file
 * anew for another of its threads, a virus scanner holding a new file) is
 * waited out the same way, without leaving its thread.
 *
 * @module
 */

/** How long a refused operation is tried again by default, in milliseconds. */
export const BUSY_WAIT_MS = 3000;

/** The first wait; each next one is twice as long. */
const FIRST_PAUSE_MS = 20;

/**
 * Whether an error says the file is open elsewhere (`EBUSY`).
 *
 * @example
 * ```ts
 * import { isBusy } from "./busy.ts";
 * console.log(isBusy(new Error("x"))); // false
 * ```
 *
 * @param error What a file operation threw.
 * @returns `true` for `EBUSY`.
 */
export function isBusy(error: unknown): boolean {
  return error instanceof Deno.errors.Busy || (error as { code?: string })?.code === "EBUSY";
}

/**
 * Runs a rename or remove, and again while it is refused with `EBUSY`, for
 * up to `waitMs` in all (pauses of 20 ms, 40 ms, 80 ms …). Any other error,
 * or `EBUSY` after the wait, is thrown.
 *
 * @example
 * ```ts
 * import { whileBusy } from "./busy.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "x");
 * await whileBusy(() => Deno.rename(`${dir}/a`, `${dir}/b`));
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param action The operation.
 * @param waitMs The longest wait in all (default {@linkcode BUSY_WAIT_MS}).
 * @returns What the operation returned.
 */
export async function whileBusy<T>(
  action: () => Promise<T>,
  waitMs: number = BUSY_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let pause = FIRST_PAUSE_MS;; pause *= 2) {
    try {
      return await action();
    } catch (error) {
      const ms = pauseBefore(error, deadline, pause);
      if (ms === undefined) throw error;
      await new Promise((done) => setTimeout(done, ms));
    }
  }
}

/**
 * How long to wait before trying again after `error`: `undefined` where it
 * is not `EBUSY` or the wait is over.
 */
function pauseBefore(error: unknown, deadline: number, pause: number): number | undefined {
  const left = deadline - Date.now();
  return isBusy(error) && left > 0 ? Math.min(pause, left) : undefined;
}

/** Something to sleep on in {@linkcode whileBusySync}. */
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * {@linkcode whileBusy} for a worker's synchronous calls: the pauses block
 * the thread (`Atomics.wait`), and `stop` (a cancel) ends the wait early
 * with the call's error.
 *
 * @example
 * ```ts
 * import { whileBusySync } from "./busy.ts";
 * const dir = Deno.makeTempDirSync();
 * using file = whileBusySync(() => Deno.openSync(`${dir}/a`, { write: true, createNew: true }));
 * console.log(file.writeSync(new Uint8Array(3))); // 3
 * ```
 *
 * @param action The call.
 * @param stop Whether to stop waiting (default: never).
 * @param waitMs The longest wait in all (default {@linkcode BUSY_WAIT_MS}).
 * @returns What the call returned.
 */
export function whileBusySync<T>(
  action: () => T,
  stop: () => boolean = () => false,
  waitMs: number = BUSY_WAIT_MS,
): T {
  const deadline = Date.now() + waitMs;
  for (let pause = FIRST_PAUSE_MS;; pause *= 2) {
    try {
      return action();
    } catch (error) {
      const ms = pauseBefore(error, deadline, pause);
      if (ms === undefined || stop()) throw error;
      Atomics.wait(nap, 0, 0, ms);
    }
  }
}
