/**
 * The Deno flags the `ferry` command runs with, one list for the installed
 * command (`deno task install`) and the binary (`deno task compile`): exactly
 * the permissions ferry needs, no prompt, ferry's V8 settings, and no Deno
 * notes of its own in ferry's output.
 *
 * ```ts
 * import { FERRY_FLAGS } from "./ferry_flags.ts";
 * console.log(["deno", "install", ...FERRY_FLAGS, "cli.ts"].join(" "));
 * ```
 *
 * @module
 */

import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

/** The flags, in the order `deno install` and `deno compile` take them. */
export const FERRY_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
  "--allow-sys=hostname,statfs",
  // Where the ledger is: $XDG_STATE_HOME/ferry, else ~/.local/state/ferry;
  // and the farm schedulers' shard index (--shard auto).
  "--allow-env=HOME,XDG_STATE_HOME,SLURM_ARRAY_TASK_ID,SLURM_ARRAY_TASK_MIN,SLURM_ARRAY_TASK_COUNT,CUE_IFRAME,JOB_COMPLETION_INDEX,FERRY_SHARD_INDEX",
  // ferry farm slurm --submit.
  "--allow-run=sbatch",
  "--no-prompt",
  // Deno's own notes stay out of ferry's output: on every machine without
  // Slurm, each run would begin "Info Failed to resolve 'sbatch' for
  // allow-run". Deno's errors still show.
  "--quiet",
  V8_FLAGS_ARG,
];
