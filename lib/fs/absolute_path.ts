/**
 * A path made absolute against the working directory, as `node:path`'s
 * `resolve(path)`, without Node's process layer: given a relative path,
 * `resolve` asks `process.cwd()`, and the first use of `process` loads Node's
 * process, net and console modules, ~12 ms of every `ferry` run that names a
 * relative path (measured with `--cpu-prof` and hyperfine; see
 * bench/RESULTS.md). `Deno.cwd()` gives the same directory.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";

/**
 * `path` as an absolute, normalized path: relative ones against the working
 * directory; `.` and `..` segments and a trailing `/` removed.
 *
 * Requires `--allow-read` for a relative path (to ask the working directory).
 *
 * @param path Any path.
 * @returns The absolute path, exactly as `resolve(path)` from `node:path`.
 *
 * @example
 * ```ts
 * import { absolutePath } from "./absolute_path.ts";
 *
 * console.log(absolutePath("/plates/sh010/../sh020/")); // "/plates/sh020"
 * console.log(absolutePath("renders") === `${Deno.cwd()}/renders`); // true
 * ```
 */
export function absolutePath(path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(Deno.cwd(), path);
}
