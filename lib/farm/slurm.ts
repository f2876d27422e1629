/**
 * Slurm job scripts for a plan run in shards: an array job whose task `K`
 * runs `ferry apply PLAN --shard K/N` (`K` is `SLURM_ARRAY_TASK_ID`, so
 * that `sbatch --array=K` runs that one shard again), and a finalize job submitted with
 * `--dependency=afterok:<array>` that runs `ferry finalize PLAN` once every
 * task succeeded (`--kill-on-invalid-dep=yes`: when a task fails, the
 * finalize job is dropped instead of waiting forever; the failed shard run
 * again finalizes the plan itself when it is the last to end).
 *
 * @module
 */

import { dirname, join } from "node:path";

/** What {@linkcode slurmScripts} writes into the scripts. */
export interface SlurmJobOptions {
  /** The plan file (absolute: the nodes run the scripts from their own folders). */
  plan: string;
  /** The batch id (the job's name). */
  batchId: string;
  /** How many shards (array tasks). */
  shards: number;
  /** The command that runs ferry on the nodes, as words. */
  command: readonly string[];
  /** The folder of the scripts and the tasks' logs. */
  dir: string;
  /** A Slurm partition to run in; the cluster's default otherwise. */
  partition?: string;
  /** A ledger folder other than the plan's (`--ledger`). */
  ledger?: string;
  /** More arguments of each shard's `ferry apply` (the run's knobs: `--workers 4`). */
  applyArgs?: readonly string[];
}

/** The two scripts. */
export interface SlurmScripts {
  /** The array job: one task per shard. */
  shards: string;
  /** The finalize job. */
  finalize: string;
}

/**
 * Quotes a word for bash.
 *
 * @param word The word.
 * @returns It, single-quoted where it needs quotes.
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/**
 * The scripts' text.
 *
 * @param options The plan, shards, command and folder.
 * @returns The array job's script and the finalize job's.
 *
 * @example
 * ```ts
 * import { slurmScripts } from "./slurm.ts";
 *
 * const scripts = slurmScripts({
 *   plan: "/show/sh010.plan", batchId: "sh010", shards: 4, command: ["ferry"], dir: "/show/sh010.plan.slurm",
 * });
 * console.log(scripts.shards.includes("#SBATCH --array=0-3")); // true
 * ```
 */
export function slurmScripts(options: SlurmJobOptions): SlurmScripts {
  const { plan, batchId, shards, command, dir, partition, ledger, applyArgs = [] } = options;
  const ferry = command.map(shellWord).join(" ");
  const ledgerArgs = ledger === undefined ? "" : ` --ledger ${shellWord(ledger)}`;
  const head = (what: string, name: string, log: string, extra: string[]): string =>
    [
      "#!/bin/bash",
      `# ferry: ${what} of the plan ${plan} (written by \`ferry farm slurm\`).`,
      "# The command line below runs ferry on the nodes: edit it where ferry lives elsewhere there.",
      `#SBATCH --job-name=${shellWord(name)}`,
      ...extra,
      `#SBATCH --output=${shellWord(join(dir, log))}`,
      ...(partition === undefined ? [] : [`#SBATCH --partition=${shellWord(partition)}`]),
      "set -u",
      `cd ${shellWord(dirname(plan))}`,
    ].join("\n");
  const name = `ferry-${batchId}`.replace(/[^\w.-]/g, "_").slice(0, 64);
  return {
    shards: `${
      head("the shards", name, "shard-%A_%a.log", [`#SBATCH --array=0-${shards - 1}`])
    }\n# The task id is the shard: one shard alone runs again with sbatch --array=K on this script.\nexec ${ferry} apply ${
      shellWord(plan)
    } --shard "$SLURM_ARRAY_TASK_ID/${shards}"${
      applyArgs.map((a) => ` ${shellWord(a)}`).join("")
    }${ledgerArgs}\n`,
    finalize: `${
      head("the finalize", `${name}-finalize`, "finalize-%j.log", [])
    }\nexec ${ferry} finalize ${shellWord(plan)}${ledgerArgs}\n`,
  };
}

/** The job ids Slurm gave. */
export interface SlurmSubmission {
  /** The array job. */
  shards: string;
  /** The finalize job. */
  finalize: string;
}

/**
 * Submits the two scripts: the array, then the finalize job depending on it.
 *
 * Requires `--allow-run=sbatch`.
 *
 * @param shardsScript The array job's script.
 * @param finalizeScript The finalize job's script.
 * @returns The job ids.
 * @throws {Error} When `sbatch` cannot be run or refuses a job (its message says why).
 */
export async function submitSlurm(
  shardsScript: string,
  finalizeScript: string,
): Promise<SlurmSubmission> {
  const shards = await sbatch([shardsScript]);
  const finalize = await sbatch([
    `--dependency=afterok:${shards}`,
    "--kill-on-invalid-dep=yes",
    finalizeScript,
  ]);
  return { shards, finalize };
}

async function sbatch(args: string[]): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("sbatch", { args: ["--parsable", ...args] }).output();
  } catch (error) {
    throw new Error(
      `cannot run sbatch (${
        error instanceof Deno.errors.NotFound ? "not found on PATH" : (error as Error).message
      })`,
      { cause: error },
    );
  }
  const text = new TextDecoder();
  if (!output.success) {
    throw new Error(`sbatch refused the job: ${text.decode(output.stderr).trim()}`);
  }
  // `--parsable`: "jobid" or "jobid;cluster".
  return text.decode(output.stdout).trim().split(";")[0]!;
}
