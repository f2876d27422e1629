/**
 * What the whole-process benchmarks share: the testbed's tmpfs (or a folder
 * given) to work in, and a command's wall time and peak RSS as
 * `/usr/bin/time` measures them.
 *
 * @module
 */

import { join } from "node:path";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

const MIB = 1024 * 1024;
const ROOT = new URL("..", import.meta.url).pathname;

/**
 * The folder a benchmark works in: the one given, else the testbed's tmpfs.
 *
 * @param given A folder from the command line.
 * @returns The folder.
 * @throws {Error} When none is given and the testbed is not up.
 */
export async function workDir(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const env = await new Deno.Command("bash", {
    args: [join(ROOT, "..", "shared", "testbed", "testbed.sh"), "env"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const local = /^TESTBED_LOCAL=(.*)$/m.exec(new TextDecoder().decode(env.stdout))?.[1];
  if (local === undefined) throw new Error("the testbed is not up: give --dir (a tmpfs path)");
  return local;
}

/**
 * Runs a command under `/usr/bin/time`.
 *
 * @param command The program and its arguments.
 * @returns Wall seconds and peak RSS in MiB.
 * @throws {Error} When the command fails.
 *
 * @example
 * ```ts ignore
 * import { timed } from "./process_measure.ts";
 *
 * console.log(await timed(["cp", "-a", "src", "dst"])); // { seconds: 0.4, mib: 3.1 }
 * ```
 */
export async function timed(command: string[]): Promise<{ seconds: number; mib: number }> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "@@ %e %M", ...command],
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  const match = /@@ ([\d.]+) (\d+)/.exec(text);
  if (!out.success || match === null) throw new Error(`${command.join(" ")} failed: ${text}`);
  return { seconds: Number(match[1]), mib: Number(match[2]) / 1024 };
}

/**
 * The short hash of the checkout's HEAD, for the machine line of a report.
 *
 * @returns The commit, e.g. `1fb3f02`.
 */
export async function headCommit(): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-C", ROOT, "rev-parse", "--short", "HEAD"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * The command line of the ferry CLI from this checkout, as the installed
 * command runs it (the deno binary itself, its V8 settings, every grant).
 *
 * @param args The CLI's arguments.
 * @returns The program and its arguments.
 */
export function ferryCommand(...args: string[]): string[] {
  return ferryCommandAt(ROOT, ...args);
}

/**
 * The same for the ferry of another checkout (a baseline for a before/after).
 *
 * @param root The checkout's folder.
 * @param args ferry's arguments.
 * @returns The program and its arguments.
 */
export function ferryCommandAt(root: string, ...args: string[]): string[] {
  return [Deno.execPath(), "run", V8_FLAGS_ARG, "--allow-all", join(root, "cli.ts"), ...args];
}

/**
 * Runs commands at once.
 *
 * @param commands Each program with its arguments.
 * @returns Each one's wall seconds from the start, and the whole's.
 * @throws {Error} When one fails.
 */
export async function together(commands: string[][]): Promise<{ each: number[]; all: number }> {
  const start = performance.now();
  const each = await Promise.all(commands.map(async ([program, ...args]) => {
    const out = await new Deno.Command(program!, { args, stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return (performance.now() - start) / 1000;
  }));
  return { each, all: (performance.now() - start) / 1000 };
}

/**
 * Writes a file of random bytes (a random 64 KiB block repeated within each MiB).
 *
 * @param path The file.
 * @param bytes Its size.
 */
export async function writeRandom(path: string, bytes: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(MIB);
  for (let done = 0; done < bytes; done += MIB) {
    crypto.getRandomValues(block.subarray(0, 65536));
    block.copyWithin(65536, 0, 65536);
    for (let at = 131072; at < MIB; at *= 2) block.copyWithin(at, 0, at);
    await file.write(block.subarray(0, Math.min(MIB, bytes - done)));
  }
}

/**
 * The testbed's share (0.5 ms a request, a 10 GbE link), the tmpfs behind it and its XFS volume.
 *
 * @returns Their paths, or `null` when the bed is not up.
 */
export async function share(): Promise<{ net: string; store: string; reflink: string } | null> {
  const out = await new Deno.Command("bash", {
    args: [join(ROOT, "..", "shared", "testbed", "testbed.sh"), "env"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const env = new TextDecoder().decode(out.stdout);
  const net = /^TESTBED_NET=(.*)$/m.exec(env)?.[1];
  const store = /^TESTBED_NET_STORE=(.*)$/m.exec(env)?.[1];
  const reflink = /^TESTBED_REFLINK=(.*)$/m.exec(env)?.[1];
  return out.success && net !== undefined && store !== undefined && reflink !== undefined
    ? { net, store, reflink }
    : null;
}
