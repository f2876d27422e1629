/**
 * Which pair of storage each file of a batch moves between: its source's
 * device and its destination folder's. Adaptive concurrency keeps a level
 * per pair (`batch_concurrency.ts`): a batch that pulls plates from NFS to
 * a local disk and pushes renders from there to SMB tunes each of the two
 * on its own, where one level measured across both fitted neither.
 *
 * A folder the run makes is on its parent's device (`mkdir` makes no mount
 * point), so a tree costs one `stat` per mapping, not one per folder; a
 * mount point inside a destination tree counts as its parent's storage.
 *
 * @module
 */

import { dirname } from "node:path";
import type { Mapping, PlannedFile } from "../plan/plan_item.ts";

/** In the map of devices: a folder the run made, whose parent's device is not known yet. */
const MADE = -2;

/**
 * The storage pairs of one batch's files, looked up once per destination
 * folder the run did not make.
 *
 * @example Two mappings into one folder are one pair
 * ```ts
 * import { StoragePairs } from "./storage_pairs.ts";
 * import type { PlannedFile } from "../plan/plan_item.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const mappings = [{ src: "/card/a.mov", dst: `${dir}/a.mov` }, { src: "/card/b.mov", dst: `${dir}/b.mov` }];
 * const pairs = new StoragePairs(mappings);
 * const file = (mapping: number) => ({ dev: 7, mapping, dst: mappings[mapping]!.dst }) as PlannedFile;
 * const a = await pairs.of(file(0));
 * console.log(pairs.now(file(1)) === a); // true: known without a wait
 * console.log(pairs.label(a)); // "/card/a.mov → …/a.mov"
 * await Deno.remove(dir);
 * ```
 */
export class StoragePairs {
  #mappings: readonly Mapping[];
  /**
   * Folder → its device (for a folder not made yet: its nearest existing
   * folder's; -1: unknown; {@linkcode MADE}: made by the run, its parent's,
   * which is not known yet).
   */
  #devs = new Map<string, number>();
  #labels = new Map<string, string>();
  /** The last answer: the next file is most often in the same folder, from the same device. */
  #last: { dir: string; srcDev: number; key: string } | undefined;

  /**
   * Starts with no folder known.
   *
   * @param mappings The batch's mappings (for the pairs' labels).
   */
  constructor(mappings: readonly Mapping[]) {
    this.#mappings = mappings;
  }

  /**
   * A folder the run made (or found made) for its files: on its parent's
   * device where that is known.
   *
   * @param dir The folder.
   */
  made(dir: string): void {
    if (this.#devs.has(dir)) return;
    const parent = this.#devs.get(dirname(dir));
    this.#devs.set(dir, parent ?? MADE);
  }

  /**
   * A file's pair without a wait, where its destination folder is known.
   *
   * @param file The plan item.
   * @returns The pair's key (`srcDev>dstDev`), or `undefined`: ask {@linkcode StoragePairs.of}.
   */
  now(file: PlannedFile): string | undefined {
    const last = this.#last;
    if (
      last !== undefined && file.dev === last.srcDev &&
      file.dst.lastIndexOf("/") === last.dir.length && file.dst.startsWith(last.dir)
    ) return last.key;
    const dir = dirname(file.dst);
    const dev = this.#devs.get(dir);
    if (dev === undefined || dev === MADE) return undefined;
    const key = this.#key(file, dev);
    this.#last = { dir, srcDev: file.dev, key };
    return key;
  }

  /**
   * A file's pair, looking its destination folder up where needed (`stat`,
   * up to its nearest existing folder).
   *
   * @param file The plan item.
   * @returns The pair's key.
   */
  async of(file: PlannedFile): Promise<string> {
    return this.now(file) ?? this.#key(file, await this.#deviceOf(dirname(file.dst)));
  }

  /**
   * A pair in words: the mapping whose file first showed it.
   *
   * @param key A key from {@linkcode StoragePairs.now} or {@linkcode StoragePairs.of}.
   * @returns `source → destination`.
   */
  label(key: string): string {
    return this.#labels.get(key) ?? key;
  }

  #key(file: PlannedFile, dstDev: number): string {
    const key = `${file.dev}>${dstDev}`;
    if (!this.#labels.has(key)) {
      const mapping = this.#mappings[file.mapping];
      this.#labels.set(key, mapping === undefined ? key : `${mapping.src} → ${mapping.dst}`);
    }
    return key;
  }

  async #deviceOf(dir: string): Promise<number> {
    const known = this.#devs.get(dir);
    if (known !== undefined && known !== MADE) return known;
    const parent = dirname(dir);
    let dev = -1;
    if (known === MADE && parent !== dir) {
      dev = await this.#deviceOf(parent);
    } else {
      try {
        dev = (await Deno.stat(dir)).dev;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound && parent !== dir) {
          dev = await this.#deviceOf(parent);
        }
      }
    }
    this.#devs.set(dir, dev);
    return dev;
  }
}
