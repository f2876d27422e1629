/**
 * `ferry hash`: checksums as xxhsum, md5sum and sha1sum print them, many
 * files read at once, lines in the order listed.
 *
 * @module
 */

import { join } from "node:path";
import { describeError, InputError } from "../../lib/errors.ts";
import { resolveOptions } from "../../lib/options.ts";
import { UsageError } from "../args.ts";
import { EXIT } from "../exit.ts";
import { followHashing } from "../hash_status.ts";
import { jsonLine } from "../reporter.ts";
import type { Context } from "./transfer.ts";

/**
 * Runs `ferry hash`.
 *
 * @param context The arguments and the reporter.
 * @returns The exit code.
 */
export async function hashCommand({ parsed, reporter }: Context): Promise<number> {
  const { checksumLine, DEFAULT_HASH } = await import("../../lib/integrity/hash.ts");
  const { DEFAULT_HASH_CONCURRENCY, FileHasher } = await import(
    "../../lib/integrity/file_hasher.ts"
  );
  const { forEachLimit } = await import("../../lib/concurrency.ts");
  const { listFiles } = await import("../../lib/integrity/list_files.ts");
  if (parsed.operands.length === 0) {
    throw new UsageError("hash needs at least one file or directory");
  }
  const algorithm = resolveOptions({ hash: parsed.options.hash ?? DEFAULT_HASH }, parsed).hash!;
  const files: string[] = [];
  let code: number = EXIT.ok;
  for (const path of parsed.operands) {
    const info = await Deno.stat(path).catch((error) => {
      throw new InputError(`Cannot hash '${path}': ${describeError(error)}`, {
        path,
        cause: error,
      });
    });
    if (info.isDirectory) {
      const listed = await listFiles(path, (dir, error) => {
        reporter.message(
          `ferry: cannot hash '${dir}': cannot list the folder: ${describeError(error)}`,
        );
        code = EXIT.failed;
      }).catch((error) => {
        throw new InputError(`Cannot hash '${path}': cannot list it: ${describeError(error)}`, {
          path,
          cause: error,
        });
      });
      files.push(...listed.map((rel) => join(path, rel)));
    } else if (info.isFile) files.push(path);
    else {
      throw new InputError(
        `Cannot hash '${path}': not a regular file (a device, FIFO or socket is never read)`,
        { path },
      );
    }
  }
  // Many files are read at once; lines still come out in the order listed,
  // each as soon as every file before it is done.
  const ready = new Map<number, () => void>();
  let printed = 0;
  await using hasher = new FileHasher();
  using _status = followHashing(reporter, hasher, () => `${printed} of ${files.length} files`);
  await forEachLimit(files, DEFAULT_HASH_CONCURRENCY, async (file, i) => {
    if (reporter.stdoutClosed) return; // `ferry hash … | head`: stop reading
    try {
      const digest = await hasher.hash(file, algorithm);
      ready.set(i, () =>
        reporter.line(
          parsed.json
            ? jsonLine({ event: "hash", path: file, algorithm, digest })
            : checksumLine(algorithm, digest, file),
        ));
    } catch (error) {
      ready.set(i, () => reporter.message(`ferry: cannot hash '${file}': ${describeError(error)}`));
      code = EXIT.failed;
    }
    for (let line = ready.get(printed); line !== undefined; line = ready.get(printed)) {
      line();
      ready.delete(printed++);
    }
  });
  return reporter.stdoutClosed ? EXIT.cancelled : code;
}
