/**
 * `ferry demo`: a sample shot in a temporary folder, copied with live
 * progress, then removed.
 *
 * @module
 */

import { join } from "node:path";
import { formatBytes } from "../../lib/size.ts";
import { type Context, runBatch } from "./transfer.ts";

/**
 * Runs `ferry demo`.
 *
 * @param context The arguments and the reporter.
 * @returns The exit code.
 */
export async function demo(context: Context): Promise<number> {
  const { reporter } = context;
  const { makeSampleShot } = await import("../sample_shot.ts");
  const dir = await Deno.makeTempDir({ prefix: "ferry-demo-" });
  try {
    reporter.message(`ferry: writing a sample shot into ${dir} ...`);
    const shot = await makeSampleShot(dir);
    reporter.message(
      `ferry: copying ${shot.files} files (${
        formatBytes(shot.bytes)
      }): a frame sequence and a movie`,
    );
    return await runBatch(
      [{ src: shot.root, dst: join(dir, "delivery", "sh010") }],
      context.parsed,
      // A demo is journaled only where asked for.
      { ...context, parsed: { ...context.parsed, ledger: context.parsed.ledger ?? false } },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
