/**
 * Checksums for media deliveries: xxHash (xxh64, xxh3, xxh128), MD5, SHA-1
 * and C4 (SHA-512 in base 58, SMPTE ST 2114), computed with the `hash-wasm`
 * library, or for xxHash with the reference C library where FFI is granted
 * (`libxxhash.ts`). Digests print exactly as `xxhsum`, `md5sum` and `sha1sum`
 * print them: lowercase hex, xxHash values big-endian with seed 0.
 *
 * The package is imported by its full `npm:` specifier so that scripts that
 * import ferry's mod.ts from another project (without ferry's deno.json)
 * still resolve it.
 *
 * @module
 */

import type { IHasher } from "npm:hash-wasm@4.13.0"; // the same pin as "imports" in deno.json (a test checks)
import type { XxhashAlgorithm } from "./libxxhash.ts";
import { alignedBytes } from "../fs/aligned_bytes.ts";

/**
 * The library, loaded on the first hash: loading it costs ~27 ms of start-up,
 * which a copy that hashes nothing should not pay.
 */
const library = () => import("npm:hash-wasm@4.13.0");

/** The checksum algorithms ferry computes. */
export type HashAlgorithm = "xxh64" | "xxh3" | "xxh128" | "md5" | "sha1" | "c4";

/** Every algorithm, in the order they are documented. */
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = [
  "xxh64",
  "xxh3",
  "xxh128",
  "md5",
  "sha1",
  "c4",
];

/** The algorithm used where none is named: xxh64, the de-facto default of media tools. */
export const DEFAULT_HASH: HashAlgorithm = "xxh64";

/** An incremental hasher whose state can be saved and resumed in another thread. */
export interface Hasher {
  /** The algorithm. */
  readonly algorithm: HashAlgorithm;
  /** Feeds bytes, in order. */
  update(bytes: Uint8Array): void;
  /** The digest of everything fed so far, as printed by the standard tools. */
  digest(): string;
  /** The internal state, to continue elsewhere with {@linkcode Hasher.load}. */
  save(): Uint8Array;
  /** Continues from a state saved by {@linkcode Hasher.save}. */
  load(state: Uint8Array): void;
  /** Starts over, as if nothing had been fed. */
  reset(): void;
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/**
 * Encodes a 64-byte SHA-512 digest as a C4 ID: `c4` and 88 base-58 digits.
 *
 * @param digest The SHA-512 digest.
 * @returns The 90-character C4 ID.
 * @throws {RangeError} When the digest is not 64 bytes.
 *
 * @example
 * ```ts
 * import { c4FromDigest } from "./hash.ts";
 *
 * const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", new Uint8Array()));
 * console.log(c4FromDigest(digest).length); // 90
 * ```
 */
export function c4FromDigest(digest: Uint8Array): string {
  if (digest.length !== 64) throw new RangeError(`A C4 digest has 64 bytes, not ${digest.length}`);
  let value = 0n;
  for (const byte of digest) value = (value << 8n) | BigInt(byte);
  let out = "";
  while (value > 0n) {
    out = BASE58[Number(value % 58n)] + out;
    value /= 58n;
  }
  return "c4" + out.padStart(88, "1");
}

/**
 * Decodes a C4 ID back to its 64-byte SHA-512 digest.
 *
 * @param id A C4 ID, as made by {@linkcode c4FromDigest}.
 * @returns The digest.
 *
 * @example
 * ```ts
 * import { c4FromDigest, digestFromC4 } from "./hash.ts";
 *
 * console.log(digestFromC4(c4FromDigest(new Uint8Array(64).fill(9)))[0]); // 9
 * ```
 */
export function digestFromC4(id: string): Uint8Array {
  let value = 0n;
  for (const char of id.slice(2)) value = value * 58n + BigInt(BASE58.indexOf(char));
  const out = new Uint8Array(64);
  for (let i = 63; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

const FACTORIES: Record<HashAlgorithm, () => Promise<IHasher>> = {
  xxh64: async () => (await library()).createXXHash64(0, 0),
  xxh3: async () => (await library()).createXXHash3(0, 0),
  xxh128: async () => (await library()).createXXHash128(0, 0),
  md5: async () => (await library()).createMD5(),
  sha1: async () => (await library()).createSHA1(),
  c4: async () => (await library()).createSHA512(),
};

/**
 * Which code computes a digest: `"libxxhash"`, the reference C library
 * through FFI (xxHash algorithms, where `--allow-ffi` is granted and it is
 * installed), or `"hash-wasm"` (every algorithm, everywhere). Both give
 * identical digests.
 */
export type HashImplementation = "libxxhash" | "hash-wasm";

/** Options for {@linkcode createHasher}. */
export interface CreateHasherOptions {
  /**
   * The implementation; `"auto"` takes libxxhash for the xxHash algorithms
   * where it can be used and hash-wasm otherwise. Asking for libxxhash where
   * it cannot be used throws.
   * @default {"auto"}
   */
  implementation?: HashImplementation | "auto";
}

const XXHASH_ALGORITHMS: ReadonlySet<HashAlgorithm> = new Set(["xxh64", "xxh3", "xxh128"]);

/**
 * Creates a hasher.
 *
 * @param algorithm The algorithm.
 * @param options The implementation.
 * @returns A fresh hasher.
 * @throws {RangeError} For an unknown algorithm, or libxxhash asked for
 *   where it cannot be used.
 *
 * @example
 * ```ts
 * import { createHasher } from "./hash.ts";
 *
 * const hasher = await createHasher("xxh64");
 * hasher.update(new TextEncoder().encode("hello world\n"));
 * console.log(hasher.digest()); // "5215e13b207d6d8c", as xxhsum prints it
 * ```
 */
export async function createHasher(
  algorithm: HashAlgorithm,
  options: CreateHasherOptions = {},
): Promise<Hasher> {
  const factory = FACTORIES[algorithm];
  if (factory === undefined) {
    throw new RangeError(
      `Unknown hash '${algorithm}': expected one of ${HASH_ALGORITHMS.join(", ")}`,
    );
  }
  const implementation = options.implementation ?? "auto";
  if (implementation !== "hash-wasm" && XXHASH_ALGORITHMS.has(algorithm)) {
    const { libxxhashHasher } = await import("./libxxhash.ts");
    const native = libxxhashHasher(algorithm as XxhashAlgorithm);
    if (native !== null) return native;
  }
  if (implementation === "libxxhash") {
    throw new RangeError(
      XXHASH_ALGORITHMS.has(algorithm)
        ? `libxxhash cannot be used here (it needs --allow-ffi and libxxhash 0.8 installed)`
        : `libxxhash does not compute ${algorithm}`,
    );
  }
  const inner = await factory();
  inner.init();
  return {
    algorithm,
    update: (bytes) => void inner.update(bytes),
    digest: () => algorithm === "c4" ? c4FromDigest(inner.digest("binary")) : inner.digest("hex"),
    save: () => inner.save(),
    load: (state) => void inner.load(state),
    reset: () => void inner.init(),
  };
}

/** One hasher per algorithm for {@linkcode hashBytes}, made on first use. */
const reused = new Map<HashAlgorithm, Promise<Hasher>>();

/**
 * The digest of bytes held in memory. One hasher per algorithm is reused (a
 * new hash-wasm hasher costs a WebAssembly instance); nothing is awaited
 * between its reset and its digest, so calls cannot mix.
 *
 * @param algorithm The algorithm.
 * @param bytes The bytes.
 * @returns The digest, as the standard tool prints it.
 *
 * @example
 * ```ts
 * import { hashBytes } from "./hash.ts";
 *
 * console.log(await hashBytes("xxh64", new TextEncoder().encode("hello world\n"))); // "5215e13b207d6d8c"
 * ```
 */
export async function hashBytes(algorithm: HashAlgorithm, bytes: Uint8Array): Promise<string> {
  let hasher = reused.get(algorithm);
  if (hasher === undefined) reused.set(algorithm, hasher = createHasher(algorithm));
  const ready = await hasher;
  ready.reset();
  ready.update(bytes);
  return ready.digest();
}

/**
 * Hashes a whole file by reading it in order.
 *
 * Requires `--allow-read`.
 *
 * @param path The file.
 * @param algorithm The algorithm.
 * @param options The read size (or a buffer to read into, reused between
 *   calls that do not overlap), a signal that stops the read, and a callback
 *   told the bytes of each read.
 * @returns The digest.
 *
 * @example
 * ```ts
 * import { hashFile } from "./hash.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "foo");
 * console.log(await hashFile(path, "c4")); // c45xZeXw...
 * await Deno.remove(path);
 * ```
 */
export async function hashFile(
  path: string,
  algorithm: HashAlgorithm,
  options: {
    bufferBytes?: number;
    buffer?: Uint8Array;
    signal?: AbortSignal;
    onRead?: (bytes: number) => void;
  } = {},
): Promise<string> {
  const hasher = await createHasher(algorithm);
  using file = await Deno.open(path, { read: true });
  const buffer = options.buffer ?? alignedBytes(options.bufferBytes ?? 1024 * 1024);
  for (;;) {
    options.signal?.throwIfAborted();
    const got = await file.read(buffer);
    if (got === null) break;
    hasher.update(buffer.subarray(0, got));
    options.onRead?.(got);
  }
  return hasher.digest();
}

/**
 * One line of a checksum list, in the format of the standard tool, so that
 * `xxhsum -c`, `md5sum -c` or `sha1sum -c` can check it: `DIGEST  PATH`,
 * except XXH3, which `xxhsum` prints as `XXH3 (PATH) = DIGEST`.
 *
 * @param algorithm The algorithm.
 * @param digest The digest.
 * @param path The path as it should appear.
 * @returns The line, without a newline.
 *
 * @example
 * ```ts
 * import { checksumLine } from "./hash.ts";
 *
 * console.log(checksumLine("xxh3", "d42f7ed4b73c6bde", "a.exr")); // XXH3 (a.exr) = d42f7ed4b73c6bde
 * ```
 */
export function checksumLine(algorithm: HashAlgorithm, digest: string, path: string): string {
  return algorithm === "xxh3" ? `XXH3 (${path}) = ${digest}` : `${digest}  ${path}`;
}
