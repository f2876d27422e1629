/**
 * A generated sample shot for the demo and the benchmarks: an EXR-like frame
 * sequence and one large movie-like file, with pseudo-random content (no
 * two MiB of it are alike), so nothing has to ship with ferry.
 *
 * @module
 */

import { join } from "node:path";
import { MIB } from "../lib/size.ts";

/** Options for {@linkcode makeSampleShot}. */
export interface SampleShotOptions {
  /**
   * Number of frames in the sequence.
   * @default {24}
   */
  frames?: number;
  /**
   * Size of each frame in bytes.
   * @default {12 MiB}
   */
  frameBytes?: number;
  /**
   * Size of the movie file in bytes.
   * @default {256 MiB}
   */
  movieBytes?: number;
}

/** What {@linkcode makeSampleShot} wrote. */
export interface SampleShot {
  /** The shot's root directory. */
  root: string;
  /** Number of files. */
  files: number;
  /** Total bytes. */
  bytes: number;
}

/**
 * Writes a sample shot into `dir`: `sh010/plate/sh010_plate.NNNN.exr` frames
 * and `sh010/editorial/sh010_v001.mov`.
 *
 * Requires `--allow-write` on `dir`.
 *
 * @param dir An existing directory.
 * @param options Frame count and sizes.
 * @returns Where the shot is and how big it is.
 *
 * @example
 * ```ts
 * import { makeSampleShot } from "./sample_shot.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const shot = await makeSampleShot(dir, { frames: 2, frameBytes: 1024, movieBytes: 4096 });
 * console.log(shot.files); // 3
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function makeSampleShot(
  dir: string,
  options: SampleShotOptions = {},
): Promise<SampleShot> {
  const { frames = 24, frameBytes = 12 * MIB, movieBytes = 256 * MIB } = options;
  const root = join(dir, "sh010");
  await Deno.mkdir(join(root, "plate"), { recursive: true });
  await Deno.mkdir(join(root, "editorial"));
  let seed = 0;
  for (let frame = 1; frame <= frames; frame++) {
    const name = `sh010_plate.${String(1000 + frame).padStart(4, "0")}.exr`;
    await writeSampleFile(join(root, "plate", name), frameBytes, seed++);
  }
  await writeSampleFile(join(root, "editorial", "sh010_v001.mov"), movieBytes, seed);
  return { root, files: frames + 1, bytes: frames * frameBytes + movieBytes };
}

/**
 * Writes `bytes` bytes of sample content: one random MiB, with `seed` and the
 * MiB's number stamped into its first 8 bytes, so no two MiB of a file (or of
 * two files with different seeds) are alike. Fast enough for GiB files.
 *
 * Requires `--allow-write`.
 *
 * @param path The file to write (created or truncated).
 * @param bytes Its size.
 * @param seed A number that tells files apart.
 *
 * @example
 * ```ts
 * import { writeSampleFile } from "./sample_shot.ts";
 *
 * const path = await Deno.makeTempFile();
 * await writeSampleFile(path, 3 * 1024 * 1024 + 5, 7);
 * console.log((await Deno.stat(path)).size); // 3145733
 * await Deno.remove(path);
 * ```
 */
export async function writeSampleFile(path: string, bytes: number, seed = 0): Promise<void> {
  const block = new Uint8Array(Math.min(bytes, MIB));
  for (let at = 0; at < block.length; at += 65536) {
    crypto.getRandomValues(block.subarray(at, Math.min(block.length, at + 65536)));
  }
  const stamp = new DataView(block.buffer);
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let at = 0, n = 0; at < bytes; at += block.length, n++) {
    if (block.length >= 8) {
      stamp.setUint32(0, seed);
      stamp.setUint32(4, n);
    }
    const part = block.subarray(0, Math.min(block.length, bytes - at));
    for (let put = 0; put < part.length;) put += await file.write(part.subarray(put));
  }
}
