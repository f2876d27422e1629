/**
 * The `ferry` command behind `cli.ts`: parses arguments, dispatches to the
 * command, and maps the outcome to an exit code (0 success · 1 some files
 * failed · 2 usage or input error, nothing touched · 130 cancelled,
 * temporary files removed).
 *
 * @module
 */

import { describeError, InputError } from "../lib/errors.ts";
import { MhlError } from "../lib/integrity/mhl/mhl_error.ts";
import { VERSION } from "../lib/version.ts";
import { parse, UsageError } from "./args.ts";
import type { Context } from "./commands/transfer.ts";
import { EXIT } from "./exit.ts";
import { COMMAND_HELP, HELP, USAGE } from "./help.ts";
import { Reporter } from "./reporter.ts";

export { EXIT } from "./exit.ts";

/**
 * Where SIGINT and SIGTERM reach the CLI. `cli.ts` listens from its first
 * line, before this module is even loaded, and hands each signal to
 * `onInterrupt` once a batch has set it (until then nothing has been written,
 * and the process just ends with 130).
 */
export interface Interrupts {
  /** The current handler, set while a batch runs. */
  onInterrupt: (() => void) | undefined;
}

/**
 * Runs the CLI with the given arguments and returns its exit code. Prints to
 * stdout and stderr; never calls `Deno.exit`.
 *
 * @param args The arguments after the program name.
 * @param interrupts Signals caught by the caller; without it, a batch listens itself.
 * @returns The exit code.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 *
 * Deno.exit(await main(["copy", "plates", "/mnt/show/plates"]));
 * ```
 */
export async function main(args: string[], interrupts?: Interrupts): Promise<number> {
  const reporter = new Reporter({
    json: args.includes("--json"),
    quiet: args.includes("--quiet") || args.includes("-q"),
  });
  try {
    const parsed = parse(args);
    if (parsed === "version") {
      console.log(`ferry ${VERSION}`);
      return EXIT.ok;
    }
    if (parsed === "usage") {
      console.log(USAGE);
      return EXIT.ok;
    }
    if ("help" in parsed) {
      if (parsed.help === undefined) console.log(HELP);
      else {
        const text = COMMAND_HELP[parsed.help];
        if (text === undefined) throw new UsageError(`Unknown command '${parsed.help}'`);
        console.log(text);
      }
      return EXIT.ok;
    }
    reporter.verbose = parsed.verbose;
    if (parsed.progress) reporter.forceLive();
    if (parsed.log !== undefined) {
      try {
        reporter.logTo(parsed.log);
      } catch (error) {
        throw new InputError(`Cannot write the log file '${parsed.log}': ${describeError(error)}`, {
          path: parsed.log,
          cause: error,
        });
      }
    }
    const context: Context = { parsed, reporter, interrupts };
    // Each command's modules are evaluated when it runs: `ferry hash` or
    // `ferry status` does not pay for the copy engine's start. (Deno still
    // reads every import written as a literal, these too, when it starts:
    // `ferry --version` opens all 122 modules; loading only the running
    // command's, through specifiers it cannot follow, measured 60 against
    // 71 ms on one core, and would need every command listed for
    // `deno compile`, so it is not done.)
    switch (parsed.command) {
      case "demo":
        return await (await import("./commands/demo.ts")).demo(context);
      case "hash":
        return await (await import("./commands/hash.ts")).hashCommand(context);
      case "verify":
        return await (await import("./commands/verify.ts")).verifyCommand(context);
      case "status":
        return await (await import("./commands/ledger.ts")).statusCommand(context);
      case "batches":
        return (await import("./commands/ledger.ts")).batchesCommand(context);
      case "resume":
        return await (await import("./commands/ledger.ts")).resumeCommand(context);
      case "undo":
        return await (await import("./commands/undo.ts")).undoCommand(context);
      case "apply":
        return await (await import("./commands/plan.ts")).applyCommand(context);
      case "plan":
        return await (await import("./commands/plan.ts")).planCommand(context);
      case "ls":
        return await (await import("./commands/ls.ts")).lsCommand(context);
      case "finalize":
        return await (await import("./commands/farm.ts")).finalizeCommand(context);
      case "farm":
        return await (await import("./commands/farm.ts")).farmCommand(context);
      case "offload":
        return await (await import("./commands/offload.ts")).offloadCommand(context);
      default: {
        if (parsed.to.length > 0) {
          return await (await import("./commands/offload.ts")).copyToCommand(context);
        }
        if (parsed.cascade || parsed.lagBytes !== undefined) {
          throw new UsageError("--cascade and --lag-buffer go with several destinations (--to)");
        }
        const [{ runBatch }, { sequenceAwareMappings }] = await Promise.all([
          import("./commands/transfer.ts"),
          import("./sequence_tally.ts"),
        ]);
        const operation = parsed.command === "move" ? "move" : "copy";
        const mappings = await sequenceAwareMappings(parsed.operands, parsed, reporter);
        // Once the copy exists, the same command would copy into it (cp's rule): -T says the path.
        const target = parsed.operands.at(-1);
        const pinned = mappings.length === 1 && mappings[0]!.dst === target && !parsed.noTarget;
        const finish = pinned ? [...args, "-T"] : args;
        // The same command after an interrupted run that made the target: copy into it, or
        // finish that run? The ledger tells (an unfinished batch with the target as the copy).
        const earlier = mappings.length === 1 && !pinned && !parsed.noTarget &&
            target !== undefined && !target.endsWith("/")
          ? [{ src: mappings[0]!.src, dst: target }]
          : undefined;
        return await runBatch(
          mappings,
          { ...parsed, options: { ...parsed.options, operation } },
          context,
          finish,
          earlier,
        );
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      reporter.error(`${error.message}\nRun 'ferry --help' for usage.`, EXIT.usage);
      return EXIT.usage;
    }
    if (error instanceof InputError || error instanceof MhlError) {
      reporter.error(error.message, EXIT.usage);
      return EXIT.usage;
    }
    throw error;
  }
}
