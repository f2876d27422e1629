import { FrameSet, FrameSetError } from "../lib/sequence/frame_set.ts";
import {
  frameName,
  frameOf,
  padFrame,
  parseSequence,
  SequencePatternError,
} from "../lib/sequence/pattern.ts";
import { findSequences } from "../lib/sequence/find.ts";
import { assertEquals, assertThrows } from "./_helpers.ts";

/** [pattern, head, padding, tail, frames (or null), name of frame 7] */
const PATTERNS: [string, string, number, string, string | null, string][] = [
  ["sh010.####.exr", "sh010.", 4, ".exr", null, "sh010.0007.exr"],
  ["sh010.##.exr", "sh010.", 2, ".exr", null, "sh010.07.exr"],
  ["sh010.########.exr", "sh010.", 8, ".exr", null, "sh010.00000007.exr"],
  ["sh010.#.exr", "sh010.", 4, ".exr", null, "sh010.0007.exr"],
  ["sh010.@.exr", "sh010.", 1, ".exr", null, "sh010.7.exr"],
  ["sh010.@@@.exr", "sh010.", 3, ".exr", null, "sh010.007.exr"],
  ["sh010.%04d.exr", "sh010.", 4, ".exr", null, "sh010.0007.exr"],
  ["sh010.%4d.exr", "sh010.", 4, ".exr", null, "sh010.0007.exr"],
  ["sh010.%d.exr", "sh010.", 1, ".exr", null, "sh010.7.exr"],
  ["sh010.%08d.dpx", "sh010.", 8, ".dpx", null, "sh010.00000007.dpx"],
  ["sh010.$F4.exr", "sh010.", 4, ".exr", null, "sh010.0007.exr"],
  ["sh010.$F.exr", "sh010.", 1, ".exr", null, "sh010.7.exr"],
  ["sh010.$F2.bgeo.sc", "sh010.", 2, ".bgeo.sc", null, "sh010.07.bgeo.sc"],
  ["tex.<UDIM>.tx", "tex.", 4, ".tx", "1001-1099", "tex.0007.tx"],
  ["tex_<udim>.png", "tex_", 4, ".png", "1001-1099", "tex_0007.png"],
  ["sh010.1001-1100#.exr", "sh010.", 4, ".exr", "1001-1100", "sh010.0007.exr"],
  ["sh010.1001-1100x2#.exr", "sh010.", 4, ".exr", "1001-1099x2", "sh010.0007.exr"],
  ["sh010.1,5,10-20####.exr", "sh010.", 4, ".exr", "1,5,10-20", "sh010.0007.exr"],
  ["sh010.1-10@@.exr", "sh010.", 2, ".exr", "1-10", "sh010.07.exr"],
  ["sh010_1001-1005#.exr", "sh010_", 4, ".exr", "1001-1005", "sh010_0007.exr"],
  ["sh010.[1001-1050].exr", "sh010.", 4, ".exr", "1001-1050", "sh010.0007.exr"],
  ["sh010.[001-050].exr", "sh010.", 3, ".exr", "1-50", "sh010.007.exr"],
  ["sh010.[1,3,5].exr", "sh010.", 1, ".exr", "1-5x2", "sh010.7.exr"],
  ["plates/sh010/sh010.####.exr", "sh010.", 4, ".exr", null, "plates/sh010/sh010.0007.exr"],
  [
    "/mnt/show/sh010_comp_v003.####.exr",
    "sh010_comp_v003.",
    4,
    ".exr",
    null,
    "/mnt/show/sh010_comp_v003.0007.exr",
  ],
  ["####.exr", "", 4, ".exr", null, "0007.exr"],
  ["frame####", "frame", 4, "", null, "frame0007"],
  ["sh010_v003.####.exr", "sh010_v003.", 4, ".exr", null, "sh010_v003.0007.exr"],
  ["a-b.####.exr", "a-b.", 4, ".exr", null, "a-b.0007.exr"],
  ["sh010-####.exr", "sh010-", 4, ".exr", null, "sh010-0007.exr"],
  ["sh010.-10-10#.exr", "sh010.", 4, ".exr", "-10-10", "sh010.0007.exr"],
  ["sh010.-10--5#.exr", "sh010.", 4, ".exr", "-10--5", "sh010.0007.exr"],
  ["render.%03d.tif", "render.", 3, ".tif", null, "render.007.tif"],
  ["cache.$F3.vdb", "cache.", 3, ".vdb", null, "cache.007.vdb"],
  ["dir.with.dots/shot.####.exr", "shot.", 4, ".exr", null, "dir.with.dots/shot.0007.exr"],
];

for (const [text, head, padding, tail, frames, seventh] of PATTERNS) {
  Deno.test(`parseSequence('${text}') reads head '${head}', padding ${padding}, tail '${tail}'`, () => {
    const p = parseSequence(text)!;
    assertEquals([p.head, p.padding, p.tail], [head, padding, tail]);
    assertEquals(p.frames?.toString() ?? null, frames);
    assertEquals(frameName(p, 7), seventh);
  });
}

const NOT_PATTERNS = ["sh010.1001.exr", "notes.txt", "plates/", "a[b].exr", "100%.exr", "v$.exr"];
Deno.test("parseSequence() gives null for plain paths: a frame's own name, brackets without frames, stray % and $", () => {
  for (const text of NOT_PATTERNS) assertEquals(parseSequence(text), null, text);
});

const BAD_PATTERNS: [string, RegExp][] = [
  ["sh010.####.####.exr", /has 2 frame tokens \('####', '####'\); give one/],
  ["sh010_%04d.$F4.exr", /has 2 frame tokens/],
  ["sh010.[1001-x].exr", /Invalid frame set '1001-x'/],
  ["sh010.%040d.exr", /a padding of 40 digits is too wide/],
  ["<UDIM>.####.exr", /has 2 frame tokens/],
];
for (const [text, message] of BAD_PATTERNS) {
  Deno.test(`parseSequence('${text}') is refused: ${message.source}`, () => {
    assertThrows(() => parseSequence(text), SequencePatternError);
    assertThrows(() => parseSequence(text), message);
  });
}

/** [frame set, its frames in order (or size for large ones), written back] */
const FRAME_SETS: [string, number[] | number, string][] = [
  ["1001-1005", [1001, 1002, 1003, 1004, 1005], "1001-1005"],
  ["1001", [1001], "1001"],
  ["1,5,10-12", [1, 5, 10, 11, 12], "1,5,10-12"],
  ["1001-1010x2", [1001, 1003, 1005, 1007, 1009], "1001-1009x2"],
  ["1-10x3", [1, 4, 7, 10], "1-10x3"],
  ["1-3x5", [1], "1"],
  ["5-1", [1, 2, 3, 4, 5], "1-5"],
  ["-5-5", 11, "-5-5"],
  ["-10--7", [-10, -9, -8, -7], "-10--7"],
  ["-3", [-3], "-3"],
  ["1-3,2-6", [1, 2, 3, 4, 5, 6], "1-6"],
  ["1-3,4-6", [1, 2, 3, 4, 5, 6], "1-6"],
  ["10,1,5", [1, 5, 10], "1,5,10"],
  ["1, 2, 3", [1, 2, 3], "1-3"],
  ["1,1,1", [1], "1"],
  ["0", [0], "0"],
  ["0-2", [0, 1, 2], "0-2"],
  ["1-1000000", 1000000, "1-1000000"],
  ["1-100x10", 10, "1-91x10"],
  ["1001-1100", 100, "1001-1100"],
  ["2,4,6,8", [2, 4, 6, 8], "2-8x2"],
  ["2,4", [2, 4], "2,4"],
];
for (const [text, frames, back] of FRAME_SETS) {
  Deno.test(`FrameSet.parse('${text}') has ${typeof frames === "number" ? frames : frames.length} frames, written '${back}'`, () => {
    const set = FrameSet.parse(text);
    if (typeof frames === "number") assertEquals(set.size, frames);
    else assertEquals([...set], frames);
    assertEquals(set.toString(), back);
    assertEquals(FrameSet.parse(back).toString(), back);
  });
}

const BAD_SETS: [string, RegExp][] = [
  ["", /it is empty/],
  ["1,,2", /an empty item between commas/],
  ["a-b", /'a-b' is not a frame or a range/],
  ["1-10:2", /fileseq's ':' and 'y' steps are not supported/],
  ["1-10y3", /fileseq's ':' and 'y' steps are not supported/],
  ["10x2", /a step goes after a range/],
  ["1-10x0", /the step of '1-10x0' must be 1 or more/],
  ["1-99999999999", /names more than 10000000 frames/],
  ["1.5", /'1.5' is not a frame or a range/],
];
for (const [text, message] of BAD_SETS) {
  Deno.test(`FrameSet.parse('${text}') is refused: ${message.source}`, () => {
    assertThrows(() => FrameSet.parse(text), FrameSetError);
    assertThrows(() => FrameSet.parse(text), message);
  });
}

Deno.test("FrameSet arithmetic: minus, and, or, holes, has", () => {
  const a = FrameSet.parse("1-10");
  const b = FrameSet.parse("3-4,8,20");
  assertEquals(a.minus(b).toString(), "1-2,5-7,9-10");
  assertEquals(a.and(b).toString(), "3-4,8");
  assertEquals(a.or(b).toString(), "1-10,20");
  assertEquals(FrameSet.parse("1-3,7,9-10").holes().toString(), "4-6,8");
  assertEquals([a.has(1), a.has(10), a.has(11), a.has(0)], [true, true, false, false]);
  assertEquals(FrameSet.EMPTY.toString(), "");
  assertEquals(FrameSet.EMPTY.holes().size, 0);
});

/** [frame, padding, written] */
const PADS: [number, number, string][] = [
  [7, 4, "0007"],
  [1001, 4, "1001"],
  [12345, 4, "12345"],
  [-12, 4, "-012"],
  [-1234, 4, "-1234"],
  [0, 1, "0"],
  [7, 1, "7"],
];
Deno.test("padFrame() writes frames as printf does: zero-padded, the minus counted, wider frames whole", () => {
  for (const [frame, padding, written] of PADS) assertEquals(padFrame(frame, padding), written);
});

/** [pattern, name, frame or null] */
const MATCHES: [string, string, number | null][] = [
  ["sh010.####.exr", "sh010.1001.exr", 1001],
  ["sh010.####.exr", "sh010.0007.exr", 7],
  ["sh010.####.exr", "sh010.007.exr", null],
  ["sh010.####.exr", "sh010.12345.exr", 12345],
  ["sh010.####.exr", "sh010.01234.exr", null],
  ["sh010.####.exr", "sh010.-012.exr", -12],
  ["sh010.####.exr", "sh011.1001.exr", null],
  ["sh010.####.exr", "sh010.1001.dpx", null],
  ["sh010.@.exr", "sh010.07.exr", null],
  ["sh010.@.exr", "sh010.100.exr", 100],
  ["tex.<UDIM>.tx", "tex.1001.tx", 1001],
  ["tex.<UDIM>.tx", "tex.1100.tx", null],
  ["sh010.####.exr", "sh010..exr", null],
];
Deno.test("frameOf() takes a name as a frame only with the pattern's head, tail and padding", () => {
  for (const [pattern, name, frame] of MATCHES) {
    assertEquals(frameOf(parseSequence(pattern)!, name), frame, `${pattern} ~ ${name}`);
  }
});

Deno.test("findSequences(): versions are different sequences, the frame is the last number, mixed padding, negative frames (printf's: the minus in the width), singles are files", () => {
  const names = [
    ...[1001, 1002, 1003].map((f) => `sh010_comp_v003.${f}.exr`),
    ...[1001, 1002].map((f) => `sh010_comp_v002.${f}.exr`),
    "x.1.png",
    "x.10.png",
    "x.100.png",
    "f.001.exr",
    "f.002.exr",
    "f.0001.exr",
    "f.0002.exr",
    "neg.-02.exr",
    "neg.-01.exr",
    "neg.000.exr",
    "neg.001.exr",
    "single.1001.exr",
    "README",
    "big.9999.exr",
    "big.10000.exr",
  ];
  const found = findSequences(names);
  const seen = found.sequences.map((s) => [s.pattern, s.frames.toString()]);
  assertEquals(seen, [
    // No leading zero and two widths: unpadded, the only reading the names prove.
    ["big.@.exr", "9999-10000"],
    ["f.####.exr", "1-2"],
    ["f.###.exr", "1-2"],
    ["neg.###.exr", "-2-1"],
    ["sh010_comp_v002.####.exr", "1001-1002"],
    ["sh010_comp_v003.####.exr", "1001-1003"],
    ["x.@.png", "1,10,100"],
  ]);
  assertEquals(found.others, ["README", "single.1001.exr"]);
});
