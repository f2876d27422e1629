/**
 * One finalize at a time per batch, across machines, without file locks: a
 * finalize owns the batch while the folder `finalize.lock` it made (mkdir is
 * atomic on every POSIX file system and on NFS) is there, and touches the
 * `owner` file in it every {@linkcode HEARTBEAT_MS}; a lock whose owner has
 * not touched it for {@linkcode STALE_MS} belongs to a finalize that died,
 * and is taken over (renamed away first, so that only one taker wins). A
 * finalize that ended writes `finalized.json` beside it.
 *
 * @module
 */

import { join } from "node:path";
import { hostName } from "../host.ts";
import { RUN_ID } from "../fs/temp_lease.ts";

/** How often a finalize shows it is alive. */
export const HEARTBEAT_MS = 2_000;

/** A lock not touched for this long belongs to a finalize that died. */
export const STALE_MS = 30_000;

/** What the last finalize of a batch wrote when it ended. */
export interface FinalizeRecord {
  /** Whether everything was published and recorded. */
  ok: boolean;
  /** When it ended, in ms since the epoch. */
  endedMs: number;
  /** Where it ran. */
  host: string;
  /** Files it published. */
  published: number;
  /** Files of the batch that failed. */
  failed: number;
}

/** A finalize's hold on its batch. */
export interface FinalizeLock {
  /** Ends the hold: writes the record (when given) and removes the lock. */
  release(record?: FinalizeRecord): Promise<void>;
}

/**
 * The record of a batch's last finalize.
 *
 * @param batchFolder The batch's folder in the ledger.
 * @returns The record, or `null` when no finalize ended.
 */
export function lastFinalize(batchFolder: string): FinalizeRecord | null {
  try {
    return JSON.parse(Deno.readTextFileSync(join(batchFolder, "finalized.json")));
  } catch {
    return null;
  }
}

/**
 * Takes the batch's finalize lock, waiting while another finalize holds it.
 *
 * Requires `--allow-read` and `--allow-write` on the ledger.
 *
 * @param batchFolder The batch's folder in the ledger (exists).
 * @param waitMs How long to wait for another finalize (0: not at all).
 * @returns The lock; `"done"` when a finalize that waited for ended well meanwhile;
 * `"busy"` when another finalize still holds it after `waitMs`.
 */
export async function takeFinalizeLock(
  batchFolder: string,
  waitMs: number,
): Promise<FinalizeLock | "done" | "busy"> {
  const dir = join(batchFolder, "finalize.lock");
  const owner = join(dir, "owner");
  const deadline = Date.now() + waitMs;
  let waited = false;
  for (;;) {
    try {
      await Deno.mkdir(dir);
      await Deno.writeTextFile(owner, `${hostName()} ${Deno.pid} ${RUN_ID}\n`);
      const beat = setInterval(() => {
        const now = new Date();
        Deno.utime(owner, now, now).catch(() => {});
      }, HEARTBEAT_MS);
      return {
        async release(record?: FinalizeRecord): Promise<void> {
          clearInterval(beat);
          if (record !== undefined) {
            const path = join(batchFolder, "finalized.json");
            await Deno.writeTextFile(`${path}.${RUN_ID}`, JSON.stringify(record));
            await Deno.rename(`${path}.${RUN_ID}`, path);
          }
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        },
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    if (waited && lastFinalize(batchFolder)?.ok === true) return "done";
    const touched = (await Deno.stat(owner).catch(() => Deno.stat(dir).catch(() => null)))?.mtime;
    if (touched !== undefined && touched !== null && Date.now() - touched.getTime() > STALE_MS) {
      // Renamed away first: of two finalizers that find it stale, one takes it.
      const away = `${dir}.stale-${RUN_ID}`;
      if (await Deno.rename(dir, away).then(() => true, () => false)) {
        await Deno.remove(away, { recursive: true }).catch(() => {});
      }
      continue;
    }
    if (Date.now() >= deadline) return "busy";
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
