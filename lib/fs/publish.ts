/**
 * Temporary names and publishing. A copy is written to a hidden temporary
 * file beside its destination (`.<name>.<random>[.<run>].ferry-partial`), verified,
 * given the source's mode and times, and only then renamed to its final name,
 * so a destination path only ever holds a complete file.
 *
 * @module
 */

import { basename, dirname, sep as SEP } from "node:path";
import type { ExistingPolicy } from "../options.ts";
import { ASYNC_FILE_OPS, type FileOps } from "./file_ops.ts";
import { whileBusy } from "./busy.ts";
import { FolderLinks } from "./folder_links.ts";
import { RUN_ID } from "./temp_lease.ts";
import { AT_FDCWD, cString, libcOnce, RENAME_NOREPLACE } from "./libc.ts";

/** Every temporary file ferry writes ends with this. */
export const TEMP_SUFFIX = ".ferry-partial";
const NAME_MAX_BYTES = 255;

/**
 * A unique, hidden temporary name beside `dst`, recognisable as ferry's.
 * With `leased`, the name carries this run's id, and the run holds its lease
 * in that folder (see `temp_lease.ts`), so that a later run can tell whether
 * this one is still going; the name is then unique by a counter of this run
 * (its random run id keeps it unguessable), otherwise by 16 random hex
 * digits. Long names are shortened so the result fits in 255 bytes.
 *
 * @param dst The destination path.
 * @param leased Whether this run holds its lease in `dst`'s folder.
 * @returns The temporary path: `.<name>.<16 hex>[.<run id>].ferry-partial`.
 *
 * @example
 * ```ts
 * import { isTempName, tempPathFor } from "./publish.ts";
 *
 * const tmp = tempPathFor("/shots/sh010/plate.0001.exr");
 * console.log(isTempName(tmp)); // true
 * ```
 */
export function tempPathFor(dst: string, leased = false): string {
  const tag = leased ? `.${hex16(staged++)}.${RUN_ID}` : `.${randomHex16()}`;
  // Split by hand: join() would normalize a path that is normalized already,
  // once per file.
  const cut = Math.max(dst.lastIndexOf("/"), SEP === "/" ? -1 : dst.lastIndexOf(SEP));
  const folder = dst.slice(0, cut + 1);
  let name = dst.slice(cut + 1);
  // The tag is ASCII; a name of n UTF-16 units takes at most 3n bytes.
  const room = NAME_MAX_BYTES - 1 - tag.length - TEMP_SUFFIX.length;
  if (name.length * 3 > room) {
    const encoder = new TextEncoder();
    while (encoder.encode(name).length > room) name = name.slice(0, -1);
  }
  return `${folder}.${name}${tag}${TEMP_SUFFIX}`;
}

/**
 * The mode a temporary is created with: the source's permission bits, and
 * always the owner's read and write (a worker opens it again to write it),
 * without setuid, setgid or sticky (set after the owner, by `chmod`). Where
 * the umask leaves it the source's mode, the copy needs no `chmod`: into a
 * share that is a round trip per file.
 *
 * @param mode The source's mode.
 * @returns The mode to create the temporary with.
 *
 * @example
 * ```ts
 * import { temporaryMode } from "./publish.ts";
 *
 * console.log(temporaryMode(0o100644).toString(8)); // "644"
 * console.log(temporaryMode(0o444).toString(8)); // "644"
 * console.log(temporaryMode(0o4755).toString(8)); // "755"
 * ```
 */
export function temporaryMode(mode: number): number {
  return (mode & 0o777) | 0o600;
}

/** Temporaries named by this run under its leases so far. */
let staged = 0;

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

function randomHex16(): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `${random[0]!.toString(16).padStart(8, "0")}${random[1]!.toString(16).padStart(8, "0")}`;
}

/** `.<name>.<16 hex>[.<run id> | .shared].ferry-partial` (`.shared`: a file split across shards, `lib/farm/`). */
const TEMP_NAME = /\.[0-9a-f]{16}(?:\.([0-9a-f]{16})|\.shared)?\.ferry-partial$/;

/**
 * Whether a path is one of ferry's temporary files.
 *
 * @param path A path or file name.
 * @returns `true` for names made by {@linkcode tempPathFor}.
 *
 * @example
 * ```ts
 * import { isTempName } from "./publish.ts";
 *
 * console.log(isTempName("plate.0001.exr")); // false
 * ```
 */
export function isTempName(path: string): boolean {
  const name = basename(path);
  return name.startsWith(".") && TEMP_NAME.test(name);
}

/**
 * The run id in a temporary's name.
 *
 * @param path A name for which {@linkcode isTempName} is `true`.
 * @returns The run id, or `null` for a temporary of a run that held no lease
 * (or of a ferry before leases), which no other run removes.
 */
export function tempRunOf(path: string): string | null {
  return TEMP_NAME.exec(basename(path))?.[1] ?? null;
}

/** How publishing ended. */
export type PublishOutcome = "published" | "exists";

/**
 * Moves a finished temporary file to its final name. With the `"overwrite"`
 * policy this is one rename. Otherwise the file is hard-linked to its final
 * name, which fails atomically if something appeared there in the meantime;
 * where the file system has no hard links, it renames without replacing
 * (see {@linkcode renameNoReplace}), or checks and renames. A rename an SMB
 * share refuses while the file is still open (`EBUSY`: the writer's handle
 * is closed after its `close` returned, when the client gets round to it)
 * is tried again (see `busy.ts`).
 *
 * @param tmp The finished temporary file.
 * @param dst The final name.
 * @param policy What to do when `dst` exists.
 * @param ops The calls to make (synchronous ones for small local files).
 * @param links The run's memory of its folders' hard links (see
 *   {@linkcode FolderLinks}): a file published into a folder that refused
 *   one skips the `link` that would be refused again, a round trip on a
 *   share. Default: a memory of this call alone.
 * @returns `"exists"` when `dst` appeared meanwhile and the policy keeps it
 * (the temporary file is then still there for the caller to remove).
 *
 * @example
 * ```ts
 * import { publish, tempPathFor } from "./publish.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const tmp = tempPathFor(`${dir}/a.txt`);
 * await Deno.writeTextFile(tmp, "done");
 * console.log(await publish(tmp, `${dir}/a.txt`, "error")); // "published"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function publish(
  tmp: string,
  dst: string,
  policy: ExistingPolicy,
  ops: FileOps = ASYNC_FILE_OPS,
  links: FolderLinks = new FolderLinks(),
): Promise<PublishOutcome> {
  if (policy === "overwrite") {
    await whileBusy(() => ops.rename(tmp, dst));
    return "published";
  }
  try {
    const linked = await links.link(dirname(dst), () => ops.link(tmp, dst));
    if (linked === "refused") return await renameWithoutLink(tmp, dst, ops);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return "exists";
    throw error;
  }
  await ops.remove(tmp);
  return "published";
}

/**
 * Publishing where there are no hard links (many NAS shares, SMB and NFS
 * clients): a rename that refuses to replace, where the kernel and the file
 * system offer one; otherwise a look, then a rename: not atomic against
 * another writer (docs/cli.md says what is and is not atomic on such storage).
 */
async function renameWithoutLink(
  tmp: string,
  dst: string,
  ops: FileOps,
): Promise<PublishOutcome> {
  const noReplace = await renameNoReplace(tmp, dst);
  if (noReplace !== "unsupported") return noReplace;
  if (await exists(dst)) return "exists";
  await whileBusy(() => ops.rename(tmp, dst));
  return "published";
}

const RENAME_SYMBOLS = {
  renameat2: {
    parameters: ["i32", "buffer", "i32", "buffer", "u32"],
    result: "i32",
    nonblocking: true,
  },
} as const;
const renameLib = libcOnce(RENAME_SYMBOLS);

/**
 * `renameat2(RENAME_NOREPLACE)`, with FFI: the kernel refuses to replace
 * what is at `dst` (EEXIST) under its lock of the folder, and a file
 * system that can (a local one, an SMB client asking the server not to
 * replace) does it atomically. The call runs off the event loop, whose
 * thread cannot read its errno: a failure with `dst` present means it was
 * there; any other failure (not supported, no FFI) is `"unsupported"`, and
 * the caller falls back.
 */
async function renameNoReplace(
  tmp: string,
  dst: string,
): Promise<"published" | "exists" | "unsupported"> {
  const lib = renameLib();
  if (lib === null) return "unsupported";
  const result = await lib.symbols.renameat2(
    AT_FDCWD,
    cString(tmp),
    AT_FDCWD,
    cString(dst),
    RENAME_NOREPLACE,
  );
  if (result === 0) return "published";
  return (await exists(dst)) ? "exists" : "unsupported";
}

/**
 * Whether anything (even a dangling link) exists at a path.
 *
 * @param path The path to look at.
 * @returns `true` when `lstat` finds it.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Removes a file, ignoring that it is already gone.
 *
 * @param path The file.
 */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Flushes a file (its data and metadata) or a directory (its entries) to
 * stable storage with `fsync`, so that it survives a power cut or a crash.
 * A copy flushed before its rename, and its directory flushed after, can
 * never show up after a crash under its final name with missing data.
 *
 * Requires `--allow-read` on the path.
 *
 * @param path The file or directory.
 *
 * @example
 * ```ts
 * import { flushToStorage } from "./publish.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "done");
 * await flushToStorage(`${dir}/a.txt`);
 * await flushToStorage(dir);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function flushToStorage(path: string): Promise<void> {
  using file = await Deno.open(path, { read: true });
  await file.sync();
}
