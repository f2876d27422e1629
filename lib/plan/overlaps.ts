/**
 * Refuses a batch in which one path is both read and written, across
 * mappings: by path (symbolic links resolved) and by identity (hard links,
 * bind mounts).
 *
 * @module
 */

import { dirname } from "node:path";
import { InputError } from "../errors.ts";
import type { Operation } from "../options.ts";
import type { CheckedMapping } from "./mapping_check.ts";

/**
 * The ancestors of an absolute path and the path itself, innermost first.
 *
 * @param path An absolute path.
 * @returns A generator of paths, ending with the root.
 */
export function* selfAndAncestors(path: string): Generator<string> {
  for (let at = path;; at = dirname(at)) {
    yield at;
    if (at === dirname(at)) return;
  }
}

/**
 * Refuses a batch in which one path is both read and written: a destination
 * that is, or is inside, another mapping's source, a source inside a
 * destination (its own, too: the copy would write into the tree it reads),
 * for a move sources inside one another, and two paths that are one file
 * (the same device and inode: hard links, bind mounts). Paths are compared
 * with symbolic links resolved. Costs a look-up per path and ancestor, not
 * per pair of mappings.
 */
export function checkOverlaps(mappings: readonly CheckedMapping[], operation: Operation): void {
  const sources = new Map<string, CheckedMapping>();
  const destinations = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    if (!sources.has(m.srcReal)) sources.set(m.srcReal, m);
    if (!destinations.has(m.dstReal)) destinations.set(m.dstReal, m);
  }
  const refuse = (m: CheckedMapping, message: string, path: string): never => {
    throw new InputError(`Mapping ${m.index}: ${message}`, { index: m.index, path });
  };
  for (const m of mappings) {
    const twin = sources.get(m.srcReal);
    if (operation === "move" && twin !== undefined && twin !== m) {
      refuse(
        m,
        `source '${m.src}' is also the source of mapping ${twin.index}: a move can take it only once`,
        m.src,
      );
    }
    for (const at of selfAndAncestors(m.dstReal)) {
      const other = sources.get(at);
      if (other === undefined || other === m) continue;
      refuse(
        m,
        `destination '${m.dst}' ${
          at === m.dstReal ? "is" : "is inside"
        } the source of mapping ${other.index} ('${other.src}'): ferry would write what it reads`,
        m.dst,
      );
    }
    for (const at of selfAndAncestors(m.srcReal)) {
      if (at === m.srcReal) continue;
      const other = destinations.get(at);
      if (other !== undefined) {
        const whose = other === m
          ? "its own destination"
          : `the destination of mapping ${other.index}`;
        refuse(
          m,
          `source '${m.src}' is inside ${whose} ('${other.dst}'): ferry would write into the tree it reads`,
          m.src,
        );
      }
      const outer = operation === "move" ? sources.get(at) : undefined;
      if (outer !== undefined && outer !== m) {
        refuse(
          m,
          `source '${m.src}' is inside the source of mapping ${outer.index} ('${outer.src}'), which is moved too`,
          m.src,
        );
      }
    }
  }
  // One file under two names: hard links, or the same folder through a bind mount.
  const identity = (info: Deno.FileInfo): string | null =>
    info.ino === null || info.ino === 0 ? null : `${info.dev}:${info.ino}`;
  const read = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    const id = identity(m.info);
    if (id !== null && !read.has(id)) read.set(id, m);
  }
  const written = new Map<string, CheckedMapping>();
  for (const m of mappings) {
    if (m.dstInfo === null) continue;
    const id = identity(m.dstInfo);
    if (id === null) continue;
    const source = read.get(id);
    if (source !== undefined) {
      const whose = source === m ? "its source" : `the source of mapping ${source.index}`;
      refuse(
        m,
        `destination '${m.dst}' is the same file as ${whose} ('${source.src}', hard links to one file)`,
        m.dst,
      );
    }
    const twin = written.get(id);
    if (twin !== undefined) {
      refuse(
        m,
        `destination '${m.dst}' is the same file as the destination of mapping ${twin.index} ('${twin.dst}')`,
        m.dst,
      );
    }
    written.set(id, m);
  }
}

/**
 * Whether a mapping's destination lies inside another's. Only then can two
 * planned files share a destination (equal destinations were rejected), so
 * only then is every file's destination checked against every other's.
 *
 * @param mappings The checked mappings.
 * @returns Whether any destination nests in another.
 */
export function destinationsNest(mappings: readonly CheckedMapping[]): boolean {
  const roots = new Set(mappings.map((m) => m.dst));
  return mappings.some((m) => selfAndAncestors(dirname(m.dst)).some((at) => roots.has(at)));
}
