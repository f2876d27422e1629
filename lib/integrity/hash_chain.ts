/**
 * Hands the hash state of a file's ranges from one range to the next, so
 * that ranges copied in parallel by several workers are still hashed in file
 * order (a whole-file xxHash or MD5 cannot be combined from range digests).
 *
 * @module
 */

/**
 * The hash states of one file's ranges, in order.
 *
 * @example
 * ```ts
 * import { HashChain } from "./hash_chain.ts";
 *
 * const chain = new HashChain();
 * const second = chain.stateBefore(1); // waits for range 0
 * chain.done(0, new Uint8Array([1]));
 * console.log((await second).state); // Uint8Array [ 1 ]
 * ```
 */
export class HashChain {
  #states = new Map<number, Uint8Array>();
  #waiters = new Map<number, (answer: { state: Uint8Array | null; abort: boolean }) => void>();
  #broken = false;
  #first: Uint8Array | null;

  /**
   * A chain for a file's ranges.
   *
   * @param first The state the first range continues: `null` to hash from
   * the file's first byte, or the state a killed run reached before it.
   */
  constructor(first: Uint8Array | null = null) {
    this.#first = first;
  }

  /**
   * The state to continue for range `index`: the chain's first state for
   * the first range, otherwise the state range `index - 1` ended with, once it has.
   *
   * @param index The range's position in the file.
   * @returns The state, or `abort: true` when the chain broke.
   */
  stateBefore(index: number): Promise<{ state: Uint8Array | null; abort: boolean }> {
    if (this.#broken) return Promise.resolve({ state: null, abort: true });
    if (index === 0) return Promise.resolve({ state: this.#first, abort: false });
    const state = this.#states.get(index - 1);
    if (state !== undefined) return Promise.resolve({ state, abort: false });
    return new Promise((resolve) => this.#waiters.set(index - 1, resolve));
  }

  /**
   * The state to continue for range `index` where it is known now, without
   * waiting: the chain's first state for the first range, or the state range
   * `index - 1` ended with once it has.
   *
   * @param index The range's position in the file.
   * @returns The state, or `undefined` while it is not known (or the chain broke).
   */
  knownBefore(index: number): Uint8Array | null | undefined {
    if (this.#broken) return undefined;
    return index === 0 ? this.#first : this.#states.get(index - 1);
  }

  /**
   * Range `index` has been hashed and ended with `state`.
   *
   * @param index The range.
   * @param state Its hash state.
   */
  done(index: number, state: Uint8Array): void {
    this.#states.set(index, state);
    this.#states.delete(index - 1);
    const waiter = this.#waiters.get(index);
    this.#waiters.delete(index);
    waiter?.({ state, abort: false });
  }

  /** A range failed or was cancelled: every waiting range stops. */
  break(): void {
    this.#broken = true;
    for (const waiter of this.#waiters.values()) waiter({ state: null, abort: true });
    this.#waiters.clear();
  }
}
