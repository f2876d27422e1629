/**
 * The few pieces of XML text ferry writes into manifests and chain files.
 *
 * @module
 */

/**
 * Escapes text for an XML element or a double-quoted attribute. A carriage
 * return is written as a reference, since a parser would turn a raw one into
 * a line feed and change the name.
 *
 * @param text Any text.
 * @returns The escaped text.
 *
 * @example
 * ```ts
 * import { xmlEscape } from "./xml_writer.ts";
 *
 * console.log(xmlEscape(`sh010 & "v2" <final>`)); // sh010 &amp; &quot;v2&quot; &lt;final&gt;
 * ```
 */
export function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/\r/g, "&#13;");
}

/**
 * A date as manifests write it: ISO 8601 in UTC, whole seconds.
 *
 * @param date The date.
 * @returns For example `2026-12-02T05:00:00Z`.
 *
 * @example
 * ```ts
 * import { xmlDate } from "./xml_writer.ts";
 *
 * console.log(xmlDate(new Date(0))); // 1970-01-01T00:00:00Z
 * ```
 */
export function xmlDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
