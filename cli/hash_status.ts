/**
 * The live status line of `ferry hash` and `ferry verify`.
 *
 * @module
 */

import { formatBytes } from "../lib/size.ts";
import type { Reporter } from "./reporter.ts";

/**
 * Draws how far `ferry hash` or `ferry verify` has got on a terminal, four
 * times a second: bytes hashed (large files range by range), the rate, and
 * `files()`. Stops when disposed.
 */
export function followHashing(
  reporter: Reporter,
  hasher: { readonly bytesHashed: number },
  files: () => string,
): Disposable {
  const started = performance.now();
  const timer = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    const bytes = hasher.bytesHashed;
    reporter.status(
      `ferry: hashed ${formatBytes(bytes)} (${formatBytes(bytes / seconds)}/s), ${files()}`,
    );
  }, 250);
  return {
    [Symbol.dispose]: () => {
      clearInterval(timer);
      reporter.clearLine();
    },
  };
}
