/**
 * The `ferry` command (see {@linkcode main}). This entry point listens for
 * SIGINT and SIGTERM on its first line, before the rest of ferry is loaded,
 * so that a signal in the first milliseconds still ends as a cancel (exit
 * 130, nothing written) rather than as the default kill (143).
 *
 * ```sh
 * deno run --allow-read --allow-write cli.ts copy plates/ /mnt/show/plates/
 * ```
 *
 * @module
 */

// Nothing is imported before the listeners are in place (not even types: a
// static import, type-only too, makes Deno load the whole module graph first).
const interrupts: { onInterrupt: (() => void) | undefined } = { onInterrupt: undefined };

if (import.meta.main && Deno.build.os !== "windows") {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (interrupts.onInterrupt !== undefined) return interrupts.onInterrupt();
      // No batch has started: nothing was written, nothing needs cleaning up.
      console.error("ferry: interrupted before anything was written");
      Deno.exit(130);
    });
  }
}

/**
 * Runs the CLI with the given arguments and returns its exit code. Prints to
 * stdout and stderr; never calls `Deno.exit`.
 *
 * @param args The arguments after the program name.
 * @returns The exit code: 0 success · 1 some files failed · 2 usage or input
 * error (nothing touched) · 130 cancelled (temporary files removed).
 *
 * @example
 * ```ts ignore
 * import { main } from "./cli.ts";
 *
 * Deno.exit(await main(["copy", "plates", "/mnt/show/plates"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const cli = await import("./cli/main.ts");
  try {
    return await cli.main(args, import.meta.main ? interrupts : undefined);
  } catch (error) {
    // A bug of ferry's own: said in one line, never as a stack trace.
    console.error(
      `ferry: internal error: ${error instanceof Error ? error.message : String(error)} ` +
        "(please report it with the command that caused it)",
    );
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
