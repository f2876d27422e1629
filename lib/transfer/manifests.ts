/**
 * The ASC MHL generations of a batch (`mhl: true`): one per destination
 * root in which every file of the batch was delivered.
 *
 * @module
 */

import { dirname, relative, sep } from "node:path";
import { describeError } from "../errors.ts";
import type { HashAlgorithm } from "../integrity/hash.ts";
import { FileHasher } from "../integrity/file_hasher.ts";
import type { GenerationFile } from "../integrity/mhl/generation_writer.ts";
import { MhlError } from "../integrity/mhl/mhl_error.ts";
import type { PlannedDir, PlannedFile } from "../plan/plan_item.ts";
import type { FileResult, ManifestOutcome } from "./result.ts";

interface Delivered {
  src: string;
  dst: string;
  size: number;
  mtimeMs: number | null;
}

interface Group {
  published: (Delivered & { digest: string })[];
  skipped: Delivered[];
  undelivered: number;
  dirs: string[];
}

/**
 * What each destination root received, gathered as files end (only with
 * `mhl: true`: the generations list every file, so they are kept).
 */
export class Deliveries {
  #roots = new Map<number, string>();
  #groups = new Map<string, Group>();

  /** A folder of the plan: the first of each mapping is its root. */
  dir(dir: PlannedDir): void {
    if (!this.#roots.has(dir.mapping)) this.#roots.set(dir.mapping, dir.dst);
    const root = this.#roots.get(dir.mapping)!;
    if (dir.dst !== root) this.#group(root).dirs.push(rel(root, dir.dst));
  }

  /** A file ended. */
  file(file: PlannedFile, result: FileResult): void {
    const group = this.#group(this.#roots.get(file.mapping) ?? dirname(file.dst));
    const delivered = { src: file.src, dst: file.dst, size: file.size, mtimeMs: file.mtimeMs };
    if (result.status === "skipped") group.skipped.push(delivered);
    else if (
      result.hash !== undefined && (result.status === "copied" || result.status === "moved")
    ) {
      group.published.push({ ...delivered, digest: result.hash.digest });
    } else group.undelivered++;
  }

  #group(root: string): Group {
    let group = this.#groups.get(root);
    if (!group) {
      this.#groups.set(root, group = { published: [], skipped: [], undelivered: 0, dirs: [] });
    }
    return group;
  }

  /**
   * Writes one generation per root: the files this batch published, with the
   * digest of their source, and the files it skipped that the root's history
   * does not record yet (a rerun of an interrupted delivery), with their
   * source's digest too. A root with a failed or cancelled file gets no
   * generation, so that no history calls an incomplete delivery complete.
   *
   * @param algorithm The batch's hash.
   * @param fsync Whether the manifests are flushed to storage.
   * @returns What was recorded per root.
   */
  async write(algorithm: HashAlgorithm, fsync: boolean): Promise<ManifestOutcome[]> {
    const outcomes: ManifestOutcome[] = [];
    // Loaded here: the XML parser and the ignore matcher cost start-up that a
    // copy without --mhl should not pay.
    const { writeGeneration } = await import("../integrity/mhl/generation_writer.ts");
    const { loadHistory, nestedRootsOf, recordOf } = await import("../integrity/mhl/history.ts");
    await using hasher = new FileHasher();
    for (const [root, group] of this.#groups) {
      if (group.undelivered > 0) {
        const notWritten = `${group.undelivered} of its files were not delivered`;
        outcomes.push({ root, manifests: [], notWritten });
        continue;
      }
      try {
        const paths = [...group.published, ...group.skipped].map((f) => rel(root, f.dst));
        const history = await loadHistory(root, await nestedRootsOf(root, paths));
        const entry = (f: Delivered, digest: string): GenerationFile => ({
          path: rel(root, f.dst),
          size: f.size,
          mtime: f.mtimeMs === null ? null : new Date(f.mtimeMs),
          hashes: [{ algorithm, digest }],
        });
        const entries = group.published.map((f) => entry(f, f.digest));
        for (const f of group.skipped) {
          if (recordOf(history, rel(root, f.dst)) !== undefined) continue;
          // Delivered by an earlier run that recorded nothing: record what the delivery must hold.
          entries.push(entry(f, await hasher.hash(f.src, algorithm, f.size)));
        }
        if (entries.length === 0 && history.chain.length > 0) {
          // A rerun onto a delivery its history already covers: nothing new to record.
          outcomes.push({ root, manifests: [] });
          continue;
        }
        const manifests = await writeGeneration(root, entries, {
          process: "transfer",
          dirs: group.dirs,
          fsync,
          history,
        });
        outcomes.push({ root, manifests });
      } catch (error) {
        const message = error instanceof MhlError
          ? error.message
          : `cannot record the ASC MHL generation of '${root}': ${describeError(error)}`;
        outcomes.push({ root, manifests: [], error: message });
      }
    }
    return outcomes;
  }
}

function rel(root: string, path: string): string {
  return relative(root, path).split(sep).join("/");
}
