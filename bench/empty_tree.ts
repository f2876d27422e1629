/**
 * The tree the many-files benchmarks copy: `count` empty files, 1 000 per
 * folder (`d0/f0 … d0/f999, d1/f1000 …`), and the median they report.
 *
 * @module
 */

import { join } from "node:path";

/** Files per folder in {@linkcode makeEmptyTree}'s trees. */
export const PER_FOLDER = 1000;

/**
 * Makes `count` empty files under `root`, 1 000 per folder.
 *
 * @param root The tree's root (made if missing).
 * @param count How many files.
 *
 * @example
 * ```ts
 * import { makeEmptyTree } from "./empty_tree.ts";
 *
 * const root = await Deno.makeTempDir();
 * makeEmptyTree(`${root}/tree`, 3);
 * console.log([...Deno.readDirSync(`${root}/tree/d0`)].length); // 3
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function makeEmptyTree(root: string, count: number): void {
  Deno.mkdirSync(root, { recursive: true });
  const empty = new Uint8Array(0);
  for (let i = 0; i < count; i++) {
    const folder = join(root, `d${Math.floor(i / PER_FOLDER)}`);
    if (i % PER_FOLDER === 0) Deno.mkdirSync(folder);
    Deno.writeFileSync(join(folder, `f${i}`), empty);
  }
}

/**
 * The middle value (the upper one of the two middle values for an even count).
 *
 * @param xs The values (at least one).
 * @returns Their median.
 *
 * @example
 * ```ts
 * import { median } from "./empty_tree.ts";
 *
 * console.log(median([3, 1, 2])); // 2
 * ```
 */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
