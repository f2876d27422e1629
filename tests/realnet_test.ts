// Against real servers: NFS-Ganesha (NFSv3) and Samba (SMB3) behind an
// emulated 10 GbE link (../shared/realnet), mounted through FUSE clients
// built on libnfs and libsmbclient, which refuse hard links as many NAS
// shares do. Skipped with the reason printed where the bed cannot come up.
import { join } from "node:path";
import { MIB } from "../lib/size.ts";
import { publish, TEMP_SUFFIX } from "../lib/fs/publish.ts";
import { isBusy, whileBusy } from "../lib/fs/busy.ts";
import { describeError } from "../lib/errors.ts";
import { lastLevels } from "../lib/ledger/resume_point.ts";
import {
  applyFilledBatch,
  assert,
  assertEquals,
  assertMatch,
  assertNoTemps,
  assertRejectsWith,
  assertSameFile,
  assertSameTree,
  freeBytes,
  listTree,
  realnet,
  runCli,
  sha256,
  spawnCli,
  straceWorks,
  traceCli,
  waitFor,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

const bed = await realnet();
if (typeof bed === "string") console.warn(`SKIPPED real NFS/SMB tests: ${bed}`);
const ignore = typeof bed === "string";
/** The mounts ("" where the bed is not up: the tests are then ignored). */
const real = typeof bed === "string" ? { nfs: "", smb: "", store: "" } : bed;

/** A shot: frames, a clip split into ranges, a sidecar, an empty file, a subfolder. */
async function makeShot(root: string): Promise<string> {
  const shot = join(root, "sh010");
  await Deno.mkdir(join(shot, "plates"), { recursive: true });
  for (let i = 1; i <= 3; i++) {
    await writeRandomFile(join(shot, "plates", `sh010.100${i}.exr`), MIB + i);
  }
  await writeRandomFile(join(shot, "sh010.mov"), 72 * MIB);
  await Deno.writeTextFile(join(shot, "notes.txt"), "grade v2");
  await Deno.writeFile(join(shot, "EMPTY"), new Uint8Array());
  return shot;
}

/**
 * Copies `src` into `dst` with a ledger and kills the run with SIGKILL once
 * a temporary shows in `dst`; returns the command (to run again) and the
 * temporaries it left.
 */
async function killMidway(
  src: string,
  dst: string,
  ledger: string,
): Promise<{ args: string[]; left: string[] }> {
  const args = ["copy", "--ledger", ledger, "-T", src, dst];
  const victim = spawnCli(args);
  const temps = async () => (await listTree(dst)).filter((p) => p.endsWith(TEMP_SUFFIX));
  assert(await waitFor(async () => (await temps()).length > 0), "the copy started");
  victim.kill("SIGKILL");
  await victim.status;
  return { args, left: (await temps()).map((p) => join(dst, p)) };
}

for (const [name, mount] of [["NFS", real.nfs], ["SMB", real.smb]] as const) {
  Deno.test({
    name:
      `${name}: copy to and from the server, verified with MHL, rerun, differing and newer files`,
    ignore,
    fn: async () => {
      await withTempDir(async (local) => {
        const shot = await makeShot(local);
        await withTempDir(async (remote) => {
          const up = join(remote, "sh010");
          const copy = await runCli(["copy", "--verify", "source", "--mhl", shot, up], {
            flags: ["-A"],
          });
          assertEquals(copy.code, 0, copy.stderr);
          assertEquals(
            (await listTree(up)).filter((p) => !p.startsWith("ascmhl")),
            await listTree(shot),
          );
          const verify = await runCli(["verify", "--no-record", up]);
          assertEquals(verify.code, 0, verify.stdout + verify.stderr);
          // Back down, byte for byte.
          const down = join(local, "down");
          const back = await runCli(["copy", "--exclude", "ascmhl/", "-T", up, down], {
            flags: ["-A"],
          });
          assertEquals(back.code, 0, back.stderr);
          await assertSameTree(down, shot);
          // The same copy again: everything already there.
          const again = await runCli(["copy", "-T", shot, up], { flags: ["-A"] });
          assertEquals(again.code, 0, again.stderr);
          assertMatch(again.stderr, /copied 0 of 6 files .*6 skipped/);
          // A source changed since: left alone and reported, then replaced with --update.
          await Deno.writeTextFile(join(shot, "notes.txt"), "grade v3");
          const differs = await runCli(["copy", "-T", shot, up], { flags: ["-A"] });
          assertEquals(differs.code, 1, differs.stderr);
          assertMatch(differs.stderr, /1 destination file differs from its source/);
          const update = await runCli(["copy", "--update", "-T", shot, up], { flags: ["-A"] });
          assertEquals(update.code, 0, update.stderr);
          assertEquals(await Deno.readTextFile(join(up, "notes.txt")), "grade v3");
          await assertNoTemps(remote);
        }, { dir: mount });
      });
    },
  });

  Deno.test({
    name: `${name}: every existing-file policy on the server, without hard links`,
    ignore,
    fn: async () => {
      await withTempDir(async (local) => {
        const src = join(local, "src");
        await Deno.mkdir(src);
        for (const f of ["a", "b", "c"]) {
          await Deno.writeTextFile(join(src, `${f}.exr`), `new ${f}`);
        }
        await withTempDir(async (remote) => {
          const dst = join(remote, "dst");
          // Destinations that differ from their sources: a.exr older, b.exr newer, c.exr same time.
          const put = async (): Promise<void> => {
            await Deno.mkdir(dst, { recursive: true });
            for (const f of ["a", "b", "c"]) {
              await Deno.writeTextFile(join(dst, `${f}.exr`), `old ${f}`);
            }
            const srcTime = (await Deno.stat(join(src, "c.exr"))).mtime!;
            await Deno.utime(
              join(dst, "a.exr"),
              srcTime.getTime() / 1000 - 3600,
              srcTime.getTime() / 1000 - 3600,
            );
            await Deno.utime(
              join(dst, "b.exr"),
              srcTime.getTime() / 1000 + 3600,
              srcTime.getTime() / 1000 + 3600,
            );
            await Deno.utime(join(dst, "c.exr"), srcTime, srcTime);
          };
          const read = async (): Promise<string[]> =>
            await Promise.all(["a", "b", "c"].map((f) => Deno.readTextFile(join(dst, `${f}.exr`))));
          const run = async (...flags: string[]): Promise<number> =>
            (await runCli(["copy", "--no-ledger", ...flags, "-T", src, dst], { flags: ["-A"] }))
              .code;
          await put();
          assertEquals(await run(), 1);
          assertEquals(await read(), ["old a", "old b", "old c"]);
          assertEquals(await run("--skip-existing"), 0);
          assertEquals(await read(), ["old a", "old b", "old c"]);
          assertEquals(await run("--update"), 0);
          assertEquals(await read(), ["new a", "old b", "old c"]);
          await put();
          assertEquals(await run("--checksum"), 0);
          assertEquals(await read(), ["new a", "new b", "new c"]);
          await put();
          assertEquals(await run("--overwrite"), 0);
          // Same size and time as its source: ferry's complete copy, for every policy but --checksum.
          assertEquals(await read(), ["new a", "new b", "old c"]);
          await assertNoTemps(remote);
        }, { dir: mount });
      });
    },
  });

  Deno.test({
    name: `${name}: a move from local storage to the server, and SIGINT and SIGKILL mid-way`,
    ignore,
    fn: async () => {
      await withTempDir(async (local) => {
        const shot = await makeShot(local);
        const keep = join(local, "keep");
        const copy = await runCli(["copy", "-T", shot, keep], { flags: ["-A"] });
        assertEquals(copy.code, 0, copy.stderr);
        await withTempDir(async (remote) => {
          // Cancelled: no temporary left on the server, nothing partial published.
          const cancelled = join(remote, "cancelled");
          const child = spawnCli(["copy", "--no-ledger", shot, cancelled]);
          assert(
            await waitFor(async () =>
              (await listTree(cancelled)).some((p) => p.endsWith(".ferry-partial"))
            ),
            "the copy started",
          );
          child.kill("SIGINT");
          assertEquals((await child.status).code, 130);
          await assertNoTemps(cancelled);
          for (const p of await listTree(cancelled)) {
            const stat = await Deno.stat(join(cancelled, p));
            if (stat.isFile) assertEquals(stat.size, (await Deno.stat(join(shot, p))).size, p);
          }
          // Killed: the same command again finishes it.
          const killed = join(remote, "killed");
          const { args } = await killMidway(shot, killed, join(local, "ledger"));
          const rerun = await runCli(args, { flags: ["-A"] });
          assertEquals(rerun.code, 0, rerun.stderr);
          await assertSameTree(killed, shot);
          // A move across file systems: copied, checked, then the sources removed.
          const moved = join(remote, "moved");
          const move = await runCli(["move", "--verify", "source", "-T", shot, moved], {
            flags: ["-A"],
          });
          assertEquals(move.code, 0, move.stderr);
          await assertSameTree(moved, keep);
          assertEquals(await listTree(shot), []);
          await assertNoTemps(remote);
        }, { dir: mount });
      });
    },
  });
}

Deno.test({
  name:
    "SMB: publishing a file the share still holds open waits for its handle to close, up to a bound",
  ignore,
  fn: async () => {
    await withTempDir(async (remote) => {
      for (const policy of ["error", "overwrite"] as const) {
        const tmp = join(remote, `.${policy}${TEMP_SUFFIX}`);
        const dst = join(remote, `${policy}.exr`);
        await Deno.writeTextFile(tmp, policy);
        // A writer's handle outlives its close by as long as the client takes to send it.
        const held = await Deno.open(tmp, { read: true });
        const timer = setTimeout(() => held.close(), 300);
        assertEquals(await publish(tmp, dst, policy), "published");
        clearTimeout(timer);
        assertEquals(await Deno.readTextFile(dst), policy);
      }
      // Held beyond the bound: refused in plain words, the temporary left to its caller.
      const tmp = join(remote, `.held${TEMP_SUFFIX}`);
      await Deno.writeTextFile(tmp, "held");
      const held = await Deno.open(tmp, { read: true });
      try {
        const error = await assertRejectsWith(
          whileBusy(() => Deno.rename(tmp, join(remote, "held.exr")), 100),
          Error,
          /resource busy/,
        );
        assert(isBusy(error), String(error));
        assertEquals(describeError(error), "it is open elsewhere (device or resource busy)");
      } finally {
        held.close();
      }
      assertEquals(await Deno.readTextFile(tmp), "held");
    }, { dir: real.smb });
  },
});

Deno.test({
  name:
    "SMB: a killed run's temporaries the share still holds open are waited for; one held on is left, reported, and its file copied beside it",
  ignore,
  fn: async () => {
    await withTempDir(async (local) => {
      const shot = await makeShot(local);
      const ledger = join(local, "ledger");
      await withTempDir(async (remote) => {
        // SMB refuses to rename or remove a file open anywhere (EBUSY), and a
        // killed process's handles close when the client gets round to it.
        // Held here for a second: the next run waits, then goes on as usual.
        const waited = join(remote, "waited");
        const first = await killMidway(shot, waited, ledger);
        let held = await Promise.all(
          first.left.map((p) => Deno.open(p, { read: true, write: true })),
        );
        const release = () => held.splice(0).forEach((f) => f.close());
        const timer = setTimeout(release, 1000);
        const rerun = await runCli(first.args, { flags: ["-A"] });
        clearTimeout(timer);
        release();
        assertEquals(rerun.code, 0, rerun.stderr);
        assert(!rerun.stderr.includes("could not remove"), rerun.stderr);
        await assertSameTree(waited, shot);
        await assertNoTemps(waited);

        // Held all along: the file is copied whole beside it, and the
        // leftover named; the next run into the folder removes it.
        const kept = join(remote, "kept");
        const second = await killMidway(shot, kept, ledger);
        held = await Promise.all(second.left.map((p) => Deno.open(p, { read: true, write: true })));
        const busy = await runCli(second.args, { flags: ["-A"] });
        release();
        assertEquals(busy.code, 0, busy.stderr);
        for (const tmp of second.left) {
          assertMatch(
            busy.stderr,
            new RegExp(`could not remove the temporary file '${tmp}': it is open elsewhere`),
          );
        }
        assertEquals(
          (await listTree(kept)).filter((p) => p.endsWith(TEMP_SUFFIX)).length,
          second.left.length,
        );
        await Deno.remove(join(kept, "notes.txt"));
        const after = await runCli(["copy", "-T", shot, kept], { flags: ["-A"] });
        assertEquals(after.code, 0, after.stderr);
        assertMatch(after.stderr, /removed \d+ temporary files? .* that killed runs had left/);
        await assertNoTemps(kept);
        await assertSameTree(kept, shot);
      }, { dir: real.smb });
    });
  },
});

Deno.test({
  name: "SMB: two writers racing for one name: one publishes, the other is refused, never a mix",
  ignore,
  fn: async () => {
    await withTempDir(async (local) => {
      const [a, b] = [join(local, "a.mov"), join(local, "b.mov")];
      await writeRandomFile(a, 8 * MIB);
      // Another size: a destination of the same size and time would count as already there.
      await writeRandomFile(b, 8 * MIB + 1);
      const digests = new Set([await sha256(a), await sha256(b)]);
      await withTempDir(async (remote) => {
        for (let round = 0; round < 8; round++) {
          const dst = join(remote, `race-${round}.mov`);
          const [one, two] = await Promise.all([
            runCli(["copy", "--no-ledger", "-T", a, dst], { flags: ["-A"] }),
            runCli(["copy", "--no-ledger", "-T", b, dst], { flags: ["-A"] }),
          ]);
          const codes = [one.code, two.code].sort();
          assertEquals(codes, [0, 1], one.stderr + two.stderr);
          const loser = one.code === 1 ? one : two;
          assertMatch(loser.stderr, /appeared during the copy and was left alone|differs/);
          assert(digests.has(await sha256(dst)), "the name holds one whole source");
        }
        await assertNoTemps(remote);
      }, { dir: real.smb });
    });
  },
});

Deno.test({
  name:
    "NFS and SMB: a batch that reads from NFS and writes to SMB tunes each pair of storage on its own and journals both levels",
  ignore,
  fn: async () => {
    await withTempDir(async (local) => {
      await withTempDir(async (nfs) => {
        await withTempDir(async (smb) => {
          // More files per mapping than the 16 small files in flight: the
          // first pair's files end while the second's run.
          const mappings = [
            { src: join(nfs, "plates"), dst: join(local, "plates") },
            { src: join(local, "renders"), dst: join(smb, "renders") },
          ];
          const { events, ledger } = await applyFilledBatch(local, mappings, "pairs");
          const reasons = events.filter((e) => e.event === "concurrency").map((e) => e.reason);
          const second = `${mappings[1]!.src} → ${mappings[1]!.dst}`;
          assert(
            reasons.includes(`files from ${second}: a level of its own`),
            JSON.stringify(reasons),
          );
          const [n, l, s] = await Promise.all([nfs, local, smb].map((d) => Deno.stat(d)));
          const last = await lastLevels(ledger, "pairs", "none");
          assertEquals(
            Object.keys(last?.pairs ?? {}).sort(),
            [`${n!.dev}>${l!.dev}`, `${l!.dev}>${s!.dev}`].sort(),
          );
        }, { dir: real.smb });
      }, { dir: real.nfs });
    });
  },
});

Deno.test({
  name: "NFS and SMB: an offload to both servers reads the source once and verifies each copy",
  ignore,
  fn: async () => {
    await withTempDir(async (local) => {
      const shot = await makeShot(local);
      await withTempDir(async (nfs) => {
        await withTempDir(async (smb) => {
          const run = await runCli([
            "offload",
            "--json",
            shot,
            join(nfs, "sh010"),
            join(smb, "sh010"),
          ], {
            flags: ["-A"],
          });
          assertEquals(run.code, 0, run.stderr);
          const summaries = run.stdout.trim().split("\n").map((l) => JSON.parse(l))
            .filter((e) => e.event === "summary");
          assertEquals(summaries.map((s) => s.files_verified), [6, 6]);
          for (const dst of [join(nfs, "sh010"), join(smb, "sh010")]) {
            for (const p of await listTree(shot)) {
              const file = join(shot, p);
              if ((await Deno.stat(file)).isFile) await assertSameFile(join(dst, p), file);
            }
            const verify = await runCli(["verify", "--no-record", dst]);
            assertEquals(verify.code, 0, verify.stdout + verify.stderr);
          }
        }, { dir: real.smb });
      }, { dir: real.nfs });
    });
  },
});

Deno.test({
  name:
    "NFS: a server that fills up while its client still holds the frames fails them, never publishes them (the close is checked)",
  ignore,
  fn: async () => {
    await withTempDir(async (local) => {
      const frames = join(local, "sh010");
      await Deno.mkdir(frames);
      for (let i = 1; i <= 4; i++) {
        await writeRandomFile(join(frames, `sh010.100${i}.exr`), 12 * MIB);
      }
      // Below the 64 MiB cutoff: each frame is copied whole. 20 MiB are left on the servers'
      // volume; the client takes all four frames into its write-back cache and sends them
      // at the close, where the server answers that it is full.
      const filler = join(real.store, "filler.bin");
      // (The SMB client shows less free space: ferry's own check refuses the frames there first.)
      await withTempDir(async (remote) => {
        const fill = await new Deno.Command("fallocate", {
          args: ["-l", String(await freeBytes(real.store) - 20 * MIB), filler],
        }).output();
        assert(fill.success, new TextDecoder().decode(fill.stderr));
        try {
          const run = await runCli(
            ["copy", "--no-ledger", "--no-space-check", frames, join(remote, "sh010")],
            { flags: ["-A"] },
          );
          assertEquals(run.code, 1, run.stderr);
          assertMatch(run.stderr, /failed: .*cannot write the destination/);
          const published = await listTree(join(remote, "sh010")).catch(() => []);
          assert(published.length < 4, `published: ${published}`);
          // What was published is whole; nothing else is left.
          for (const name of published) {
            await assertSameFile(join(remote, "sh010", name), join(frames, name));
          }
        } finally {
          await Deno.remove(filler);
        }
        await assertNoTemps(remote);
      }, { dir: real.nfs });
    });
  },
});

Deno.test({
  name:
    "SMB: a folder that refuses hard links is asked once a run, and a file copied in one piece is not sized first (strace)",
  ignore: ignore || !(await straceWorks()),
  fn: async () => {
    await withTempDir(async (local) => {
      const frames = join(local, "sh020");
      await Deno.mkdir(frames);
      const count = 12;
      for (let i = 0; i < count; i++) {
        await writeRandomFile(join(frames, `sh020.${1001 + i}.exr`), 256 * 1024 + i);
      }
      await withTempDir(async (remote) => {
        const out = join(remote, "sh020");
        const lines = await traceCli(
          local,
          "linkat,renameat2,ftruncate,openat",
          ["copy", "--quiet", "--no-ledger", frames, out],
          ["-A"],
        );
        await assertSameTree(out, frames);
        await assertNoTemps(remote);
        // The calls on the share's copies and their temporaries, by name.
        const calls = lines.filter((line) => line.includes(`${out}/`))
          .map((line) => /^\S+ (\w+)\(/.exec(line)?.[1])
          .filter((call) => call !== undefined);
        const times = (name: string): number => calls.filter((call) => call === name).length;
        // The first file's link is refused (EPERM); the others go straight to the
        // rename that does not replace.
        assertEquals(times("linkat"), 1, calls.join(" "));
        assertEquals(times("renameat2"), count, calls.join(" "));
        // Each file is one range written from its start: its temporary grows as it is written.
        assertEquals(times("ftruncate"), 0, calls.join(" "));
        // …and is made by the worker that writes it: one open a file, not the main
        // thread's create and close, then the worker's open.
        const opens = lines.filter((line) =>
          /^\S+ openat\(/.test(line) && line.includes(TEMP_SUFFIX)
        );
        assertEquals(opens.length, count, opens.join("\n"));
      }, { dir: real.smb });
    });
  },
});

// SMB refuses to rename an open file, so a folder's lease cannot be locked
// under another name and renamed: after the first folder's refusal, the
// next folders on that device make their lease under its name at once.
Deno.test({
  name:
    "SMB: a lease is renamed while locked only until the device refuses it once, and every folder still gets one (strace)",
  ignore: ignore || !(await straceWorks()),
  fn: async () => {
    await withTempDir(async (local) => {
      const card = join(local, "A001");
      const folders = ["C001", "C002", "C003", "C004"];
      for (const folder of folders) {
        await Deno.mkdir(join(card, folder), { recursive: true });
        await writeRandomFile(join(card, folder, `${folder}.mov`), 64 * 1024);
      }
      await withTempDir(async (remote) => {
        const out = join(remote, "A001");
        // One file at a time: each folder's lease is taken after the one before.
        const lines = await traceCli(
          local,
          "openat,rename",
          ["copy", "--quiet", "--small-file-workers", "1", card, out],
          ["-A"],
        );
        await assertSameTree(out, card);
        await assertNoTemps(remote);
        const renames = lines.filter((l) => /rename\("[^"]*\.lease\.new"/.test(l));
        assertEquals(renames.length, 1, renames.join("\n"));
        for (const folder of folders) {
          const made = lines.filter((l) =>
            l.includes(`openat(AT_FDCWD`) && l.includes(`"${join(out, folder)}/.ferry-run.`) &&
            l.includes(".lease") && l.includes("O_EXCL")
          );
          assert(made.length >= 1, `${folder}: no lease made`);
        }
      }, { dir: real.smb });
    });
  },
});
