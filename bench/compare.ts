/**
 * Whole-process comparison: ferry against cp, rsync, rclone and dd on the
 * same data in the same run, on ../shared/testbed (`net/` = FUSE share with
 * 0.5 ms per request and a 10 GbE cap, `local/` = tmpfs, `reflink/` = XFS).
 * Contenders run in rotating order, one warm-up round then `--runs` timed
 * rounds; the report gives medians, min–max and ferry's ratio to each peer
 * computed round by round. Writes bench/RESULTS.md and bench/results.svg.
 *
 * Run it through `deno task bench:compare` (bench/compare.sh brings the bed up
 * and installs the peers). Options: `--quick` (small data, 2 rounds, for CI
 * smoke), `--runs N`, `--cases a,b`, `--big-mib N`, `--frames N`,
 * `--small-files N`, `--memory-files N`, `--out FILE` (default
 * bench/RESULTS.md; `--quick` writes nothing unless `--out` is given),
 * `--verified` (adds `--hash` and `--verify source` rows where the
 * verification target applies), `--sweep` (ferry's settings one at a time,
 * into bench/SWEEP.md, which a later full run copies into RESULTS.md),
 * `--contenders a,b`, `--rclone 4,8,16` (rclone stream counts),
 * `--max-seconds N` (stop a contender's run after N s), `--append`.
 * With `FERRY_BASELINE=<another checkout of ferry>` in the environment, that
 * checkout runs too, as "ferry (baseline)": a before/after in one run.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeSampleShot, writeSampleFile } from "../cli/sample_shot.ts";
import { compileBinary } from "../tests/_helpers.ts";
import { V8_FLAGS_ARG } from "../cli/v8_flags.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The ferry that is timed: a snapshot made by compare.sh, so edits during a run do not leak in. */
const FERRY_ROOT = Deno.env.get("FERRY_ROOT") ?? ROOT;
const MIB = 1024 * 1024;
/** The commit timed (compare.sh sets it from git). */
const FERRY_COMMIT = Deno.env.get("FERRY_COMMIT") ?? "working tree";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    runs: { type: "string" },
    cases: { type: "string" },
    "big-mib": { type: "string" },
    frames: { type: "string" },
    "small-files": { type: "string" },
    "memory-files": { type: "string" },
    out: { type: "string" },
    sweep: { type: "boolean" },
    verified: { type: "boolean" },
    contenders: { type: "string" },
    append: { type: "boolean" },
    "max-seconds": { type: "string" },
    rclone: { type: "string" },
    "from-log": { type: "string" },
  },
});
const SWEEP = flags.sweep ?? false;
/** A run still going after this long is stopped and counted at this time (a lower bound on its rate is then shown with ≤). */
const MAX_MS = Number(flags["max-seconds"] ?? 40) * 1000;
const QUICK = flags.quick ?? false;
const RUNS = Number(flags.runs ?? (QUICK ? 2 : 5));
const BIG_BYTES = Number(flags["big-mib"] ?? (QUICK ? 128 : 2048)) * MIB;
const FRAMES = Number(flags.frames ?? (QUICK ? 8 : 300));
const FRAME_BYTES = 12 * MIB;
const SMALL_FILES = Number(flags["small-files"] ?? (QUICK ? 100 : 2000));
const SMALL_BYTES = 64 * 1024;
const MEMORY_FILES = Number(flags["memory-files"] ?? (QUICK ? 1000 : 100_000));
const OUT = flags.out ??
  (QUICK ? undefined : join(ROOT, "bench", SWEEP ? "SWEEP.md" : "RESULTS.md"));
/**
 * Every timed run is also appended to this log as it happens (next to the
 * report, `.log` for `.md`), so a run that fails late keeps its numbers:
 * `--from-log FILE` builds the case tables from such a log instead of
 * running the cases again.
 */
const LOG = OUT === undefined || flags["from-log"] !== undefined || flags.append
  ? undefined
  : OUT.replace(/\.md$/, ".log");
if (LOG !== undefined) await Deno.writeTextFile(LOG, "");

/** Prints a progress line to stderr and appends it to {@linkcode LOG}. */
function logLine(line: string): void {
  console.error(line);
  if (LOG !== undefined) Deno.writeTextFileSync(LOG, `${line}\n`, { append: true });
}

interface Bed {
  net: string;
  store: string;
  local: string;
  reflink: string;
}

async function sh(script: string): Promise<{ ok: boolean; out: string; err: string }> {
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const d = new TextDecoder();
  return { ok: out.success, out: d.decode(out.stdout), err: d.decode(out.stderr) };
}

async function readBed(): Promise<Bed> {
  const env = await sh(`bash ${ROOT}/../shared/testbed/testbed.sh env`);
  if (!env.ok) throw new Error("the testbed is not up: run `deno task bench:compare` as root");
  const get = (name: string): string => new RegExp(`^${name}=(.*)$`, "m").exec(env.out)![1]!;
  return {
    net: get("TESTBED_NET"),
    store: get("TESTBED_NET_STORE"),
    local: get("TESTBED_LOCAL"),
    reflink: get("TESTBED_REFLINK"),
  };
}

/** A file or tree to copy, seeded once per case. */
interface Dataset {
  name: string;
  describe: string;
  bytes: number;
  files: number;
  /** Writes the dataset at `path` (a directory for trees, a file otherwise). */
  make: (path: string) => Promise<void>;
  isDir: boolean;
}

const DATASETS: Record<string, Dataset> = {
  big: {
    name: "big",
    describe: `one ${BIG_BYTES / MIB} MiB file`,
    bytes: BIG_BYTES,
    files: 1,
    isDir: false,
    make: (path) => writeSampleFile(path, BIG_BYTES, 1),
  },
  seq: {
    name: "seq",
    describe: `${FRAMES} frames of 12 MiB`,
    bytes: FRAMES * FRAME_BYTES,
    files: FRAMES,
    isDir: true,
    make: async (path) => {
      await Deno.mkdir(path, { recursive: true });
      for (let i = 0; i < FRAMES; i++) {
        await writeSampleFile(join(path, `sh010.${String(1001 + i)}.exr`), FRAME_BYTES, i);
      }
    },
  },
  small: {
    name: "small",
    describe: `${SMALL_FILES} files of 64 KiB`,
    bytes: SMALL_FILES * SMALL_BYTES,
    files: SMALL_FILES,
    isDir: true,
    make: async (path) => {
      for (let i = 0; i < SMALL_FILES; i++) {
        const dir = join(path, `d${i % 20}`);
        if (i < 20) await Deno.mkdir(dir, { recursive: true });
        await writeSampleFile(join(dir, `f${i}.bin`), SMALL_BYTES, i);
      }
    },
  },
  mixed: {
    name: "mixed",
    describe: "a mixed shot: frames, a movie, small sidecar files",
    bytes: 0,
    files: 0,
    isDir: true,
    make: async (path) => {
      await Deno.mkdir(path, { recursive: true });
      await makeSampleShot(path, {
        frames: QUICK ? 6 : 48,
        frameBytes: 12 * MIB,
        movieBytes: QUICK ? 64 * MIB : 512 * MIB,
      });
      for (let i = 0; i < (QUICK ? 20 : 200); i++) {
        await writeSampleFile(join(path, "sh010", `sidecar_${i}.json`), 4096, 9000 + i);
      }
    },
  },
};

/** A case: a dataset copied from one volume to another. */
interface Case {
  id: string;
  title: string;
  data: Dataset;
  from: "net" | "local" | "reflink";
  to: "net" | "local" | "reflink";
}

const CASES: Case[] = [
  {
    id: "big-net-local",
    title: "big file, net → local",
    data: DATASETS.big!,
    from: "net",
    to: "local",
  },
  {
    id: "big-local-net",
    title: "big file, local → net",
    data: DATASETS.big!,
    from: "local",
    to: "net",
  },
  {
    id: "big-net-net",
    title: "big file, net → net (server-side copy possible)",
    data: DATASETS.big!,
    from: "net",
    to: "net",
  },
  {
    id: "seq-net-local",
    title: "frame sequence, net → local",
    data: DATASETS.seq!,
    from: "net",
    to: "local",
  },
  {
    id: "seq-local-net",
    title: "frame sequence, local → net",
    data: DATASETS.seq!,
    from: "local",
    to: "net",
  },
  {
    id: "seq-net-net",
    title: "frame sequence, net → net",
    data: DATASETS.seq!,
    from: "net",
    to: "net",
  },
  {
    id: "small-net-local",
    title: "small files, net → local",
    data: DATASETS.small!,
    from: "net",
    to: "local",
  },
  {
    id: "mixed-net-local",
    title: "mixed tree, net → local",
    data: DATASETS.mixed!,
    from: "net",
    to: "local",
  },
  {
    id: "big-local-local",
    title: "big file, local → local (page cache)",
    data: DATASETS.big!,
    from: "local",
    to: "local",
  },
  {
    id: "big-reflink",
    title: "big file on the XFS reflink volume",
    data: DATASETS.big!,
    from: "reflink",
    to: "reflink",
  },
];

/** One command line to time. `src`/`dst` are the paths; `dst` does not exist before a run. */
interface Contender {
  name: string;
  applies: (c: Case) => boolean;
  argv: (src: string, dst: string, c: Case) => string[];
  /** A bound, not a copy: it reads the source only. */
  ceiling?: boolean;
}

const DENO = Deno.execPath();
// As the installed command runs it: with its V8 flags (cli/v8_flags.ts).
const FERRY = [
  DENO,
  "run",
  V8_FLAGS_ARG,
  "--allow-all",
  join(FERRY_ROOT, "cli.ts"),
  "copy",
  "--quiet",
];
const BASELINE = Deno.env.get("FERRY_BASELINE");
const RCLONE_STREAMS = (flags.rclone ?? "8").split(",").map(Number);

/** `--verified`: the hashed rows, on the cases the verification target names. */
function verifiedCase(c: Case): boolean {
  return (flags.verified ?? false) &&
    ["big-net-local", "seq-net-local", "small-net-local", "big-local-local"].includes(c.id);
}

const CONTENDERS: Contender[] = [
  {
    name: "ceiling: 8× dd",
    ceiling: true,
    applies: (c) => c.from === "net",
    argv: (src, _dst, c) =>
      c.data.isDir
        ? ["bash", "-c", `find "${src}" -type f -print0 | xargs -0 -n 16 -P 8 cat > /dev/null`]
        : ["bash", "-c", ddReaders(src, c.data.bytes, 8)],
  },
  { name: "ferry", applies: () => true, argv: (src, dst) => [...FERRY, src, dst] },
  // FERRY_BASELINE=<another checkout>: that ferry too, for a before/after in one
  // run, started as plain `deno run` (V8's defaults, as checkouts before the flags).
  ...(BASELINE === undefined ? [] : [{
    name: "ferry (baseline)",
    applies: () => true,
    argv: (src: string, dst: string) => [
      ...[DENO, "run", "--allow-all", join(BASELINE, "cli.ts"), "copy", "--quiet"],
      ...[src, dst],
    ],
  }]),
  {
    name: "ferry 1 stream",
    applies: () => true,
    argv: (src, dst) => [
      ...FERRY,
      ...["--workers", "1", "--file-workers", "1", "--small-file-workers", "1"],
      ...["--offload", "never", src, dst],
    ],
  },
  { name: "cp", applies: () => true, argv: (src, dst) => ["cp", "-r", src, dst] },
  {
    name: "rsync -W --inplace",
    applies: () => true,
    argv: (src, dst, c) => ["rsync", "-a", "--whole-file", "--inplace", slash(src, c), dst],
  },
  {
    // rsync's defaults: a temporary file per file, renamed into place (and
    // whole-file anyway, since both paths are local to rsync).
    name: "rsync -a",
    applies: () => true,
    argv: (src, dst, c) => ["rsync", "-a", slash(src, c), dst],
  },

  ...RCLONE_STREAMS.map((n): Contender => ({
    name: `rclone ${n}`,
    applies: () => true,
    argv: (src, dst, c) => [
      "rclone",
      c.data.isDir ? "copy" : "copyto",
      "--config",
      "/dev/null",
      "--multi-thread-streams",
      String(n),
      "--multi-thread-cutoff",
      "10M",
      "--transfers",
      String(n),
      src,
      dst,
    ],
  })),
  {
    name: "ferry --hash xxh64",
    applies: verifiedCase,
    argv: (src, dst) => [...FERRY, "--hash", "xxh64", src, dst],
  },
  {
    name: "ferry --verify source",
    applies: verifiedCase,
    argv: (src, dst) => [...FERRY, "--verify", "source", src, dst],
  },
  {
    name: "dd 1 stream",
    applies: (c) => !c.data.isDir,
    argv: (src, dst) => ["dd", `if=${src}`, `of=${dst}`, "bs=1M", "status=none"],
  },
];

/** `--sweep`: ferry with one setting changed at a time, against its defaults. */
const SWEEP_VARIANTS: [string, string[]][] = [
  ["defaults", []],
  ["-w 4", ["--workers", "4"]],
  ["-w 12", ["--workers", "12"]],
  ["-w 16", ["--workers", "16"]],
  ["-j 2", ["--file-workers", "2"]],
  ["-j 8", ["--file-workers", "8"]],
  ["chunk 4MiB", ["--chunk-size", "4MiB"]],
  ["chunk 16MiB", ["--chunk-size", "16MiB"]],
  ["chunk 256MiB", ["--chunk-size", "256MiB"]],
  ["buffer 256KiB", ["--buffer-size", "256KiB"]],
  ["buffer 4MiB", ["--buffer-size", "4MiB"]],
  ["buffer 8MiB", ["--buffer-size", "8MiB"]],
  ["cutoff 4MiB", ["--cutoff", "4MiB"]],
  ["cutoff 16MiB", ["--cutoff", "16MiB"]],
  ["cutoff 256MiB", ["--cutoff", "256MiB"]],
  ["small-files 8", ["--small-file-workers", "8"]],
  ["small-files 32", ["--small-file-workers", "32"]],
  ["offload never", ["--offload", "never"]],
];
const SWEEP_CONTENDERS: Contender[] = SWEEP_VARIANTS.map(([name, args]) => ({
  name: name === "defaults" ? "ferry" : name,
  applies: () => true,
  argv: (src, dst) => [...FERRY, ...args, src, dst],
}));

function slash(src: string, c: Case): string {
  return c.data.isDir ? `${src}/` : src;
}

function ddReaders(src: string, bytes: number, n: number): string {
  const per = Math.ceil(bytes / MIB / n);
  const parts = Array.from(
    { length: n },
    (_, i) => `dd if="${src}" of=/dev/null bs=1M skip=${i * per} count=${per} status=none &`,
  );
  return `${parts.join(" ")} wait`;
}

function volume(bed: Bed, where: "net" | "local" | "reflink"): string {
  return where === "net" ? bed.net : where === "local" ? bed.local : bed.reflink;
}

/** Removes a copy; through net/ for the share (the kernel caches names for 1 s). */
async function clear(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

async function timeIt(
  argv: string[],
): Promise<{ ms: number; ok: boolean; err: string; cut: boolean }> {
  const start = performance.now();
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), MAX_MS);
  const out = await child.output();
  clearTimeout(timer);
  const ms = performance.now() - start;
  const cut = ms >= MAX_MS;
  return {
    ms: cut ? MAX_MS : ms,
    ok: out.success || cut,
    err: cut ? "" : new TextDecoder().decode(out.stderr).slice(0, 500),
    cut,
  };
}

interface CaseResult {
  c: Case;
  bytes: number;
  /** contender name → times in ms per round (undefined where it failed). */
  times: Map<string, (number | undefined)[]>;
  errors: Map<string, string>;
  /** Contenders stopped at the time limit in some round: their rates are upper bounds. */
  cut: Set<string>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function datasetBytes(path: string): Promise<{ bytes: number; files: number }> {
  const out = await sh(
    `find "${path}" -type f -printf '%s\\n' | awk '{s+=$1; n++} END {print s+0, n+0}'`,
  );
  const [bytes, files] = out.out.trim().split(" ").map(Number);
  return { bytes: bytes!, files: files! };
}

async function runCase(bed: Bed, c: Case): Promise<CaseResult> {
  // Seed the source (behind latfs for net/, so seeding costs no link time).
  const seedRoot = c.from === "net" ? bed.store : volume(bed, c.from);
  const srcName = `bench-src-${c.data.name}`;
  const seedPath = join(seedRoot, srcName);
  await clear(c.from === "net" ? join(bed.net, srcName) : seedPath);
  await c.data.make(seedPath);
  await sh("sync");
  await new Promise((r) => setTimeout(r, 1200)); // let net/ see it (1 s attribute cache)
  const src = join(volume(bed, c.from), srcName);
  const { bytes, files } = await datasetBytes(seedPath);
  const dst = join(volume(bed, c.to), `bench-dst-${c.data.name}`);
  const only = flags.contenders?.split(",");
  const contenders = (SWEEP ? SWEEP_CONTENDERS : CONTENDERS).filter((k) =>
    k.applies(c) && (only === undefined || only.includes(k.name))
  );
  const result: CaseResult = { c, bytes, times: new Map(), errors: new Map(), cut: new Set() };
  for (const k of contenders) result.times.set(k.name, []);
  logLine(`\n## ${c.title}: ${c.data.describe} (${(bytes / MIB).toFixed(0)} MiB, ${files} files)`);
  for (let round = 0; round <= RUNS; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    for (const k of order) {
      await clear(dst);
      const run = await timeIt(k.argv(src, dst, c));
      if (run.cut) result.cut.add(k.name);
      if (!k.ceiling && run.ok && !run.cut) {
        const copied = await datasetBytes(dst);
        if (copied.bytes !== bytes) {
          run.ok = false;
          run.err = `copied ${copied.bytes} of ${bytes} bytes`;
        }
      }
      if (!run.ok) result.errors.set(k.name, run.err.trim() || "failed");
      if (round > 0) result.times.get(k.name)!.push(run.ok ? run.ms : undefined);
      logLine(
        `${round === 0 ? "warm-up" : `round ${round}`}  ${k.name.padEnd(20)} ${
          run.ok ? `${run.ms.toFixed(1).padStart(9)} ms  ${rateText(bytes, run.ms)}` : "FAILED"
        }${run.cut ? "  (stopped at the time limit)" : ""}`,
      );
    }
  }
  await clear(dst);
  await clear(c.from === "net" ? join(bed.net, srcName) : seedPath);
  return result;
}

function rateText(bytes: number, ms: number): string {
  return `${(bytes / MIB / (ms / 1000)).toFixed(0).padStart(6)} MiB/s`;
}

/**
 * Rebuilds case results from a log written by {@linkcode logLine}: the
 * heading of each case gives its bytes, each round line the contender's time
 * (older logs have only the rate, rounded to 1 MiB/s; the time is then
 * derived from it). Warm-up lines are skipped.
 */
function parseLog(text: string): CaseResult[] {
  const results: CaseResult[] = [];
  let current: CaseResult | undefined;
  for (const line of text.split("\n")) {
    const head = /^## (.*?): .* \((\d+) MiB, \d+ files\)$/.exec(line);
    if (head) {
      const c = CASES.find((x) => x.title === head[1]);
      if (c === undefined) throw new Error(`--from-log: unknown case '${head[1]}'`);
      const bytes = Number(head[2]) * MIB;
      current = { c, bytes, times: new Map(), errors: new Map(), cut: new Set() };
      results.push(current);
      continue;
    }
    const round = /^round \d+ {2}(.+?) +(?:([\d.]+) ms {2})?(?: *(\d+) MiB\/s|(FAILED))(.*)$/.exec(
      line,
    );
    if (!round || current === undefined) continue;
    const [, name, ms, rate, failed, rest] = round;
    const times = current.times.get(name!) ?? [];
    current.times.set(name!, times);
    if (failed) {
      times.push(undefined);
      current.errors.set(name!, "failed");
      continue;
    }
    const time = ms !== undefined ? Number(ms) : current.bytes / MIB / Number(rate) * 1000;
    // A run stopped at the limit was counted at the limit (its rate then
    // equals bytes / limit; older logs do not mark it otherwise).
    const atLimit = Math.abs(current.bytes / MIB / (MAX_MS / 1000) - Number(rate ?? NaN)) < 0.5;
    if (rest!.includes("time limit") || atLimit) current.cut.add(name!);
    times.push(time);
  }
  return results;
}

interface Row {
  name: string;
  median: number;
  min: number;
  max: number;
  /** Median over rounds of ferry's rate divided by this contender's. */
  ferryRatio: number;
  ok: boolean;
}

function rows(r: CaseResult): Row[] {
  const rate = (ms: number): number => r.bytes / MIB / (ms / 1000);
  const ferry = r.times.get("ferry") ?? [];
  const out: Row[] = [];
  for (const [name, times] of r.times) {
    const good = times.filter((t): t is number => t !== undefined).map(rate);
    const ratios: number[] = [];
    times.forEach((t, i) => {
      const f = ferry[i];
      if (t !== undefined && f !== undefined) ratios.push(t / f);
    });
    out.push({
      name,
      median: median(good),
      min: Math.min(...good),
      max: Math.max(...good),
      ferryRatio: median(ratios),
      ok: good.length === times.length && good.length > 0,
    });
  }
  return out;
}

async function memoryAndCancel(bed: Bed): Promise<string[]> {
  const lines: string[] = [];
  // Peak RSS for many small files, planned and copied (local → local), at
  // two file counts: the target is flat memory, at most 64 MiB + workers × buffer.
  const peaks: { files: number; mib: number; wall: string }[] = [];
  for (const files of [MEMORY_FILES / 10, MEMORY_FILES]) {
    const src = join(bed.local, "bench-mem-src");
    const dst = join(bed.local, "bench-mem-dst");
    await clear(src);
    await clear(dst);
    const made = await sh(
      `mkdir -p "${src}" && cd "${src}" && for d in $(seq 0 99); do mkdir d$d; done && ` +
        `for i in $(seq 0 ${files - 1}); do printf x > d$((i % 100))/f$i; done`,
    );
    if (made.ok) {
      const out = await sh(`/usr/bin/time -v ${FERRY.join(" ")} "${src}" "${dst}" 2>&1 >/dev/null`);
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(out.out)?.[1];
      const wall = /Elapsed \(wall clock\) time.*: (.*)/.exec(out.out)?.[1] ?? "?";
      if (rss !== undefined) peaks.push({ files, mib: Number(rss) / 1024, wall });
    }
    await clear(src);
    await clear(dst);
  }
  const limit = 64 + 8; // 64 MiB + 8 workers × 1 MiB buffers
  lines.push(
    `- Peak RSS copying one-byte files (local → local): ${
      peaks.map((p) => `${p.files} files ${p.mib.toFixed(0)} MiB (wall ${p.wall})`).join(", ")
    }. Target: flat in file count and ≤ ${limit} MiB: ${
      peaks.length === 2 && peaks.every((p) => p.mib <= limit) &&
        peaks[1]!.mib <= peaks[0]!.mib * 1.1
        ? "met"
        : "**missed**"
    }.`,
  );
  // Cancel latency: SIGINT while a big file is being copied, to process exit.
  const big = join(bed.store, "bench-cancel.bin");
  await writeSampleFile(big, 1024 * MIB, 7);
  await new Promise((r) => setTimeout(r, 1200));
  const latencies: number[] = [];
  let leftovers = 0;
  for (let i = 0; i < (QUICK ? 2 : 5); i++) {
    const out = join(bed.local, "bench-cancel-out");
    await clear(out);
    const child = new Deno.Command(FERRY[0]!, {
      args: [...FERRY.slice(1), join(bed.net, "bench-cancel.bin"), join(out, "x.bin")],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, 700));
    const sent = performance.now();
    child.kill("SIGINT");
    await child.status;
    latencies.push(performance.now() - sent);
    leftovers += (await sh(`find "${out}" -type f 2>/dev/null | wc -l`)).out.trim() === "0" ? 0 : 1;
    await clear(out);
  }
  const stops: number[] = [];
  for (let i = 0; i < (QUICK ? 2 : 5); i++) {
    stops.push(
      await workersStopMs(join(bed.net, "bench-cancel.bin"), join(bed.local, "bench-stop")),
    );
  }
  await clear(join(bed.net, "bench-cancel.bin"));
  lines.push(
    `- Cancel: SIGINT during a 1 GiB net → local copy to process exit (workers stopped, ` +
      `partial file removed), median ${median(latencies).toFixed(0)} ms (min ` +
      `${Math.min(...latencies).toFixed(0)}, max ${Math.max(...latencies).toFixed(0)}); ` +
      `runs that left any file behind: ${leftovers}`,
    `- Cancel, in process: \`abort()\` to the last byte any worker copied, median ` +
      `${median(stops).toFixed(1)} ms (min ${Math.min(...stops).toFixed(1)}, max ` +
      `${Math.max(...stops).toFixed(1)}; progress sampled every millisecond). Target ≤ 100 ms: ${
        median(stops) <= 100 ? "met" : "**missed**"
      }.`,
  );
  return lines;
}

/**
 * Cancel latency inside the engine: aborts a copy of `src` 700 ms in and
 * returns the time from `abort()` to the last change of the workers' byte
 * counters (sampled every millisecond through `onProgress`).
 */
async function workersStopMs(src: string, dir: string): Promise<number> {
  const ferry = await import(join(FERRY_ROOT, "mod.ts"));
  await clear(dir);
  const controller = new AbortController();
  let lastBytes = -1;
  let lastChange = 0;
  let abortedAt = 0;
  const timer = setTimeout(() => {
    abortedAt = performance.now();
    controller.abort();
  }, 700);
  try {
    await ferry.copy(src, join(dir, "x.bin"), {
      signal: controller.signal,
      progressIntervalMs: 1,
      onProgress: (p: { bytesDone: number }) => {
        if (p.bytesDone === lastBytes) return;
        lastBytes = p.bytesDone;
        lastChange = performance.now();
      },
    });
  } catch (error) {
    if (!(error instanceof ferry.CancelledError)) throw error;
  } finally {
    clearTimeout(timer);
    await clear(dir);
  }
  return Math.max(0, lastChange - abortedAt);
}

async function startup(): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "a"), "x");
  await Deno.writeTextFile(join(dir, "empty.ts"), "");
  const binary = await buildBinary(dir);
  const times: number[] = [];
  const empty: number[] = [];
  const compiled: number[] = [];
  for (let i = 0; i < 15; i++) {
    await clear(join(dir, "b"));
    times.push((await timeIt([...FERRY, join(dir, "a"), join(dir, "b")])).ms);
    empty.push((await timeIt([DENO, "run", join(dir, "empty.ts")])).ms);
    if (typeof binary === "string" && !binary.startsWith("not ")) {
      await clear(join(dir, "b"));
      compiled.push((await timeIt([binary, "copy", "--quiet", join(dir, "a"), join(dir, "b")])).ms);
    }
  }
  await Deno.remove(dir, { recursive: true });
  return [
    `- Start-up, one small file copied by \`deno run cli.ts\`: median ${
      median(times.slice(3)).toFixed(0)
    } ms; ` +
    `an empty \`deno run\` script: ${median(empty.slice(3)).toFixed(0)} ms.`,
    compiled.length > 0
      ? `- Start-up of the compiled binary (\`deno task compile\`), one small file: median ${
        median(compiled.slice(3)).toFixed(0)
      } ms.`
      : `- Compiled binary: ${binary}.`,
  ];
}

/**
 * Builds the single binary with the `compile` task's own arguments into
 * `dir`; returns its path, or why it could not be built.
 */
async function buildBinary(dir: string): Promise<string> {
  const output = join(dir, "ferry");
  const build = await compileBinary(output, FERRY_ROOT);
  if (build.ok) return output;
  return build.offline
    ? "not measured: `deno compile` cannot download its denort runtime from this machine"
    : `not measured: \`deno compile\` failed (${build.log.trim().split("\n").at(-1)})`;
}

function svg(results: CaseResult[]): string {
  const names = [...new Set(results.flatMap((r) => [...r.times.keys()]))];
  const palette = [
    "#999999",
    "#d62728",
    "#ff9896",
    "#1f77b4",
    "#2ca02c",
    "#98df8a",
    "#9467bd",
    "#c5b0d5",
    "#8c564b",
    "#17becf",
  ];
  const groupW = 30 + names.length * 12;
  const width = 80 + results.length * groupW;
  const height = 360;
  // The scale ends at the highest rate within 20× the median of all rates, so
  // that a reflink (a clone "copies" at hundreds of GB/s) does not flatten
  // every other bar; taller bars are cut at the top and labelled.
  const medians = results.flatMap((r) =>
    rows(r).map((x) => x.median).filter((v) => Number.isFinite(v))
  );
  const typical = median(medians);
  const max = Math.max(...medians.filter((v) => v <= 20 * typical), 1);
  const y = (v: number): number => 300 - (Math.min(v, max) / max) * 260;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
      height + names.length * 14
    }" font-family="sans-serif" font-size="10">`,
    `<text x="10" y="16" font-size="13">ferry vs peers: median MiB/s per case (bench/RESULTS.md)</text>`,
    `<line x1="60" y1="300" x2="${width}" y2="300" stroke="#000"/>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    parts.push(
      `<text x="5" y="${y(v) + 3}">${v.toFixed(0)}</text><line x1="60" y1="${
        y(v)
      }" x2="${width}" y2="${y(v)}" stroke="#eee"/>`,
    );
  }
  results.forEach((r, gi) => {
    const x0 = 70 + gi * groupW;
    for (const row of rows(r)) {
      const i = names.indexOf(row.name);
      if (!Number.isFinite(row.median)) continue;
      parts.push(
        `<rect x="${x0 + i * 12}" y="${y(row.median)}" width="10" height="${
          300 - y(row.median)
        }" fill="${palette[i % palette.length]}"><title>${row.name}: ${
          row.median.toFixed(0)
        } MiB/s</title></rect>`,
      );
      if (row.median > max) {
        parts.push(
          `<text x="${x0 + i * 12}" y="36" font-size="8">▲${
            (row.median / 1024).toFixed(0)
          }G</text>`,
        );
      }
    }
    parts.push(`<text x="${x0}" y="315" transform="rotate(30 ${x0} 315)">${r.c.id}</text>`);
  });
  names.forEach((name, i) => {
    parts.push(
      `<rect x="10" y="${height + i * 14 - 9}" width="10" height="10" fill="${
        palette[i % palette.length]
      }"/><text x="24" y="${height + i * 14}">${name}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

async function machine(): Promise<string> {
  const cpu = (await sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")).out.trim();
  const mem = (await sh("free -g | awk '/Mem:/ {print $2}'")).out.trim();
  const kernel = (await sh("uname -r")).out.trim();
  const versions = (await sh(
    "cp --version | head -1; rsync --version | head -1; rclone version | head -1",
  )).out.trim().split("\n").join("; ");
  return `${Deno.build.os} ${kernel}, ${navigator.hardwareConcurrency} cores (${cpu}), ${mem} GiB RAM; ` +
    `Deno ${Deno.version.deno}; ferry ${FERRY_COMMIT}; ${versions}`;
}

function fmtRate(v: number): string {
  return Number.isFinite(v) ? v.toFixed(0) : "–";
}

/** The issue's targets, checked against this run's medians (ratios are round-by-round medians). */
function targets(results: CaseResult[]): string[] {
  const find = (id: string): Row[] | undefined => {
    const r = results.find((x) => x.c.id === id);
    return r === undefined ? undefined : rows(r);
  };
  const rowOf = (id: string, name: string): Row | undefined =>
    find(id)?.find((row) => row.name === name);
  const bestRclone = (id: string): Row | undefined =>
    find(id)?.filter((row) => row.name.startsWith("rclone")).sort((a, b) => b.median - a.median)[0];
  const out: string[] = [];
  const check = (label: string, value: number | undefined, goal: number): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    out.push(
      `| ${label} | ${value.toFixed(2)} | ${goal} | ${value >= goal ? "met" : "**missed**"} |`,
    );
  };
  for (const id of ["big-net-local", "seq-net-local"]) {
    const ferry = rowOf(id, "ferry");
    const ceiling = rowOf(id, "ceiling: 8× dd");
    if (ferry && ceiling) check(`${id}: ferry ÷ ceiling`, ferry.median / ceiling.median, 0.9);
    check(`${id}: ferry ÷ ferry 1 stream`, rowOf(id, "ferry 1 stream")?.ferryRatio, 3);
    check(`${id}: ferry ÷ best rclone`, bestRclone(id)?.ferryRatio, 1.5);
  }
  check("small-net-local: ferry ÷ cp", rowOf("small-net-local", "cp")?.ferryRatio, 3);
  check("small-net-local: ferry ÷ best rclone", bestRclone("small-net-local")?.ferryRatio, 1);
  check("big-local-local: ferry ÷ cp", rowOf("big-local-local", "cp")?.ferryRatio, 0.95);
  check("big-reflink: ferry ÷ cp", rowOf("big-reflink", "cp")?.ferryRatio, 0.95);
  check(
    "big-reflink: ferry ÷ ferry 1 stream (read/write)",
    rowOf("big-reflink", "ferry 1 stream")?.ferryRatio,
    50,
  );
  for (const id of ["big-net-local", "seq-net-local", "small-net-local", "big-local-local"]) {
    const verified = rowOf(id, "ferry --verify source")?.ferryRatio;
    if (verified !== undefined) {
      check(`${id}: --verify source ÷ ferry (cost ≤ 15 %)`, 1 / verified, 0.85);
    }
  }
  if (out.length === 0) return [];
  return ["| target | measured | goal | |", "|---|---:|---:|---|", ...out, ""];
}

function report(
  results: CaseResult[],
  extra: string[],
  machineLine: string,
  command: string,
  source: string,
): string {
  const lines = [
    SWEEP ? "# ferry settings sweep" : "# ferry benchmark results",
    "",
    `Generated by \`${command}\` on ${
      new Date().toISOString().slice(0, 16).replace("T", " ")
    } UTC.`,
    "",
    `Machine: ${machineLine}.`,
    "",
    ...(source === "" ? [] : [source, ""]),
    "Storage: `../shared/testbed` — `net/` is a FUSE share with 0.5 ms per request and a 1180 MiB/s " +
    "(10 GbE) link; `local/` a tmpfs; `reflink/` XFS with reflink on a loop device.",
    "",
    `Method: each case seeds its data once; every contender copies it to a fresh destination in ` +
    `rotating order, one warm-up round and ${RUNS} timed rounds. MiB/s = dataset bytes / wall time ` +
    `of the whole process. "ferry ÷" is the median over rounds of ferry's rate divided by that ` +
    `contender's rate in the same round (>1: ferry faster). The ceiling reads the source with 8 ` +
    `parallel readers and writes nothing. ferry runs with \`--allow-all\` (offload on); ` +
    `"ferry 1 stream" is \`--workers 1 --file-workers 1 --small-file-workers 1 --offload never\`, the single-threaded baseline ` +
    `of the original tool's claim.`,
    "",
  ];
  for (const r of results) {
    lines.push(
      `## ${r.c.title}`,
      "",
      `${r.c.data.describe}, ${(r.bytes / MIB).toFixed(0)} MiB.`,
      "",
    );
    lines.push("| contender | median MiB/s | min–max | ferry ÷ |", "|---|---:|---:|---:|");
    for (const row of rows(r)) {
      const ratio = row.name === "ferry"
        ? "1"
        : Number.isFinite(row.ferryRatio)
        ? row.ferryRatio.toFixed(2)
        : "–";
      const note = r.errors.has(row.name)
        ? ` (failed: ${r.errors.get(row.name)!.split("\n")[0]})`
        : r.cut.has(row.name)
        ? ` (stopped at ${MAX_MS / 1000} s in some rounds: upper bounds)`
        : "";
      lines.push(
        `| ${row.name}${note} | ${fmtRate(row.median)} | ${fmtRate(row.min)}–${
          fmtRate(row.max)
        } | ${ratio} |`,
      );
    }
    lines.push("");
  }
  const goals = targets(results);
  if (goals.length > 0 && !SWEEP) lines.push("## Targets", "", ...goals);
  if (extra.length > 0) lines.push("## Memory, cancel, start-up", "", ...extra, "");
  return lines.join("\n");
}

/**
 * The settings sweep (bench/SWEEP.md, from `--sweep`), demoted one heading
 * level so that RESULTS.md carries it as its last section.
 */
async function sweepSection(): Promise<string[]> {
  const text = await Deno.readTextFile(join(ROOT, "bench", "SWEEP.md")).catch(() => "");
  if (text === "") return [];
  const body = text.split("\n").slice(1).map((line) => line.startsWith("#") ? `#${line}` : line);
  return [
    "## Settings sweep",
    "",
    "Copied from bench/SWEEP.md, which `deno task bench:compare --sweep` writes; the engine's " +
    "defaults point here. \"ferry ÷\" is the defaults' rate over the variant's, round by round " +
    "(>1: the defaults were faster).",
    ...body,
  ];
}

if (import.meta.main) {
  const bed = await readBed();
  const wanted = flags.cases?.split(",") ??
    (SWEEP
      ? ["big-net-local", "seq-net-local", "small-net-local", "big-local-local", "seq-local-net"]
      : undefined);
  const cases = CASES.filter((c) => !wanted || wanted.includes(c.id));
  const fromLog = flags["from-log"];
  const results: CaseResult[] = fromLog === undefined
    ? []
    : parseLog(await Deno.readTextFile(fromLog)).filter((r) => cases.includes(r.c));
  let source = "";
  if (fromLog === undefined) {
    logLine(`# ferry ${FERRY_COMMIT}, started ${new Date().toISOString()}`);
    for (const c of cases) results.push(await runCase(bed, c));
  } else {
    const text = await Deno.readTextFile(fromLog);
    const commit = /^# ferry (.*), started/m.exec(text)?.[1] ?? /\((git [^)]*)\)/.exec(text)?.[1];
    source = `The case tables are rebuilt from \`${fromLog}\`, the per-round log of an ` +
      `earlier run of this script (ferry ${commit ?? "commit not recorded"}); the memory, ` +
      `cancel and start-up lines were measured by this command.`;
  }
  const extra = SWEEP || (wanted && !wanted.includes("extra"))
    ? []
    : [...(await memoryAndCancel(bed)), ...(await startup())];
  const command = `deno task bench:compare${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
  const text = [
    report(results, extra, await machine(), command, source),
    ...(SWEEP || QUICK || flags.append ? [] : await sweepSection()),
  ].join("\n");
  console.log(text);
  if (OUT !== undefined && flags.append) {
    // Add this run's cases to an existing report, under its own heading.
    const body = text.split("\n").slice(2).join("\n");
    await Deno.writeTextFile(OUT, `\n# Added by \`${command}\`\n\n${body}`, { append: true });
    console.error(`appended to ${OUT}`);
  } else if (OUT !== undefined) {
    await Deno.writeTextFile(OUT, text);
    if (!SWEEP) {
      const chart = OUT.endsWith("RESULTS.md")
        ? OUT.replace(/RESULTS\.md$/, "results.svg")
        : OUT.replace(/\.md$/, "") + ".svg";
      await Deno.writeTextFile(chart, svg(results));
    }
    console.error(`wrote ${OUT}`);
  }
}
