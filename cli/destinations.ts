/**
 * cp's rules for naming destinations: a source copied into an existing
 * folder goes inside it, `SRC/` means a folder's contents (rsync), `-T`
 * names the copy's own path, a trailing `/` on the target makes a folder.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { InputError } from "../lib/errors.ts";
import type { Mapping } from "../lib/plan/plan_item.ts";
import { UsageError } from "./args.ts";

/**
 * The mappings of `ferry copy SRC... DST`.
 *
 * @param operands The sources and the target, last.
 * @param noTarget `-T`: the target is the copy's own path.
 * @returns The mappings.
 */
export async function cpMappings(operands: string[], noTarget: boolean): Promise<Mapping[]> {
  if (operands.length < 2) {
    throw new UsageError(
      operands.length === 0
        ? "Missing source and destination"
        : `Missing destination after '${operands[0]}'`,
    );
  }
  const target = operands[operands.length - 1]!;
  const sources = operands.slice(0, -1);
  const info = await Deno.stat(target).catch(() => null);
  if (noTarget) {
    // cp -T: the destination is the path the copy gets, whatever is there.
    if (sources.length > 1) throw new UsageError("-T takes one source and its destination");
    return [{ src: sources[0]!, dst: target }];
  }
  if (target.endsWith("/") && info !== null && !info.isDirectory) {
    throw new InputError(`Destination '${target}' is not a directory (it ends with '/')`, {
      path: target,
    });
  }
  // A destination named with a trailing '/' is a folder: made if missing.
  const intoFolder = info?.isDirectory === true || target.endsWith("/");
  const mappings: Mapping[] = [];
  for (const src of sources) {
    // rsync's rule: 'SRC/' of a folder means its contents, so the copy of SRC is the target itself.
    const contents = /\/$/.test(src) &&
      await Deno.stat(src).then((i) => i.isDirectory, () => false);
    if (contents) mappings.push({ src, dst: target });
    else if (intoFolder) mappings.push({ src, dst: join(target, basename(resolve(src))) });
    else if (sources.length > 1) {
      throw new InputError(
        `Target '${target}' is not an existing directory (several sources need one as destination)`,
        { path: target },
      );
    } else mappings.push({ src, dst: target });
  }
  return mappings;
}
