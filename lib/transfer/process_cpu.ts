/**
 * This process's CPU time (every thread, user and system), which the tuning
 * loop compares with the wall clock to see whether ferry itself is the limit.
 * Through libc's `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` where FFI is
 * granted (Linux); otherwise through Node's `process.cpuUsage`, whose module
 * is loaded on first use: Node's process layer adds ~25 ms to the start of
 * every process that imports it.
 *
 * @module
 */

import { libcOnce } from "../fs/libc.ts";

const SYMBOLS = {
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

/** `CLOCK_PROCESS_CPUTIME_ID` (Linux). */
const CLOCK_PROCESS_CPUTIME_ID = 2;

const libc = libcOnce(SYMBOLS);
let cpuUsage: (() => { user: number; system: number }) | undefined;
let loading: Promise<void> | undefined;

/**
 * The CPU time this process has used so far, in milliseconds, or `undefined`
 * the first times it is asked without FFI, until Node's process module has
 * loaded (it starts loading at the first call).
 *
 * @returns The milliseconds, or `undefined` while they cannot be told yet.
 *
 * @example
 * ```ts
 * import { processCpuMs } from "./process_cpu.ts";
 *
 * const ms = processCpuMs();
 * console.log(ms === undefined || ms > 0); // true
 * ```
 */
export function processCpuMs(): number | undefined {
  const lib = libc();
  if (lib !== null) {
    // struct timespec: seconds and nanoseconds, 8 bytes each on 64-bit Linux.
    const time = new BigInt64Array(2);
    if (lib.symbols.clock_gettime(CLOCK_PROCESS_CPUTIME_ID, time) === 0) {
      return Number(time[0]) * 1000 + Number(time[1]) / 1e6;
    }
  }
  if (cpuUsage !== undefined) {
    const used = cpuUsage();
    return (used.user + used.system) / 1000;
  }
  loading ??= import("node:process").then(({ default: process }) => {
    cpuUsage = () => process.cpuUsage();
  });
  return undefined;
}
