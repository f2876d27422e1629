/**
 * The V8 settings the `ferry` command runs with: `deno task install` writes
 * them into the command, `deno task compile` into the binary, and the
 * many-files benchmark runs ferry with them. A copy of a million small files
 * allocates a little for each file all the time; with V8's defaults the young
 * generation grows to ~55 MiB and the old one to four times what is alive, so
 * the process peaked at ~205–220 MiB. A 4 MiB semi-space and an old
 * generation collected once it has grown by half of what is alive keep it at
 * ~118 MiB, for about 6 % more time on 100 000 files (bench/RESULTS.md,
 * "Memory"; an 8 MiB semi-space and 100 % growth, used before, peaked at
 * 127–137 MiB).
 *
 * ```sh
 * deno run --v8-flags=--max-semi-space-size=4,--heap-growing-percent=50 -A cli.ts copy a b
 * ```
 *
 * @module
 */

/** The flags, each as V8 spells it. */
export const V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=4",
  "--heap-growing-percent=50",
];

/** The flags as one `deno run`/`install`/`compile` argument. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;
