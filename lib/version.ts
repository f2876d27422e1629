/**
 * ferry's version, kept equal to `version` in deno.json (a test checks it).
 * A constant rather than a read of deno.json, so a compiled binary knows it.
 *
 * @module
 */

/** The version of ferry. */
export const VERSION = "0.1.0";
