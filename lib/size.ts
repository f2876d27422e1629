/**
 * Byte sizes and durations, as people type and read them.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** One MiB in bytes. */
export const MIB = 1024 * 1024;

/**
 * Parses a size such as `16MiB`, `1G`, `512k` or `1048576`. Single letters
 * and `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024; `KB`/`MB`/`GB`/`TB` are powers of 1000.
 *
 * @param text The size.
 * @returns The size in bytes.
 * @throws {RangeError} When the text is not a size.
 *
 * @example
 * ```ts
 * import { parseSize } from "./size.ts";
 *
 * console.log(parseSize("16MiB")); // 16777216
 * console.log(parseSize("1.5G")); // 1610612736
 * ```
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new RangeError(`'${text}' is not a size (examples: 1048576, 512KiB, 16MiB, 1G)`);
  }
  const bytes = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`'${text}' is too large`);
  return bytes;
}

/**
 * Formats bytes with binary units, e.g. `1.5 GiB`.
 *
 * @param bytes A byte count.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./size.ts";
 *
 * console.log(formatBytes(1536)); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`; // rates are fractional
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/**
 * Formats a duration, e.g. `850 ms`, `4.2 s`, `3m05s`, `1h02m`.
 *
 * @param ms Milliseconds.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./size.ts";
 *
 * console.log(formatDuration(185_000)); // "3m05s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(s).padStart(2, "0")}s`;
}

/**
 * A count with its noun, singular for one: `1 file`, `3 files`.
 *
 * @param count How many.
 * @param singular The noun for one.
 * @param plural The noun for any other count.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatCount } from "./size.ts";
 *
 * console.log(formatCount(1, "file"), formatCount(2, "temporary file")); // "1 file 2 temporary files"
 * ```
 */
export function formatCount(count: number, singular: string, plural = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : plural}`;
}
