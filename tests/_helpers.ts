/**
 * Shared helpers for ferry's tests: temporary directories, random files,
 * byte-for-byte comparison of trees, and running the real CLI.
 *
 * @module
 */

import nodeAssert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { writeSampleFile } from "../cli/sample_shot.ts";

/**
 * Asserts that a value is truthy.
 *
 * @param value The value.
 * @param message What failed.
 */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/**
 * Asserts deep strict equality.
 *
 * @param actual What the code gave.
 * @param expected What it should give.
 * @param message What failed.
 */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/**
 * Asserts that a string matches a pattern.
 *
 * @param actual The string.
 * @param pattern The pattern.
 */
export function assertMatch(actual: string, pattern: RegExp): void {
  nodeAssert.match(actual, pattern);
}

/**
 * Asserts that `fn` throws an error of `type` (or whose message matches a pattern).
 *
 * @param fn The code.
 * @param expected An error class or a message pattern.
 */
export function assertThrows(
  fn: () => unknown,
  expected: RegExp | (new (...args: never[]) => Error),
): void {
  nodeAssert.throws(fn, expected as RegExp);
}

/** The repository root. */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The state folder every CLI the tests start journals into (the ledger is
 * `<it>/ferry`), instead of the user's: one per test process, removed at its end.
 */
export const TEST_STATE_HOME = Deno.makeTempDirSync({ prefix: "ferry-test-state-" });
Deno.env.set("XDG_STATE_HOME", TEST_STATE_HOME);
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(TEST_STATE_HOME, { recursive: true });
  } catch { /* gone */ }
});

/** `true` when the tests run as root (permission bits do not stop root). */
export const IS_ROOT = Deno.uid() === 0;

/**
 * Runs `fn` with a fresh temporary directory, removed afterwards.
 *
 * @param fn The test body.
 * @param options Where to create the directory.
 */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  options: { dir?: string } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-test-", ...options });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Writes a file of random content: one random MiB per file, with the MiB's
 * number stamped into its first bytes so no two MiB are alike (fast enough
 * for GiB files, and any misplaced chunk changes the hash).
 *
 * @param path Where.
 * @param bytes How many bytes.
 */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  await writeSampleFile(path, bytes, Math.floor(Math.random() * 2 ** 32));
}

/**
 * The SHA-256 of a file, as hex.
 *
 * @param path The file.
 * @returns The digest.
 */
export async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Every entry under a directory: relative path → kind and, for files, a
 * SHA-256 of the content; for links, the target.
 *
 * @param root The directory.
 * @returns The listing, sorted.
 */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isSymlink) out[rel] = `link:${await Deno.readLink(path)}`;
      else if (entry.isDirectory) {
        out[rel] = "dir";
        await walk(path);
      } else out[rel] = `file:${await sha256(path)}`;
    }
  }
  await walk(root);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Asserts that two trees hold the same entries with the same bytes.
 *
 * @param actual The copy.
 * @param expected The original.
 */
export async function assertSameTree(actual: string, expected: string): Promise<void> {
  assertEquals(await snapshot(actual), await snapshot(expected));
}

/**
 * Asserts that two files have the same bytes.
 *
 * @param actual The copy.
 * @param expected The original.
 */
export async function assertSameFile(actual: string, expected: string): Promise<void> {
  const [a, b] = await Promise.all([Deno.stat(actual), Deno.stat(expected)]);
  assertEquals(a.size, b.size, `size of '${actual}'`);
  assertEquals(await sha256(actual), await sha256(expected), `content of '${actual}'`);
}

/**
 * Every path under `root` (recursively), relative. Only listed, never
 * read: cheap enough to poll on a network share.
 *
 * @param root A directory that may not exist.
 * @returns The paths, sorted; empty when `root` does not exist.
 */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      out.push(path);
      if (entry.isDirectory) await walk(join(dir, entry.name), path);
    }
  }
  try {
    await walk(root, "");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}

/**
 * Asserts that no ferry temporary file is left under `root`.
 *
 * @param root A directory.
 */
export async function assertNoTemps(root: string): Promise<void> {
  const temps = (await listTree(root)).filter((p) => p.endsWith(".ferry-partial"));
  assertEquals(temps, [], `temporary files left under '${root}'`);
}

/** How a `deno task compile` build went. */
export interface CompileRun {
  /** The binary was written. */
  ok: boolean;
  /** `deno compile`'s stderr. */
  log: string;
  /** It failed because Deno's download host (for `denort`) cannot be reached. */
  offline: boolean;
}

/**
 * Builds the single binary with the exact arguments of the `compile` task in
 * deno.json, writing it to `output` instead of dist/ferry.
 *
 * @param output Where the binary goes.
 * @param cwd The tree to build (default: this repository).
 * @returns Whether it was built, the log, and whether the failure was for want of network.
 */
export async function compileBinary(output: string, cwd = ROOT): Promise<CompileRun> {
  // Exactly `deno task compile OUTPUT`.
  const build = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", output],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(build.stderr);
  const offline = !build.success &&
    /error sending request|dns error|failed to lookup address|Connect/i.test(log);
  return { ok: build.success, log, offline };
}

/** What a CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Fills each mapping's source folder with `count` random files, runs the
 * mappings as one JSON batch (`ferry apply --json`, a ledger in `dir`, every
 * grant) and checks that it ended well with identical trees.
 *
 * @param dir Where the batch file and the ledger go.
 * @param mappings The mappings (their sources are made).
 * @param batchId The batch's id.
 * @param count Files per mapping.
 * @returns The events and the ledger folder.
 */
export async function applyFilledBatch(
  dir: string,
  mappings: { src: string; dst: string }[],
  batchId: string,
  count = 40,
): Promise<{ events: Record<string, unknown>[]; ledger: string }> {
  for (const { src } of mappings) {
    await Deno.mkdir(src);
    for (let i = 0; i < count; i++) await writeRandomFile(join(src, `f${i}.exr`), 96 * 1024);
  }
  const batch = join(dir, "batch.json");
  await Deno.writeTextFile(batch, JSON.stringify({ mappings, batch_id: batchId }));
  const ledger = join(dir, "ledger");
  // Deno grants /dev (a test's /dev/shm) only to --allow-all.
  const run = await runCli(["apply", "--json", "--ledger", ledger, batch], { flags: ["-A"] });
  assertEquals(run.code, 0, run.stderr);
  for (const { src, dst } of mappings) await assertSameTree(dst, src);
  const events = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
  return { events, ledger };
}

/**
 * Runs the real CLI in a subprocess.
 *
 * @param args The CLI arguments.
 * @param options Deno permission flags (default: read and write everywhere),
 * stdin text, and the working directory.
 * @returns Exit code and output.
 */
export async function runCli(
  args: string[],
  options: {
    flags?: string[];
    stdin?: string;
    cwd?: string;
    prefix?: string[];
    env?: Record<string, string>;
  } = {},
): Promise<CliRun> {
  const flags = options.flags ?? ["--allow-read", "--allow-write"];
  const [program, ...before] = options.prefix ?? [Deno.execPath()];
  const root = options.prefix === undefined ? ROOT : before.pop()!;
  const command = new Deno.Command(program!, {
    args: [...before, "run", "--quiet", ...flags, join(root, "cli.ts"), ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { ...options.env, NO_COLOR: "1" },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  const run = {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
  assertNoStackTrace(args, run.stderr);
  return run;
}

/**
 * Runs the real CLI in a pseudo-terminal (util-linux `script`), as a user at
 * a terminal would: for the progress line and Deno's permission prompt.
 * Stdin stays open without input, so a prompt would wait: the run is killed
 * after `timeoutMs`.
 *
 * @param args The CLI arguments.
 * @param options Deno permission flags and the time limit.
 * @returns The exit code and everything the terminal showed.
 */
export async function runCliInTerminal(
  args: string[],
  options: { flags?: string[]; timeoutMs?: number } = {},
): Promise<{ code: number; screen: string }> {
  const { flags = ["-A"], timeoutMs = 60_000 } = options;
  const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;
  const command = [Deno.execPath(), "run", "--quiet", ...flags, join(ROOT, "cli.ts"), ...args]
    .map(quote).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return { code: out.code, screen: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/**
 * Starts the real CLI in the background, its output discarded (or piped,
 * to be read as it comes): for tests that signal or kill it mid-way.
 *
 * @param args The CLI arguments.
 * @param flags Deno permission flags.
 * @param output `"piped"` to read its stdout and stderr.
 * @returns The child process.
 */
export function spawnCli(
  args: string[],
  flags: string[] = ["-A"],
  output: "null" | "piped" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, join(ROOT, "cli.ts"), ...args],
    stdout: output,
    stderr: output,
    env: { NO_COLOR: "1" },
  }).spawn();
}

/**
 * Polls `condition` every millisecond until it holds.
 *
 * @param condition What to wait for.
 * @param tries How many polls at most.
 * @returns Whether it came to hold.
 */
export async function waitFor(condition: () => Promise<boolean>, tries = 5000): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 1));
  }
  return false;
}

/**
 * Fails when a CLI run let an uncaught error or a stack trace reach the user
 * (every {@linkcode runCli} call checks this).
 *
 * @param args The CLI arguments, for the message.
 * @param stderr What it printed on stderr.
 */
export function assertNoStackTrace(args: readonly string[], stderr: string): void {
  const trace = /Uncaught|^\s+at .*(:\d+:\d+|\(ext:)|^error: .*Error:/m.exec(stderr);
  assert(trace === null, `ferry ${args.join(" ")} printed a stack trace:\n${stderr}`);
}

/**
 * Makes a directory refuse new files, even to root: `chattr +i` where the
 * file system supports it (root), otherwise mode 0555 (non-root).
 *
 * @param dir The directory.
 * @returns A function that undoes it, or `null` when neither works here.
 */
export async function makeReadOnly(dir: string): Promise<(() => Promise<void>) | null> {
  if (!IS_ROOT) {
    await Deno.chmod(dir, 0o555);
    return () => Deno.chmod(dir, 0o755);
  }
  const chattr = async (flag: string): Promise<boolean> => {
    try {
      const out = await new Deno.Command("chattr", { args: [flag, dir], stderr: "null" }).output();
      return out.success;
    } catch {
      return false;
    }
  };
  if (!(await chattr("+i"))) return null;
  try {
    await Deno.writeTextFile(join(dir, ".probe"), "x");
  } catch {
    return async () => void (await chattr("-i"));
  }
  await chattr("-i");
  await Deno.remove(join(dir, ".probe"));
  return null;
}

/**
 * Asserts that a promise rejects with an error of a class whose message matches.
 *
 * @param promise The promise.
 * @param type The error class.
 * @param pattern What the message must match.
 * @returns The error.
 */
export async function assertRejectsWith<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
  pattern: RegExp,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof type)) throw new Error(`expected ${type.name}, got ${error}`);
    assert(pattern.test(error.message), `message '${error.message}' does not match ${pattern}`);
    return error;
  }
  throw new Error(`expected a rejection with ${type.name}`);
}

/**
 * A command prefix that runs the CLI as the unprivileged user `nobody`, so
 * that permission bits apply even when the tests run as root. Deno and
 * ferry's sources are copied to a world-readable directory under `dir`.
 * The last element is that ferry copy's root, for {@linkcode runCli}.
 *
 * @param dir A scratch directory (made world-readable).
 * @returns The prefix, or `null` when `setpriv` is missing.
 */
export async function asNobody(dir: string): Promise<string[] | null> {
  if (!IS_ROOT) return [Deno.execPath(), ROOT];
  try {
    await new Deno.Command("setpriv", { args: ["--version"], stdout: "null" }).output();
  } catch {
    return null;
  }
  const home = join(dir, "nobody");
  await Deno.mkdir(join(home, "ferry"), { recursive: true });
  await Deno.copyFile(Deno.execPath(), join(home, "deno"));
  for (const part of ["cli.ts", "deno.json", "deno.lock", "cli", "lib"]) {
    await new Deno.Command("cp", { args: ["-r", join(ROOT, part), join(home, "ferry")] }).output();
  }
  await new Deno.Command("chmod", { args: ["-R", "a+rwX", dir] }).output();
  return [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "env",
    `DENO_DIR=${join(home, "cache")}`,
    `HOME=${home}`,
    join(home, "deno"),
    join(home, "ferry"),
  ];
}

/** Paths of the simulated network storage (../shared/testbed), when it is up. */
export interface Testbed {
  /** FUSE share: 0.5 ms per request, 10 GbE link. */
  net: string;
  /** The tmpfs behind `net`, for seeding without paying for the network. */
  netStore: string;
  /** Plain tmpfs. */
  local: string;
  /** XFS with reflink. */
  reflink: string;
  /** 64 MiB tmpfs. */
  tiny: string;
  /** FUSE over `tiny`: ENOSPC over the network. */
  tinyNet: string;
}

/**
 * The bytes free for an ordinary user on a path's file system, as `df` says.
 *
 * @param path A path on it.
 * @returns The bytes.
 */
export async function freeBytes(path: string): Promise<number> {
  const out = await new Deno.Command("df", {
    args: ["-B1", "--output=avail", path],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(out.stdout).trim().split("\n")[1]);
}

/**
 * Runs a program and returns what it printed, or `null` where it is not
 * installed (`Deno.Command` throws at once then, so a `.catch` on the
 * output misses it).
 *
 * @param program The program's name.
 * @param args Its arguments.
 * @returns Its output, or `null`.
 */
export async function outputOf(
  program: string,
  args: string[],
): Promise<Deno.CommandOutput | null> {
  try {
    return await new Deno.Command(program, { args, stdout: "piped", stderr: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Runs the CLI under strace, tracing `calls` with descriptor paths (-y) and
 * timestamps, and returns the calls of all threads in time order, each
 * ending with ` [thread id]`. One trace
 * file per thread (-ff): with -f into one file, a call that another thread
 * interrupts is split into "unfinished" and "resumed" lines.
 *
 * @param dir A folder for the trace files (removed after).
 * @param calls strace's `-e trace=` list, e.g. `"openat,renameat2"` or `"%file"`.
 * @param args The CLI's arguments.
 * @param flags Deno's permission flags for the run.
 * @returns The traced lines, `<seconds> <call>(…) = … [thread id]`.
 * @throws When the run does not exit 0.
 */
export async function traceCli(
  dir: string,
  calls: string,
  args: string[],
  flags = ["--allow-read", "--allow-write"],
): Promise<string[]> {
  const trace = join(dir, "trace");
  const run = await runCli(args, {
    flags,
    prefix: [
      "strace",
      "-ff",
      "-y",
      "-ttt",
      "-e",
      `trace=${calls}`,
      "-o",
      trace,
      Deno.execPath(),
      ROOT,
    ],
  });
  assertEquals(run.code, 0, run.stderr);
  const lines: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.startsWith("trace.")) continue;
    const text = await Deno.readTextFile(join(dir, entry.name));
    // Each line ends with its thread's id in brackets.
    const thread = ` [${entry.name.slice("trace.".length)}]`;
    lines.push(
      ...text.split("\n").filter((line) => /^\d+\.\d+ /.test(line)).map((line) => line + thread),
    );
    await Deno.remove(join(dir, entry.name));
  }
  return lines.sort((a, b) => parseFloat(a) - parseFloat(b));
}

/**
 * Whether strace can trace here (installed, and allowed to ptrace).
 *
 * @returns `true` when it can.
 */
export async function straceWorks(): Promise<boolean> {
  return (await outputOf("strace", ["-f", "-o", "/dev/null", "true"]))?.success ?? false;
}

/**
 * Reads the testbed's paths from `testbed.sh env`.
 *
 * @returns The paths, or the reason it is not available.
 */
export async function testbed(): Promise<Testbed | string> {
  const script = join(ROOT, "..", "shared", "testbed", "testbed.sh");
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("bash", { args: [script, "env"], stdout: "piped", stderr: "null" })
      .output();
  } catch (error) {
    return `cannot run ${script}: ${error}`;
  }
  if (!out.success) {
    return `the testbed is not up (as root: bash ${script} up; .ci/run does this)`;
  }
  const env = Object.fromEntries(
    new TextDecoder().decode(out.stdout).trim().split("\n").map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
  return {
    net: env.TESTBED_NET!,
    netStore: env.TESTBED_NET_STORE!,
    local: env.TESTBED_LOCAL!,
    reflink: env.TESTBED_REFLINK!,
    tiny: env.TESTBED_TINY!,
    tinyNet: env.TESTBED_TINY_NET!,
  };
}

/**
 * Runs a bed's `*-up.sh` (idempotent) as root and reads the variables it
 * prints (`export NAME=value`, several on a line or one per line).
 *
 * @param script The script, relative to ../shared.
 * @param what The bed in words, for the reasons it gives.
 * @returns The variables, or why the bed is not available.
 */
export async function bringUp(
  script: string,
  what: string,
): Promise<Record<string, string> | string> {
  const path = join(ROOT, "..", "shared", script);
  if (!IS_ROOT) return `not root (${what} needs root to come up)`;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("bash", { args: [path], stdout: "piped", stderr: "piped" })
      .output();
  } catch (error) {
    return `cannot run ${path}: ${error}`;
  }
  const text = new TextDecoder();
  if (!out.success) {
    return `${what} did not come up (${text.decode(out.stderr).trim().split("\n").at(-1)})`;
  }
  const env: Record<string, string> = {};
  for (const match of text.decode(out.stdout).matchAll(/(\w+)=('[^']*'|\S+)/g)) {
    env[match[1]!] = match[2]!.replace(/^'(.*)'$/, "$1");
  }
  return env;
}

/** The real NFS and SMB servers of ../shared/realnet, mounted through their FUSE clients. */
export interface Realnet {
  /** NFS-Ganesha (NFSv3) through libnfs. */
  nfs: string;
  /** Samba (SMB3) through libsmbclient. */
  smb: string;
  /** The tmpfs behind both servers' exports (4 GiB), for a test that fills it. */
  store: string;
}

/**
 * Brings ../shared/realnet up (idempotent: about 40 ms once it is up; the
 * first time it installs Debian packages and builds its clients) and reads
 * its mounts.
 *
 * @returns The mounts, or why they are not available.
 */
export async function realnet(): Promise<Realnet | string> {
  const env = await bringUp("realnet/realnet-up.sh", "the real NFS and SMB bed");
  if (typeof env === "string") return env;
  const { REALNET_NFS: nfs, REALNET_SMB: smb, REALNET_NFS_STORE: nfsStore } = env;
  return nfs === undefined || smb === undefined || nfsStore === undefined
    ? "realnet-up.sh gave no mounts"
    : { nfs, smb, store: dirname(nfsStore) };
}
