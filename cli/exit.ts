/**
 * The CLI's exit codes.
 *
 * @module
 */

/** Exit codes of the CLI: 0 all done · 1 some files failed · 2 usage or input error · 130 cancelled. */
export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;
