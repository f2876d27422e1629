/**
 * Answers looked up once per key (a folder made, a file system's kind), kept
 * as promises, with the values of those that have settled readable at once.
 * The per-file path of a copy asks them for every file; once the answer is
 * there it reads it without an `await`, which on 100 000 small files is the
 * difference between a promise per question per file and none.
 *
 * @module
 */

/**
 * Promises made once per key, and the values they fulfilled with.
 *
 * @example
 * ```ts
 * import { OnceCache } from "./once_cache.ts";
 *
 * const kinds = new OnceCache<string, string>();
 * console.log(kinds.now("/tmp")); // undefined: not asked yet
 * console.log(await kinds.get("/tmp", () => Promise.resolve("local"))); // local
 * console.log(kinds.now("/tmp")); // local
 * ```
 */
export class OnceCache<K, V> {
  #promises = new Map<K, Promise<V>>();
  #values = new Map<K, V>();

  /**
   * The value under `key`, made by `make` the first time it is asked for.
   *
   * @param key The key.
   * @param make Makes the value (called once per key; a rejection is kept too).
   * @returns The value.
   */
  get(key: K, make: () => Promise<V>): Promise<V> {
    let promise = this.#promises.get(key);
    if (promise === undefined) {
      promise = make();
      this.#promises.set(key, promise);
      promise.then((value) => this.#values.set(key, value), () => {});
    }
    return promise;
  }

  /**
   * Sets the value under `key` without making it.
   *
   * @param key The key.
   * @param value Its value.
   */
  set(key: K, value: V): void {
    this.#promises.set(key, Promise.resolve(value));
    this.#values.set(key, value);
  }

  /**
   * Whether the value under `key` has been made and fulfilled.
   *
   * @param key The key.
   * @returns `false` when not asked for yet, still being made, or rejected.
   */
  has(key: K): boolean {
    return this.#values.has(key);
  }

  /**
   * The value under `key` if it has been made and fulfilled.
   *
   * @param key The key.
   * @returns The value, or `undefined`.
   */
  now(key: K): V | undefined {
    return this.#values.get(key);
  }
}
