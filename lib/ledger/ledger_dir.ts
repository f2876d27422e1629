/**
 * Where the ledger lives and how a batch's journals are laid out in it:
 * `<ledger>/batches/<batch key>/<started ms>-<run id>.journal` (SQLite), one
 * journal per run of the batch (a resume is another run), each beside a
 * `.lock` its run holds while it goes, and `<ledger>/open/<fingerprint>`
 * naming the unfinished batch of a set of mappings, so that the same command
 * run again continues it; `<ledger>/pruned`, dated by the last prune.
 *
 * @module
 */

import { join } from "node:path";

/**
 * The ledger folder a user gets when none is given: `$XDG_STATE_HOME/ferry`,
 * else `~/.local/state/ferry`.
 *
 * Requires `--allow-env` for `XDG_STATE_HOME` and `HOME` (without it: `null`;
 * the permission is looked up, never asked for).
 *
 * @returns The folder, or `null` when neither variable can be read.
 *
 * @example
 * ```ts
 * import { defaultLedgerDir } from "./ledger_dir.ts";
 *
 * console.log(defaultLedgerDir()); // e.g. "/home/ana/.local/state/ferry"
 * ```
 */
export function defaultLedgerDir(): string | null {
  const read = (name: string): string | undefined => {
    // Looked up first: no interactive permission prompt may ever stop a delivery.
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    try {
      const value = Deno.env.get(name);
      return value === "" ? undefined : value;
    } catch {
      return undefined; // no --allow-env
    }
  };
  const state = read("XDG_STATE_HOME");
  if (state !== undefined) return join(state, "ferry");
  const home = read("HOME");
  return home === undefined ? null : join(home, ".local", "state", "ferry");
}

/**
 * The grant a ledger folder lacks, looked up (never prompted for): SQLite
 * reads and writes beside a journal even to read it.
 *
 * @param dir The ledger folder.
 * @returns `"read"` or `"write"`, or `null` when both are granted.
 */
export function missingGrant(dir: string): "read" | "write" | null {
  for (const name of ["read", "write"] as const) {
    if (Deno.permissions.querySync({ name, path: dir }).state !== "granted") return name;
  }
  return null;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The folder name of a batch: its id where that is a plain name, else `~`
 * and the hex SHA-256 of the id (the id itself is kept in each journal).
 *
 * @param batchId The batch id.
 * @returns The folder name.
 *
 * @example
 * ```ts
 * import { batchKey } from "./ledger_dir.ts";
 *
 * console.log(await batchKey("delivery-42")); // "delivery-42"
 * console.log((await batchKey("sh010 / v3")).startsWith("~")); // true
 * ```
 */
export async function batchKey(batchId: string): Promise<string> {
  return SAFE_ID.test(batchId) ? batchId : `~${await sha256Hex(batchId)}`;
}

/**
 * The hex SHA-256 of a text.
 *
 * @param text The text (as UTF-8).
 * @returns 64 hex digits.
 */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The folder of one batch in a ledger.
 *
 * @param ledger The ledger folder.
 * @param batchId The batch id.
 * @returns `<ledger>/batches/<batch key>`.
 */
export async function batchDir(ledger: string, batchId: string): Promise<string> {
  return join(ledger, "batches", await batchKey(batchId));
}

/**
 * This boot of this machine: Linux's random boot id, new at every start of
 * the kernel. A temporary a killed run left is continued only in the same
 * boot: after a power cut or a crash of the system, the journal may say a
 * range was written whose bytes never reached the storage.
 *
 * @returns The boot id, or `null` where it cannot be read (never continued then).
 */
export function bootId(): string | null {
  const path = "/proc/sys/kernel/random/boot_id";
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return null;
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return null;
  }
}

/** A journal file's name ends with this. */
export const JOURNAL_SUFFIX = ".journal";

/**
 * A run's journal and lock paths in a batch folder: named by when the run
 * started, so that a folder's listing sorts the runs in order.
 *
 * @param dir The batch folder.
 * @param startedMs When the run started.
 * @param runId The run id.
 * @returns The journal's and the lock's paths.
 */
export function runFiles(
  dir: string,
  startedMs: number,
  runId: string,
): { journal: string; lock: string } {
  const base = join(dir, `${String(startedMs).padStart(14, "0")}-${runId}`);
  return { journal: `${base}${JOURNAL_SUFFIX}`, lock: `${base}.lock` };
}

/**
 * The journals of a batch folder, oldest run first.
 *
 * @param dir The batch folder.
 * @returns Their paths (empty when the folder is missing).
 */
export function journalsIn(dir: string): string[] {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isFile && entry.name.endsWith(JOURNAL_SUFFIX)) names.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort().map((name) => join(dir, name));
}

/**
 * The lock file beside a journal.
 *
 * @param journal The journal's path.
 * @returns Its lock's path.
 */
export function lockOf(journal: string): string {
  return `${journal.slice(0, -JOURNAL_SUFFIX.length)}.lock`;
}

/**
 * Whether the run that writes a journal is still going: its lock is held
 * (the kernel drops it when the process ends, `kill -9` included).
 *
 * @param journal The journal's path.
 * @returns `true` while its run holds the lock.
 */
export function journalLive(journal: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(lockOf(journal), { read: true, write: true });
  } catch {
    return false; // a run removes its lock when it ends
  }
  try {
    return !file.tryLockSync(true);
  } catch {
    return false;
  } finally {
    file.close();
  }
}

/**
 * The ledger of a plan file's runs in shards, beside the plan: on the
 * storage every machine of the farm mounts, so that each shard's journal,
 * `ferry status PLAN` and `ferry finalize PLAN` see all of them.
 *
 * @param plan The plan file.
 * @returns `<PLAN>.ledger`.
 *
 * @example
 * ```ts
 * import { planLedgerDir } from "./ledger_dir.ts";
 *
 * console.log(planLedgerDir("/show/deliveries/sh010.plan")); // "/show/deliveries/sh010.plan.ledger"
 * ```
 */
export function planLedgerDir(plan: string): string {
  return `${plan}.ledger`;
}

/**
 * The path that names the unfinished batch of a fingerprint.
 *
 * @param ledger The ledger folder.
 * @param fingerprint The batch's fingerprint.
 * @returns `<ledger>/open/<fingerprint>`.
 */
export function openMarker(ledger: string, fingerprint: string): string {
  return join(ledger, "open", fingerprint);
}

/**
 * The file whose modification time says when the ledger was last pruned
 * (`prune_due.ts`).
 *
 * @param ledger The ledger folder.
 * @returns `<ledger>/pruned`.
 *
 * @example
 * ```ts
 * import { prunedMark } from "./ledger_dir.ts";
 *
 * console.log(prunedMark("/home/ana/.local/state/ferry")); // "/home/ana/.local/state/ferry/pruned"
 * ```
 */
export function prunedMark(ledger: string): string {
  return join(ledger, "pruned");
}
