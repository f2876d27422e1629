import { dirname, join } from "node:path";
import { copyAll } from "./_outcomes.ts";
import { summaryLines } from "../cli/render.ts";
import {
  asNobody,
  assert,
  assertEquals,
  assertMatch,
  assertNoStackTrace,
  assertNoTemps,
  assertSameTree,
  listTree,
  ROOT,
  runCli,
  spawnCli,
  testbed,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/**
 * Runs a bash script around the CLI (redirections, pipes): `$0` is deno,
 * `$1` ferry's cli.ts, then `args`.
 */
async function cliInShell(
  script: string,
  ...args: string[]
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command("bash", {
    args: ["-c", script, Deno.execPath(), join(ROOT, "cli.ts"), ...args],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

async function makeTree(root: string): Promise<void> {
  await Deno.mkdir(join(root, "plate"), { recursive: true });
  await Deno.mkdir(join(root, "locked"), { recursive: true });
  await Deno.writeTextFile(join(root, "locked", "secret.exr"), "hidden");
  for (let i = 1; i <= 3; i++) await writeRandomFile(join(root, "plate", `f.${i}.exr`), 5000 * i);
}

Deno.test("an unreadable folder inside a tree fails itself; the rest is copied, hashed and verified", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await makeTree(src);
    assertEquals((await runCli(["copy", "--mhl", src, join(dir, "delivered")])).code, 0);
    const prefix = await asNobody(dir);
    assert(prefix !== null, "setpriv is needed to drop root privileges for this test");
    await Deno.chmod(join(src, "locked"), 0o000);
    await Deno.chmod(join(dir, "delivered", "locked"), 0o000);
    const out = join(dir, "out");
    const copy = await runCli(["copy", src, out], { prefix });
    assertEquals(copy.code, 1, copy.stderr);
    assertMatch(
      copy.stderr,
      /failed: Cannot copy '.*src\/locked' to '.*out\/locked': cannot list the source folder: permission denied/,
    );
    assertEquals(await listTree(out), ["plate", "plate/f.1.exr", "plate/f.2.exr", "plate/f.3.exr"]);
    const hash = await runCli(["hash", src], { prefix });
    assertEquals(hash.code, 1);
    assertEquals(hash.stdout.trim().split("\n").length, 3);
    assertMatch(
      hash.stderr,
      /cannot hash '.*src\/locked': cannot list the folder: permission denied/,
    );
    const verify = await runCli(["verify", "--no-record", join(dir, "delivered")], { prefix });
    assertEquals(verify.code, 1);
    assertMatch(
      verify.stdout,
      /^UNREADABLE locked\/ \(cannot list the folder '.*delivered\/locked': permission denied\)$/m,
    );
    assertMatch(verify.stdout, /^OK +plate\/f\.3\.exr$/m);
    await Deno.chmod(join(src, "locked"), 0o755);
    await Deno.chmod(join(dir, "delivered", "locked"), 0o755);
  });
});

Deno.test("devices and FIFOs are never read; a JSON batch is read up to 256 MiB", async () => {
  await withTempDir(async (dir) => {
    for (const args of [["hash", "/dev/zero"], ["hash", "/dev/urandom"]]) {
      const run = await runCli(args);
      assertEquals(run.code, 2, args.join(" "));
      assertMatch(run.stderr, /Cannot hash '\/dev\/\w+': not a regular file/);
    }
    const fifo = join(dir, "pipe");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert(made.success, "mkfifo");
    const hashFifo = await runCli(["hash", fifo]);
    assertEquals(hashFifo.code, 2);
    assertMatch(hashFifo.stderr, /not a regular file/);
    const copyDevice = await runCli(["copy", "/dev/zero", join(dir, "zero")]);
    assertEquals(copyDevice.code, 2);
    assertMatch(copyDevice.stderr, /source '\/dev\/zero' is not a file or directory/);
    const applyDevice = await runCli(["apply", "/dev/zero"]);
    assertEquals(applyDevice.code, 2);
    assertMatch(applyDevice.stderr, /Cannot read batch file '\/dev\/zero': not a regular file/);
    // Endless input on stdin stops at the limit.
    const endless = await cliInShell(`exec "$0" run --quiet -A "$1" apply - < /dev/zero`);
    const stderr = endless.stderr;
    assertEquals(endless.code, 2, stderr);
    assertMatch(
      stderr,
      /Cannot read the batch on stdin: it is larger than 256 MiB, the most a batch may be/,
    );
    assertNoStackTrace(["apply", "-"], stderr);
    // A FIFO inside a tree is not listed by hash, and fails that entry in a copy.
    await Deno.mkdir(join(dir, "tree"));
    await Deno.rename(fifo, join(dir, "tree", "pipe"));
    await Deno.writeTextFile(join(dir, "tree", "a.txt"), "a");
    const hashTree = await runCli(["hash", join(dir, "tree")]);
    assertEquals(hashTree.code, 0, hashTree.stderr);
    assertEquals(hashTree.stdout.trim().split("\n").length, 1);
    const copyTree = await runCli(["copy", join(dir, "tree"), join(dir, "copied")]);
    assertEquals(copyTree.code, 1);
    assertMatch(copyTree.stderr, /pipe.*not a regular file/);
  });
});

Deno.test("output into a closed pipe ends the run quietly as a cancel, with nothing half-written", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    for (let i = 0; i < 400; i++) await writeRandomFile(join(src, `f${i}.exr`), 20_000);
    for (const command of [`copy --json "$2" "$3"`, `hash "$2"`]) {
      const run = await cliInShell(
        `"$0" run --quiet -A "$1" ${command} | head -2 >/dev/null; exit "\${PIPESTATUS[0]}"`,
        src,
        join(dir, "out"),
      );
      const stderr = run.stderr;
      assertEquals(run.code, 130, `${command}: ${stderr}`);
      assertNoStackTrace([command], stderr);
      await assertNoTemps(join(dir, "out"));
    }
  });
});

Deno.test("a copy worker whose module may not be read fails its files in plain words", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "big.mov"), 8 * 1024 * 1024);
    await Deno.mkdir(join(dir, "out"));
    const run = await runCli(["copy", "--cutoff", "1MiB", join(dir, "big.mov"), join(dir, "out")], {
      flags: [
        `--allow-read=${ROOT},${dir}`,
        `--deny-read=${join(ROOT, "lib", "workers", "copy_worker.ts")}`,
        `--allow-write=${dir}`,
      ],
    });
    assertEquals(run.code, 1, run.stderr);
    assertMatch(
      run.stderr,
      /ferry cannot load its copy worker '.*workers\/copy_worker\.ts': it was not granted read access to it/,
    );
    assertEquals(await listTree(join(dir, "out")), []);
  });
});

/** Waits until a process has installed its handler for a signal (its SigCgt mask has the bit). */
async function waitForHandler(pid: number, signal: number): Promise<boolean> {
  for (let i = 0; i < 2000; i++) {
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const mask = /SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1];
    if (mask !== undefined && (BigInt(`0x${mask}`) >> BigInt(signal - 1)) & 1n) return true;
    await new Promise((r) => setTimeout(r, 1));
  }
  return false;
}

Deno.test("SIGTERM in the first moments, before the copy starts, ends with 130 and nothing written", async () => {
  await withTempDir(async (dir) => {
    // Thousands of files: planning them takes long enough that the signal,
    // sent as soon as the CLI catches SIGTERM, comes before the copy is done.
    const src = join(dir, "shot");
    await Deno.mkdir(src);
    for (let i = 0; i < 3000; i++) await Deno.writeTextFile(join(src, `f.${i}.exr`), "x");
    for (let round = 0; round < 3; round++) {
      const out = join(dir, `out${round}`);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "-A", join(ROOT, "cli.ts"), "copy", src, out],
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      assert(await waitForHandler(child.pid, 15), "the CLI catches SIGTERM");
      // Deno hands a signal to the listener from its event loop: give the loop
      // a few turns after the listener is bound (a signal inside Deno's own
      // start-up, before any of ferry runs, cannot be caught by any script).
      await new Promise((r) => setTimeout(r, 30));
      child.kill("SIGTERM");
      const result = await child.output();
      const stderr = new TextDecoder().decode(result.stderr);
      assertEquals(
        result.code,
        130,
        `round ${round}, stderr: ${JSON.stringify(stderr)}, left: ${(await listTree(out)).length}`,
      );
      assertNoStackTrace(["copy"], stderr);
      // Either nothing at all, or a cancelled copy that removed its temporaries.
      await assertNoTemps(out);
      assert((await listTree(out)).length < 3000, "the copy was stopped before its end");
    }
    // Before any batch exists: `apply -` waiting for its batch on stdin.
    const waiting = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", join(ROOT, "cli.ts"), "apply", "-"],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    assert(
      await waitForHandler(waiting.pid, 15),
      "the CLI catches SIGTERM while it waits for input",
    );
    await new Promise((r) => setTimeout(r, 30));
    waiting.kill("SIGTERM");
    const result = await waiting.output();
    const stderr = new TextDecoder().decode(result.stderr);
    assertEquals(result.code, 130, stderr);
    assertMatch(stderr, /ferry: interrupted before anything was written/);
  });
});

Deno.test("a name that is not UTF-8 fails itself and is never read in place of another file", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(src);
    await Deno.writeTextFile(join(src, "plain.exr"), "plain");
    // Deno cannot make such a name: python3 writes the Latin-1 bytes.
    const made = await new Deno.Command("python3", {
      args: [
        "-c",
        "import sys; open(sys.argv[1].encode() + b'/caf\\xe9.exr', 'w').write('latin-1')",
        src,
      ],
    }).output();
    assert(made.success, "python3 writes a Latin-1 name");
    const lone = await runCli(["copy", src, join(dir, "out")]);
    assertEquals(lone.code, 1, lone.stderr);
    assertMatch(
      lone.stderr,
      /caf\uFFFD\.exr': its name is not valid UTF-8 .*which ferry cannot address/,
    );
    assertEquals(await listTree(join(dir, "out")), ["plain.exr"]);
    // A real file whose name has U+FFFD in it reads as the same name: neither is copied.
    await Deno.writeTextFile(join(src, "caf\uFFFD.exr"), "other file");
    const twin = await runCli(["copy", src, join(dir, "out2")]);
    assertEquals(twin.code, 1);
    assertEquals(twin.stderr.match(/not valid UTF-8/g)?.length, 2);
    assertEquals(await listTree(join(dir, "out2")), ["plain.exr"]);
  });
});

const OWNED = ["--allow-read", "--allow-write", "--allow-sys=hostname,statfs"];

/** Spawns a copy and waits until its temporary file appears beside `dst`. */
async function copyUntilTemp(src: string, dst: string): Promise<Deno.ChildProcess> {
  // Small buffers on one worker: slow enough to be caught mid-way.
  const child = spawnCli(
    ["copy", "--cutoff", "1MiB", "--workers", "1", "--buffer-size", "4KiB", src, dst],
    OWNED,
  );
  const seen = await waitFor(async () =>
    (await Array.fromAsync(Deno.readDir(dirname(dst)))).some((e) =>
      e.name.endsWith(".ferry-partial")
    )
  );
  if (!seen) throw new Error("no temporary file appeared");
  child.kill("SIGSTOP"); // held mid-copy until the test says otherwise
  return child;
}

Deno.test("temporaries of a killed run are removed by the next run; those of a running one are not", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "big.mov"), 256 * 1024 * 1024);
    await writeRandomFile(join(dir, "other.mov"), 1000);
    const out = join(dir, "out");
    await Deno.mkdir(out);
    // A run that is still going (stopped for the test): its temporary stays.
    const running = await copyUntilTemp(join(dir, "big.mov"), join(out, "big.mov"));
    const [temp] = (await listTree(out)).filter((p) => p.endsWith(".ferry-partial"));
    const beside = await runCli(["copy", join(dir, "other.mov"), join(out, "other.mov")], {
      flags: OWNED,
    });
    assertEquals(beside.code, 0, beside.stderr);
    assertMatch(beside.stderr, /left alone 1 temporary file of ferry runs that may still be going/);
    await Deno.stat(join(out, temp!));
    running.kill("SIGCONT");
    assertEquals((await running.status).code, 0, "the other run finishes unharmed");
    // A run killed with SIGKILL: the next run into the folder removes what it left.
    await Deno.remove(join(out, "big.mov"));
    const killed = await copyUntilTemp(join(dir, "big.mov"), join(out, "big.mov"));
    killed.kill("SIGKILL");
    await killed.status;
    assertEquals((await listTree(out)).filter((p) => p.endsWith(".ferry-partial")).length, 1);
    // An older ferry's temporary (no owner in its name) is left alone too.
    await Deno.writeTextFile(join(out, ".old.exr.0123456789abcdef.ferry-partial"), "old");
    const rerun = await runCli(
      ["copy", "--update", join(dir, "other.mov"), join(out, "other.mov")],
      {
        flags: OWNED,
      },
    );
    assertEquals(rerun.code, 0, rerun.stderr);
    assertMatch(
      rerun.stderr,
      /removed 1 temporary file \([\d.]+ [KMG]?i?B\) that killed runs had left/,
    );
    assertMatch(
      rerun.stderr,
      /left alone 1 temporary file .*\.old\.exr\.0123456789abcdef\.ferry-partial/,
    );
    assertEquals(await listTree(out), [".old.exr.0123456789abcdef.ferry-partial", "other.mov"]);
  });
});

Deno.test("a lease a run killed while taking it left half-made (`.lease.new`) is removed by the next run into the folder", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "other.mov"), 1000);
    const out = join(dir, "out");
    await Deno.mkdir(out);
    // Made, not yet locked and renamed to its own name, when its run was killed.
    await Deno.writeFile(join(out, ".ferry-run.0123456789abcdef.lease.new"), new Uint8Array());
    const run = await runCli(["copy", join(dir, "other.mov"), join(out, "other.mov")], {
      flags: OWNED,
    });
    assertEquals(run.code, 0, run.stderr);
    assertEquals(await listTree(out), ["other.mov"]);
  });
});

/** `makeReadOnly` for a synchronous callback: chattr +i as root, else mode 0555. */
function makeReadOnlySync(dir: string): () => Promise<void> {
  if (Deno.uid() !== 0) {
    Deno.chmodSync(dir, 0o555);
    return () => Deno.chmod(dir, 0o755);
  }
  new Deno.Command("chattr", { args: ["+i", dir] }).outputSync();
  return async () => void (await new Deno.Command("chattr", { args: ["-i", dir] }).output());
}

Deno.test("temporaries that cannot be removed are named in the result and the summary", async () => {
  await withTempDir(async (dir) => {
    await writeRandomFile(join(dir, "a.mov"), 24 * 1024 * 1024);
    const out = join(dir, "out");
    await Deno.mkdir(out);
    let undo: (() => Promise<void>) | null = null;
    const result = await copyAll(join(dir, "a.mov"), join(out, "a.mov"), {
      cutoffBytes: 1024 * 1024,
      chunkBytes: 1024 * 1024,
      onChunk: () => {
        // The folder turns read-only while the copy runs.
        if (undo === null) undo = makeReadOnlySync(out);
      },
    });
    try {
      assert(undo !== null, "chattr +i (as root) or mode 0555 is needed for this test");
      assertEquals(result.files[0]?.status, "failed");
      assertEquals(result.temporaries?.notRemoved.length, 1);
      assertMatch(
        result.temporaries!.notRemoved[0]!.path,
        /\.a\.mov\.[0-9a-f]{16}\.[0-9a-f]{16}\.ferry-partial$/,
      );
      const lines = summaryLines(result, false);
      assert(
        lines.some((l) => /could not remove the temporary file '.*\.ferry-partial': /.test(l)),
        lines.join("\n"),
      );
    } finally {
      await (undo as (() => Promise<void>) | null)?.();
    }
  });
});

/** Bytes a file takes on disk (`du`'s measure). */
async function diskBytes(path: string): Promise<number> {
  return ((await Deno.stat(path)).blocks ?? 0) * 512;
}

Deno.test("a sparse file is copied with its holes (FFI), byte for byte", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "disk.img");
    const made = await new Deno.Command("python3", {
      args: [
        "-c",
        "import os,sys\nf=open(sys.argv[1],'wb')\nf.write(os.urandom(1<<20))\n" +
        "f.seek((256<<20)-(1<<20))\nf.write(os.urandom(1<<20))",
        src,
      ],
    }).output();
    assert(made.success, "python3 writes the sparse file");
    assert(await diskBytes(src) <= 3 * 1024 * 1024, "the source is sparse");
    const bed = await testbed();
    const targets = [join(dir, "copy.img")];
    if (typeof bed !== "string") targets.push(join(bed.local, `sparse-${crypto.randomUUID()}.img`));
    else console.warn(`SKIPPED the cross-file-system sparse copy: ${bed}`);
    try {
      for (const dst of targets) {
        const run = await runCli(["copy", src, dst], {
          flags: ["--allow-read", "--allow-write", "--allow-ffi"],
        });
        assertEquals(run.code, 0, run.stderr);
        const same = await new Deno.Command("cmp", { args: [src, dst] }).output();
        assert(same.success, `${dst} is byte-identical to its source`);
        const used = await diskBytes(dst);
        assert(used <= 3 * 1024 * 1024, `${dst} takes ${used} bytes on disk for 2 MiB of data`);
      }
    } finally {
      for (const dst of targets) await Deno.remove(dst).catch(() => {});
    }
  });
});

Deno.test("a read-only camera card is copied with --mhl by an unprivileged user, modes kept", async () => {
  await withTempDir(async (dir) => {
    const card = join(dir, "A001");
    await Deno.mkdir(join(card, "Clips"), { recursive: true });
    await writeRandomFile(join(card, "Clips", "A001C001.mov"), 300_000);
    await Deno.writeTextFile(join(card, "Sidecar.txt"), "card");
    const prefix = await asNobody(dir);
    assert(prefix !== null, "setpriv is needed to drop root privileges for this test");
    await Deno.mkdir(join(dir, "raid"));
    await Deno.chmod(join(dir, "raid"), 0o777);
    await new Deno.Command("chmod", { args: ["-R", "a-w", card] }).output();
    const out = join(dir, "raid", "A001");
    const run = await runCli(["copy", "--mhl", card, out], { prefix });
    assertEquals(run.code, 0, run.stderr);
    assertEquals((await Deno.stat(out)).mode! & 0o777, (await Deno.stat(card)).mode! & 0o777);
    const verify = await runCli(["verify", "--no-record", out], { prefix });
    assertEquals(verify.code, 0, verify.stdout + verify.stderr);
    assertMatch(verify.stderr, /2 files: 2 ok/);
    await new Deno.Command("chmod", { args: ["-R", "u+w", card, out] }).output();
  });
});

for (
  const [how, flags, finishes] of [
    ["journaled", [], /^resume \S+$/],
    ["without a ledger", ["--no-ledger"], / -T$/],
  ] as const
) {
  Deno.test(`an interrupted copy says the command that finishes it, and that command does (${how})`, async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, "shot");
      await Deno.mkdir(src);
      for (let i = 0; i < 8; i++) await writeRandomFile(join(src, `f.${i}.mov`), 32 * 1024 * 1024);
      const out = join(dir, "delivery"); // does not exist yet: the copy becomes it
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "-A",
          join(ROOT, "cli.ts"),
          "copy",
          ...flags,
          "--buffer-size",
          "4KiB",
          "--cutoff",
          "1MiB",
          src,
          out,
        ],
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      await waitFor(async () =>
        (await Array.fromAsync(Deno.readDir(out)).catch(() => [])).length > 0
      );
      child.kill("SIGINT");
      const run = await child.output();
      const stderr = new TextDecoder().decode(run.stderr);
      assertEquals(run.code, 130, stderr);
      const finish = /to finish it, run: ferry (.*)$/m.exec(stderr)?.[1];
      assert(finish !== undefined, stderr);
      assertMatch(finish, finishes);
      const args = finish.split(" ").map((a) => a.replace(/^'|'$/g, ""));
      const rerun = await runCli(args, { flags: ["-A"] });
      assertEquals(rerun.code, 0, rerun.stderr);
      await assertSameTree(out, src);
    });
  });
}

Deno.test("a tree of 1500 folders copies under a limit of 256 open files: leases are not held for every folder", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "shots");
    for (let i = 0; i < 1500; i++) {
      await Deno.mkdir(join(src, `sh${i}`), { recursive: true });
      await Deno.writeTextFile(join(src, `sh${i}`, "plate.exr"), `${i}`);
    }
    const out = join(dir, "out");
    const run = await cliInShell(
      `ulimit -n 256 && exec "$0" run --quiet -A "$1" copy "$2" "$3"`,
      src,
      out,
    );
    assertEquals(run.code, 0, run.stderr);
    await assertSameTree(out, src);
    const leases = (await listTree(out)).filter((p) => p.includes(".ferry-run."));
    assertEquals(leases, [], "every lease file is gone");
  });
});
