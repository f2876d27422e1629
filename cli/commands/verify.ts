/**
 * `ferry verify`: a delivery against its whole ASC MHL history, or two
 * trees against each other; each file printed as it is checked.
 *
 * @module
 */

import { InputError } from "../../lib/errors.ts";
import type { FileCheck, VerifyOptions } from "../../lib/integrity/verify.ts";
import { resolveOptions } from "../../lib/options.ts";
import { formatCount } from "../../lib/size.ts";
import { FolderSequences, hasHoles } from "../sequence_tally.ts";
import { UsageError } from "../args.ts";
import { EXIT } from "../exit.ts";
import { followHashing } from "../hash_status.ts";
import type { Context } from "./transfer.ts";

/**
 * Runs `ferry verify`.
 *
 * @param context The arguments and the reporter.
 * @returns The exit code.
 */
export async function verifyCommand({ parsed, reporter }: Context): Promise<number> {
  const { compareTrees, verifyTree } = await import("../../lib/integrity/verify.ts");
  if (parsed.operands.length !== 1) throw new UsageError("verify takes one directory");
  const dir = parsed.operands[0]!;
  for (const path of [dir, ...(parsed.against === undefined ? [] : [parsed.against])]) {
    const info = await Deno.stat(path).catch(() => null);
    if (!info?.isDirectory) {
      throw new InputError(`Cannot verify '${path}': not a directory`, { path });
    }
  }
  // Each file is printed as soon as it is checked: a large delivery takes a while.
  let checked = 0;
  const options: VerifyOptions = {
    onCheck: (file) => {
      checked++;
      if (parsed.json) reporter.event({ event: "verify", ...file });
      else if (file.status !== "ok" || !parsed.quiet) {
        const detail = file.status === "mismatch"
          ? ` (expected ${file.expected}, found ${file.actual})`
          : file.status === "unreadable"
          ? ` (${file.error})`
          : "";
        reporter.line(`${file.status.toUpperCase().padEnd(10)} ${file.path}${detail}`);
      }
    },
  };
  if (parsed.options.hash !== undefined) {
    options.hash = resolveOptions(parsed.options, parsed).hash!;
  }
  if (!parsed.record) options.record = false;
  const { FileHasher } = await import("../../lib/integrity/file_hasher.ts");
  await using hasher = new FileHasher();
  options.hasher = hasher;
  using _status = followHashing(reporter, hasher, () => `${checked} files checked`);
  const report: { files: FileCheck[]; generation?: string | null; recordError?: string } =
    parsed.against === undefined
      ? await verifyTree(dir, options)
      : { files: await compareTrees(parsed.against, dir, options) };
  const counts = { ok: 0, mismatch: 0, missing: 0, new: 0, unreadable: 0 };
  for (const file of report.files) counts[file.status]++;
  const bad = counts.mismatch + counts.missing + counts.new + counts.unreadable;
  const code = bad === 0 ? EXIT.ok : EXIT.failed;
  const where = report.recordError !== undefined
    ? `; not recorded (${report.recordError})`
    : typeof report.generation === "string"
    ? `; recorded in ${report.generation}`
    : "";
  if (parsed.json) {
    reporter.event({
      event: "summary",
      ok: bad === 0,
      exit_code: code,
      files_ok: counts.ok,
      files_mismatch: counts.mismatch,
      files_missing: counts.missing,
      files_new: counts.new,
      files_unreadable: counts.unreadable,
    });
  }
  reporter.message(
    `ferry: ${formatCount(report.files.length, "file")}: ` +
      `${counts.ok} ok, ${counts.mismatch} mismatch, ` +
      `${counts.missing} missing, ${counts.new} new, ${counts.unreadable} unreadable${where}`,
  );
  const found = new FolderSequences(Infinity);
  for (const file of report.files) {
    if (file.status !== "missing" && !file.path.endsWith("/")) found.add(file.path);
  }
  for (const { pattern, frames, missing } of found.sequences()) {
    if (parsed.json) {
      reporter.event({
        event: "sequence",
        pattern,
        frames: frames.toString(),
        count: frames.size,
        first: frames.first,
        last: frames.last,
        missing: missing.toString(),
      });
    } else if (hasHoles(frames, missing)) {
      reporter.message(
        `ferry: sequence ${pattern} ${frames.first}-${frames.last}: ${frames.size} frames; missing ${missing}`,
      );
    }
  }
  return code;
}
