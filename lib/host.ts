/**
 * The name of this machine, for manifests and reports.
 *
 * @module
 */

/**
 * The host name, where ferry may ask for it (`--allow-sys=hostname`). The
 * permission is looked up first, so that no interactive prompt can ever stop
 * a delivery.
 *
 * @returns The host name, or `unknown`.
 *
 * @example
 * ```ts
 * import { hostName } from "./host.ts";
 *
 * console.log(hostName()); // "render01", or "unknown" without the permission
 * ```
 */
export function hostName(): string {
  if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") {
    return "unknown";
  }
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}
