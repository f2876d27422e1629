/**
 * Reading a large ASC MHL history: writes a manifest of N files (default
 * 1 000 000; `--files N`) with its chain into a temporary folder, reads it
 * back with `loadHistory`, and prints the time and the process's peak RSS.
 *
 *     deno run -A bench/mhl_history.ts --files 1000000
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { hashFile, loadHistory } from "../mod.ts";

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

const { values } = parseArgs({ args: Deno.args, options: { files: { type: "string" } } });
const files = Number(values.files ?? 1_000_000);
const root = await Deno.makeTempDir({ prefix: "ferry-mhl-bench-" });
try {
  await Deno.mkdir(join(root, "ascmhl"));
  const name = "0001_bench_2026-12-02_000000Z.mhl";
  const path = join(root, "ascmhl", name);
  const out = await Deno.open(path, { write: true, create: true });
  const encoder = new TextEncoder();
  await out.write(encoder.encode(
    `<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">\n` +
      `  <creatorinfo><creationdate>2026-12-02T00:00:00Z</creationdate><hostname>h</hostname>` +
      `<tool version="1">bench</tool></creatorinfo>\n  <processinfo><process>transfer</process>` +
      `<ignore><pattern>.DS_Store</pattern><pattern>ascmhl</pattern><pattern>ascmhl/</pattern>` +
      `</ignore></processinfo>\n  <hashes>\n`,
  ));
  let batch = "";
  for (let i = 0; i < files; i++) {
    const frame = String(1001 + (i % 1000)).padStart(4, "0");
    batch +=
      `    <hash>\n      <path size="12582912" lastmodificationdate="2026-12-02T00:00:00Z">` +
      `sh${
        String(Math.floor(i / 1000)).padStart(4, "0")
      }/plate/sh_comp_v003.${frame}.exr</path>\n` +
      `      <xxh64 action="original" hashdate="2026-12-02T00:00:00Z">${
        (i * 2654435761 >>> 0).toString(16).padStart(16, "0")
      }</xxh64>\n    </hash>\n`;
    if (batch.length > 1 << 20) {
      await out.write(encoder.encode(batch));
      batch = "";
    }
  }
  await out.write(encoder.encode(batch + "  </hashes>\n</hashlist>\n"));
  out.close();
  const c4 = await hashFile(path, "c4");
  await Deno.writeTextFile(
    join(root, "ascmhl", "ascmhl_chain.xml"),
    `<?xml version="1.0" encoding="UTF-8"?>\n<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">\n` +
      `  <hashlist sequencenr="1"><path>${name}</path><c4>${c4}</c4></hashlist>\n</ascmhldirectory>\n`,
  );
  const size = (await Deno.stat(path)).size;
  const before = peakRssMiB();
  const start = performance.now();
  const history = await loadHistory(root, []);
  const ms = performance.now() - start;
  console.log(
    `${history.files.size} files, manifest ${(size / 2 ** 20).toFixed(0)} MiB: read in ` +
      `${(ms / 1000).toFixed(1)} s; peak RSS ${peakRssMiB().toFixed(0)} MiB ` +
      `(${before.toFixed(0)} MiB before reading)`,
  );
} finally {
  await Deno.remove(root, { recursive: true });
}
