/**
 * `deno task compile`: builds the single `ferry` binary with the worker modules
 * embedded and the flags of `ferry_flags.ts` (the permissions ferry needs)
 * built in. `deno compile` needs its runtime (`denort`), which it downloads
 * from Deno's own server the first time, or takes from `DENORT_BIN`; where
 * neither works this says so in plain words and leaves no empty `dist/`
 * behind.
 *
 *     deno task compile              # → dist/ferry
 *     deno task compile /tmp/ferry   # another output path
 *
 * @module
 */

import { dirname, join } from "node:path";
import { FERRY_FLAGS } from "./ferry_flags.ts";

const root = join(import.meta.dirname!, "..");
const output = Deno.args[0] ?? join(root, "dist", "ferry");
const folder = dirname(output);
const existed = await Deno.stat(folder).then(() => true, () => false);
const build = await new Deno.Command(Deno.execPath(), {
  args: [
    "compile",
    // The binary cannot be given flags later: it is built with them.
    ...FERRY_FLAGS,
    "--include",
    join(root, "lib", "workers", "copy_worker.ts"),
    "--include",
    join(root, "lib", "workers", "local_worker.ts"),
    "--output",
    output,
    join(root, "cli.ts"),
  ],
  stdout: "inherit",
  stderr: "piped",
}).output();
const log = new TextDecoder().decode(build.stderr);
await Deno.stderr.write(build.stderr);
if (!build.success) {
  if (!existed) await Deno.remove(folder).catch(() => {}); // only if empty
  if (/error sending request|dns error|failed to lookup address|Connect/i.test(log)) {
    console.error(
      "ferry: deno compile could not download its runtime (denort) from Deno's server. " +
        "Run it where that server can be reached once, or point DENORT_BIN at a denort " +
        "of the same Deno version and run deno task compile again.",
    );
  }
  Deno.exit(1);
}
