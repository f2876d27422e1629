/**
 * Waiting out a file that a share still holds open. SMB refuses to rename
 * or remove a file while any handle to it is open (`EBUSY`), and a handle
 * outlives the process that had it: a FUSE client closes it when it gets
 * round to the kernel's release, the Linux CIFS client defers closes by
 * a second, and a killed run's temporaries are exactly such files. A
 * refused rename or remove is tried again, waiting longer each time, up to
 * a bound; a handle that outlives it belongs to a client that is gone, and
 * the server drops it only after minutes.
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
      const left = deadline - Date.now();
      if (!isBusy(error) || left <= 0) throw error;
      await new Promise((done) => setTimeout(done, Math.min(pause, left)));
    }
  }
}
