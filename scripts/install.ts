/**
 * `deno task install`: installs the `ferry` command into `~/.deno/bin`
 * (`$DENO_INSTALL_ROOT/bin` where that is set) with the flags of
 * `ferry_flags.ts`, then says where it is and how to put it on the PATH.
 * (`deno install --quiet`, which keeps Deno's notes out of every ferry run,
 * also silences what the install itself says.)
 *
 *     deno task install
 *     DENO_INSTALL_ROOT=/opt/ferry deno task install
 *
 * @module
 */

import { join } from "node:path";
import { FERRY_FLAGS } from "./ferry_flags.ts";

const root = join(import.meta.dirname!, "..");
const install = await new Deno.Command(Deno.execPath(), {
  args: [
    "install",
    "--global",
    "--force",
    "--name",
    "ferry",
    ...FERRY_FLAGS,
    "--config",
    join(root, "deno.json"),
    join(root, "cli.ts"),
  ],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!install.success) Deno.exit(install.code || 1);

const installRoot = Deno.env.get("DENO_INSTALL_ROOT") ||
  join(Deno.env.get("HOME") ?? "~", ".deno");
const bin = join(installRoot, "bin");
console.log(`ferry installed: ${join(bin, "ferry")}`);
const onPath = (Deno.env.get("PATH") ?? "").split(":").some((dir) =>
  dir.replace(/\/+$/, "") === bin
);
if (!onPath) {
  console.log(`${bin} is not on the PATH; add it, e.g. in ~/.profile:`);
  console.log(`  export PATH="${bin}:$PATH"`);
}
