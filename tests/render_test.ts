import { progressLine } from "../cli/render.ts";
import { assert, assertMatch } from "./_helpers.ts";

const snapshot = {
  bytesDone: 1.3 * 2 ** 30,
  bytesTotal: 4 * 2 ** 30,
  filesDone: 120,
  filesTotal: 300,
  bytesPerSecond: 974 * 2 ** 20,
  etaMs: 2800,
  elapsedMs: 2000,
  inFlight: ["/shots/sh010_comp_v003.1042.exr"],
  planning: false,
};

Deno.test("progressLine() draws a bar and fits any width, never cutting the percentage or the file count", () => {
  for (let width = 20; width <= 200; width++) {
    const line = progressLine(snapshot, width);
    assert(line.length <= width - 1, `${line.length} columns at width ${width}: ${line}`);
    assertMatch(line, /32%/);
    assertMatch(line, /files 120\/300/);
    if (width >= 40) assertMatch(line, /^\[█+[▏▎▍▌▋▊▉]? +\] /);
    if (width >= 80) assertMatch(line, /1\.3 GiB \/ 4\.0 GiB {2}974 MiB\/s {2}ETA 2\.8 s/);
    if (width >= 140) assertMatch(line, /sh010_comp_v003\.1042\.exr$/);
  }
  // Narrower than the essentials: they stay whole.
  assertMatch(progressLine(snapshot, 10), /^32% {2}files 120\/300$/);
});

Deno.test("progressLine() says frames of one sequence in flight once, as their pattern", () => {
  const line = progressLine({
    bytesDone: 1,
    bytesTotal: 10,
    filesDone: 1,
    filesTotal: 9,
    bytesPerSecond: 1,
    etaMs: 1000,
    elapsedMs: 2000,
    inFlight: ["/a/sh010.1001.exr", "/a/sh010.1002.exr", "/a/notes_v2.txt"],
    planning: false,
  }, 200);
  assertMatch(line, /sh010\.####\.exr, notes_v2\.txt$/);
});
