import { join } from "node:path";
import {
  assert,
  assertEquals,
  assertMatch,
  runCli,
  withTempDir,
  writeRandomFile,
} from "./_helpers.ts";

/** Why headless Chromium cannot render here, or `null`. */
const noChromium: string | null = await (async () => {
  try {
    await new Deno.Command("chromium", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return null;
  } catch {
    return "no chromium (Debian package chromium)";
  }
})();
if (noChromium !== null) console.warn(`SKIPPED report rendering: ${noChromium}`);

/** Runs headless Chromium on a local page, as the machine's notes advise (no network, fresh profile). */
async function chromium(dir: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("chromium", {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${join(dir, "profile")}`,
      ...args,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert(out.success, "chromium ran");
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name:
    "--report writes an HTML page Chromium renders with the verdict, the missing frames and every file",
  ignore: noChromium !== null,
  async fn(): Promise<void> {
    await withTempDir(async (dir) => {
      const src = join(dir, "sh010");
      await Deno.mkdir(join(src, "plate"), { recursive: true });
      for (const frame of [1001, 1002, 1003, 1005, 1006, 1007, 1010]) {
        await writeRandomFile(join(src, "plate", `sh010.${frame}.exr`), 20_000);
      }
      await Deno.writeTextFile(join(src, "notes & <todo>.txt"), "notes");
      const page = join(dir, "report.html");
      const run = await runCli([
        "copy",
        "--verify",
        "source",
        "--report",
        page,
        src,
        join(dir, "out"),
      ]);
      assertEquals(run.code, 0, run.stderr);
      const dom = await chromium(dir, "--dump-dom", `file://${page}`);
      assertMatch(
        dom,
        /id="verdict">Complete: 8 files delivered \(every copy read back and matched its source's digest\) — 1 frame sequence has missing frames</,
      );
      assertMatch(
        dom,
        /sh010\.####\.exr: 1001–1010 \(7 frames\), <span class="bad">missing 1004, 1008-1009<\/span>/,
      );
      assertEquals(dom.match(/<tr class="file">/g)?.length, 8, "a row per file");
      assertMatch(dom, /notes &amp; &lt;todo&gt;\.txt/);
      assertEquals(
        dom.match(/xxh64 <code>[0-9a-f]{16}<\/code>/g)?.length,
        8,
        "every file with its digest",
      );
      assert(
        !/<script|https?:\/\/(?!www\.w3\.org)/.test(await Deno.readTextFile(page)),
        "self-contained",
      );
      // A picture of it, kept beside the test's files (not committed).
      await chromium(
        dir,
        `--screenshot=${join(dir, "report.png")}`,
        "--window-size=1200,1000",
        `file://${page}`,
      );
      assert((await Deno.stat(join(dir, "report.png"))).size > 10_000, "a screenshot was taken");
      // The CSV: a header and a row per file.
      const csv = join(dir, "report.csv");
      assertEquals((await runCli(["copy", "--report", csv, src, join(dir, "out2")])).code, 0);
      const rows = (await Deno.readTextFile(csv)).trim().split("\n");
      assertEquals(rows[0], "batch_id,src,dst,bytes,status,algorithm,digest,verified,note");
      assertEquals(rows.length, 9);
    });
  },
});
