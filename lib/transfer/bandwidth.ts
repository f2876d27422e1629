/**
 * `--bwlimit`: a rate, or a timetable of rates in rclone's form, so that a
 * delivery runs beside artists in the day and at full speed at night:
 * `500M` (500 MiB/s), `1.2G`, `off`, or `"08:00,300M 20:00,off"` (from
 * 08:00 local time 300 MiB/s, from 20:00 none; before the first time of
 * the day, the last one's rate holds). Sizes are `lib/size.ts`'s (single
 * letters are powers of 1024, as rclone's). The run applies it through the
 * limit its threads share (`lib/workers/rate_limit.ts`).
 *
 * @module
 */

import { OptionError } from "../options.ts";
import { formatBytes, parseSize } from "../size.ts";

/** A bandwidth limit: rates from given times of day (one entry at minute 0: a plain rate). */
export interface BandwidthSchedule {
  /** From `minute` of the day (0–1439, local time) on, `bytesPerSecond` (`null`: no limit); sorted. */
  entries: { minute: number; bytesPerSecond: number | null }[];
}

/** The smallest rate: below it a copy of one buffer would take minutes. */
const MIN_RATE = 64 * 1024;

/**
 * Reads `--bwlimit`.
 *
 * @param value Bytes per second, or the text (`500M`, `off`, `08:00,300M 20:00,off`).
 * @param name The option's name for messages.
 * @returns The schedule.
 * @throws {OptionError} When it cannot be read.
 *
 * @example
 * ```ts
 * import { parseBandwidth, rateAt } from "./bandwidth.ts";
 *
 * const schedule = parseBandwidth("08:00,300M 20:00,off");
 * console.log(rateAt(schedule, new Date(2026, 0, 1, 12, 0))); // 314572800
 * console.log(rateAt(schedule, new Date(2026, 0, 1, 2, 0))); // null
 * ```
 */
export function parseBandwidth(value: number | string, name = "bandwidthLimit"): BandwidthSchedule {
  const bad = (why: string): OptionError =>
    new OptionError(
      name,
      `Invalid value for ${name}: '${value}' (${why}; expected a rate such as 500M or 1.2G, ` +
        `off, or a timetable such as '08:00,300M 20:00,off')`,
    );
  const rate = (text: string): number | null => {
    if (text.toLowerCase() === "off") return null;
    let bytes: number;
    try {
      bytes = parseSize(text);
    } catch {
      throw bad(`'${text}' is not a rate`);
    }
    if (bytes < MIN_RATE) throw bad(`the least is ${formatBytes(MIN_RATE)}/s`);
    return bytes;
  };
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < MIN_RATE) throw bad(`the least is ${MIN_RATE}`);
    return { entries: [{ minute: 0, bytesPerSecond: Math.round(value) }] };
  }
  const parts = value.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length === 0) throw bad("it is empty");
  if (parts.length === 1 && !parts[0]!.includes(",")) {
    return { entries: [{ minute: 0, bytesPerSecond: rate(parts[0]!) }] };
  }
  const entries = parts.map((part) => {
    const match = /^(\d{1,2}):(\d{2}),(.+)$/.exec(part);
    if (match === null) throw bad(`'${part}' is not HH:MM,RATE`);
    const [hours, minutes] = [Number(match[1]), Number(match[2])];
    if (hours > 23 || minutes > 59) throw bad(`'${match[1]}:${match[2]}' is not a time of day`);
    return { minute: hours * 60 + minutes, bytesPerSecond: rate(match[3]!) };
  }).sort((a, b) => a.minute - b.minute);
  if (new Set(entries.map((e) => e.minute)).size !== entries.length) {
    throw bad("a time is given twice");
  }
  return { entries };
}

/**
 * The rate a schedule gives at a moment.
 *
 * @param schedule The schedule.
 * @param at The moment (its local time of day counts).
 * @returns Bytes per second, or `null` for no limit.
 */
export function rateAt(schedule: BandwidthSchedule, at: Date): number | null {
  const minute = at.getHours() * 60 + at.getMinutes();
  const { entries } = schedule;
  const current = entries.findLast((e) => e.minute <= minute) ?? entries.at(-1);
  return current?.bytesPerSecond ?? null;
}
