/**
 * A tiny helper that runs async work over a list with a concurrency limit.
 *
 * @module
 */

/**
 * Calls `fn` for every item with at most `limit` calls in flight, in order of
 * the items. Rejects with the first error thrown by `fn`, after the calls
 * already started have settled.
 *
 * @param items The work list.
 * @param limit How many calls may run at once (at least 1).
 * @param fn The work for one item.
 *
 * @example
 * ```ts
 * import { forEachLimit } from "./concurrency.ts";
 *
 * const seen: number[] = [];
 * await forEachLimit([1, 2, 3], 2, async (n) => { seen.push(n); });
 * ```
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  async function lane(): Promise<void> {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  }
  const lanes = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failure !== undefined) throw failure.error;
}
