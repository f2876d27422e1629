/**
 * xxHash from the reference C library, `libxxhash` (Debian and Ubuntu
 * `libxxhash0`, which the `xxhash` package that brings `xxhsum` pulls in;
 * Homebrew `xxhash`), through Deno's FFI. It hashes in place, on the bytes
 * the read left in a buffer, at the speed `xxhsum` itself reaches (several
 * GB/s a core); hash-wasm copies every byte into WebAssembly memory first and
 * must be compiled in every worker that hashes, which costs ~0.1 s a worker.
 *
 * Used where `--allow-ffi` is granted and a library of the 0.8 series is
 * found; {@linkcode createHasher} falls back to hash-wasm otherwise, with
 * identical digests (the tests compare both with `xxhsum`).
 *
 * A hasher's state moves between threads (the ranges of one file are hashed
 * in order by whichever worker read them) as a copy of the library's state
 * struct. Its size is fixed within the 0.8 series (88 bytes for XXH64, 576
 * for XXH3); another series is not used.
 *
 * FFI widens the sandbox: native code is not bound by Deno's permissions.
 *
 * @module
 */

import type { Hasher } from "./hash.ts";

/** The algorithms the library computes. */
export type XxhashAlgorithm = "xxh64" | "xxh3" | "xxh128";

const SYMBOLS = {
  XXH_versionNumber: { parameters: [], result: "u32" },
  XXH64_createState: { parameters: [], result: "pointer" },
  XXH64_freeState: { parameters: ["pointer"], result: "i32" },
  XXH64_reset: { parameters: ["pointer", "u64"], result: "i32" },
  XXH64_update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  XXH64_digest: { parameters: ["pointer"], result: "u64" },
  XXH3_createState: { parameters: [], result: "pointer" },
  XXH3_freeState: { parameters: ["pointer"], result: "i32" },
  XXH3_64bits_reset: { parameters: ["pointer"], result: "i32" },
  XXH3_64bits_update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  XXH3_64bits_digest: { parameters: ["pointer"], result: "u64" },
  XXH3_128bits_reset: { parameters: ["pointer"], result: "i32" },
  XXH3_128bits_update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  XXH3_128bits_digest: { parameters: ["pointer"], result: { struct: ["u64", "u64"] } },
  // The x86 builds (Debian's among them) also export XXH3 updates that pick
  // AVX2 or AVX-512 code at run time, as xxhsum does; the plain ones are
  // built for the baseline SSE2 and run XXH3 at about half that speed.
  XXH3_64bits_update_dispatch: {
    parameters: ["pointer", "buffer", "usize"],
    result: "i32",
    optional: true,
  },
  XXH3_128bits_update_dispatch: {
    parameters: ["pointer", "buffer", "usize"],
    result: "i32",
    optional: true,
  },
} as const;

type Library = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Where the library is found: Linux, then macOS (Homebrew). */
const NAMES = ["libxxhash.so.0", "libxxhash.so", "libxxhash.0.dylib", "libxxhash.dylib"];

/** The state struct sizes of the 0.8 series (`sizeof(XXH64_state_t)`, `sizeof(XXH3_state_t)`). */
const STATE_BYTES = { xxh64: 88, xxh3: 576 } as const;

/** Marks a saved state as this library's (the last byte), so another implementation's is refused. */
const STATE_TAG = 0x58;

let library: Library | null | undefined;

/**
 * The library's functions in this thread, or `null` where FFI is not
 * granted, the library is absent or it is not of the 0.8 series.
 */
function load(): Library | null {
  if (library !== undefined) return library;
  library = null;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
  for (const name of NAMES) {
    try {
      const opened = Deno.dlopen(name, SYMBOLS);
      const version = opened.symbols.XXH_versionNumber();
      if (version >= 800 && version < 900) return library = opened.symbols;
      opened.close();
    } catch {
      // Not under this name; try the next.
    }
  }
  return null;
}

/**
 * The version of the library ferry hashes with, as `xxhsum` prints it
 * (`0.8.1`), or `null` where it is not used (no `--allow-ffi`, not
 * installed, or not of the 0.8 series).
 *
 * @returns The version, or `null`.
 *
 * @example
 * ```ts
 * import { libxxhashVersion } from "./libxxhash.ts";
 *
 * console.log(libxxhashVersion() ?? "hash-wasm"); // "0.8.1" where installed and FFI is granted
 * ```
 */
export function libxxhashVersion(): string | null {
  const found = load();
  if (found === null) return null;
  const version = found.XXH_versionNumber();
  return `${Math.floor(version / 10000)}.${Math.floor(version / 100) % 100}.${version % 100}`;
}

const states = new FinalizationRegistry<{ free: () => void }>((held) => held.free());

const hex64 = (value: number | bigint) => BigInt(value).toString(16).padStart(16, "0");

/**
 * A hasher computed by libxxhash, or `null` where the library cannot be used
 * in this thread (see {@linkcode libxxhashVersion}). Digests print as
 * `xxhsum` prints them (seed 0).
 *
 * Requires `--allow-ffi`.
 *
 * @param algorithm xxh64, xxh3 (64-bit XXH3) or xxh128.
 * @returns The hasher, or `null`.
 *
 * @example
 * ```ts
 * import { libxxhashHasher } from "./libxxhash.ts";
 *
 * const hasher = libxxhashHasher("xxh64");
 * hasher?.update(new TextEncoder().encode("hello world\n"));
 * console.log(hasher?.digest()); // "5215e13b207d6d8c"
 * ```
 */
export function libxxhashHasher(algorithm: XxhashAlgorithm): Hasher | null {
  const lib = load();
  if (lib === null) return null;
  const xxh64 = algorithm === "xxh64";
  const pointer = xxh64 ? lib.XXH64_createState() : lib.XXH3_createState();
  if (pointer === null) throw new Error(`libxxhash could not allocate an ${algorithm} state`);
  const size = xxh64 ? STATE_BYTES.xxh64 : STATE_BYTES.xxh3;
  // The state's own memory, read and written in place to save and load it.
  const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, size));
  const functions = {
    xxh64: {
      reset: () => lib.XXH64_reset(pointer, 0n),
      update: (bytes: Uint8Array) => lib.XXH64_update(pointer, bytes, BigInt(bytes.length)),
      digest: () => hex64(lib.XXH64_digest(pointer)),
    },
    xxh3: {
      reset: () => lib.XXH3_64bits_reset(pointer),
      update: (bytes: Uint8Array) =>
        (lib.XXH3_64bits_update_dispatch ?? lib.XXH3_64bits_update)(
          pointer,
          bytes,
          BigInt(bytes.length),
        ),
      digest: () => hex64(lib.XXH3_64bits_digest(pointer)),
    },
    xxh128: {
      reset: () => lib.XXH3_128bits_reset(pointer),
      update: (bytes: Uint8Array) =>
        (lib.XXH3_128bits_update_dispatch ?? lib.XXH3_128bits_update)(
          pointer,
          bytes,
          BigInt(bytes.length),
        ),
      digest: () => {
        // XXH128_hash_t is { low64, high64 }; xxhsum prints the high half first.
        const halves = new BigUint64Array(lib.XXH3_128bits_digest(pointer).buffer);
        return hex64(halves[1]!) + hex64(halves[0]!);
      },
    },
  }[algorithm];
  const hasher: Hasher = {
    algorithm,
    update: (bytes) => void functions.update(bytes),
    digest: functions.digest,
    save: () => {
      const state = new Uint8Array(size + 1);
      state.set(view);
      state[size] = STATE_TAG;
      return state;
    },
    load: (state) => {
      if (state.length !== size + 1 || state[size] !== STATE_TAG) {
        throw new TypeError(`Not a libxxhash ${algorithm} state (another implementation saved it)`);
      }
      view.set(state.subarray(0, size));
    },
    reset: () => void functions.reset(),
  };
  functions.reset();
  const free = () => void (xxh64 ? lib.XXH64_freeState(pointer) : lib.XXH3_freeState(pointer));
  states.register(hasher, { free });
  return hasher;
}
