/**
 * A chunk worker: copies byte ranges from a source file into a destination
 * file that already exists at its full size. It opens both files itself and
 * copies the range either in the kernel (`copy_file_range`, when the job asks
 * for offload) or by reading and writing with one reused buffer. Either way it
 * checks the cancel flag at least every buffer-size step (1 MiB by default)
 * and confirms it wrote exactly the range length.
 *
 * Started by `lib/pool.ts`; messages are defined in `lib/messages.ts`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { ControlBlock } from "../lib/control.ts";
import type { CopyMessage, FromWorker, ToWorker } from "../lib/messages.ts";
import { FALLBACK_CODES, KernelCopy } from "../lib/offload.ts";

let control: ControlBlock | undefined;
let slot = 0;
let buffer = new Uint8Array(0);
let kernel: KernelCopy | null | undefined;

function post(message: FromWorker): void {
  self.postMessage(message);
}

/** An error on one side of the copy. */
class SideError extends Error {
  constructor(readonly side: "source" | "destination", readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

/** How far one range has got. */
interface Progress {
  /** Bytes of the range written so far. */
  done: number;
  /** Of those, bytes copied by copy_file_range. */
  offloaded: number;
}

/** The range stopped because the batch was cancelled. */
class Stopped extends Error {}

function earlyEnd(job: CopyMessage, done: number): SideError {
  const missing = job.length - done;
  return new SideError(
    "source",
    new Error(`the source ended ${missing} bytes early (was it changed during the copy?)`),
  );
}

/**
 * Copies as much of the range as the kernel will with copy_file_range.
 * Returns the bytes copied and, when it stopped early because this pair of
 * file systems cannot offload, the errno name.
 */
function offloadRange(job: CopyMessage, at: Progress): string | undefined {
  kernel ??= KernelCopy.open();
  if (kernel === null) return "FFI unavailable";
  let fdIn = -1;
  let fdOut = -1;
  try {
    try {
      fdIn = kernel.openFile(job.src, false);
    } catch (error) {
      throw new SideError("source", error);
    }
    try {
      fdOut = kernel.openFile(job.dst, true);
    } catch (error) {
      throw new SideError("destination", error);
    }
    while (at.done < job.length) {
      if (control!.cancelled) throw new Stopped();
      const step = Math.min(job.offloadStepBytes, job.length - at.done);
      const offset = job.offset + at.done;
      let copied: number;
      try {
        copied = kernel.copyRange(fdIn, offset, fdOut, offset, step);
      } catch (error) {
        const code = (error as { code?: string }).code ?? "";
        if (FALLBACK_CODES.has(code)) return code;
        throw new SideError(
          code === "ENOSPC" || code === "EDQUOT" ? "destination" : "source",
          error,
        );
      }
      if (copied === 0) return "short copy";
      at.done += copied;
      at.offloaded += copied;
      control!.addBytes(slot, copied);
    }
    return undefined;
  } finally {
    if (fdIn >= 0) kernel.closeFile(fdIn);
    if (fdOut >= 0) kernel.closeFile(fdOut);
  }
}

/** Copies the rest of the range (from `at.done`) by read/write. */
function readWriteRange(job: CopyMessage, at: Progress): void {
  let src: Deno.FsFile | undefined;
  let dst: Deno.FsFile | undefined;
  try {
    try {
      src = Deno.openSync(job.src, { read: true });
      src.seekSync(job.offset + at.done, Deno.SeekMode.Start);
    } catch (error) {
      throw new SideError("source", error);
    }
    try {
      dst = Deno.openSync(job.dst, { write: true });
      dst.seekSync(job.offset + at.done, Deno.SeekMode.Start);
    } catch (error) {
      throw new SideError("destination", error);
    }
    while (at.done < job.length) {
      if (control!.cancelled) throw new Stopped();
      const want = Math.min(buffer.length, job.length - at.done);
      let got: number | null;
      try {
        got = src.readSync(buffer.subarray(0, want));
      } catch (error) {
        throw new SideError("source", error);
      }
      if (got === null || got === 0) throw earlyEnd(job, at.done);
      try {
        for (let put = 0; put < got;) put += dst.writeSync(buffer.subarray(put, got));
      } catch (error) {
        throw new SideError("destination", error);
      }
      at.done += got;
      control!.addBytes(slot, got);
    }
  } finally {
    src?.close();
    dst?.close();
  }
}

function copyRange(job: CopyMessage): void {
  const at: Progress = { done: 0, offloaded: 0 };
  let fallback: string | undefined;
  try {
    if (job.offload) {
      fallback = offloadRange(job, at);
      if (fallback !== undefined && job.offloadRequired) {
        throw new SideError(
          "destination",
          new Error(`copy offload is not possible here (${fallback})`),
        );
      }
    }
    if (at.done < job.length) readWriteRange(job, at);
    if (at.done !== job.length) {
      throw new SideError("destination", new Error(`wrote ${at.done} of ${job.length} bytes`));
    }
    post({
      type: "done",
      id: job.id,
      bytes: at.done,
      offloadedBytes: at.offloaded,
      ...(fallback === undefined ? {} : { fallback }),
    });
  } catch (error) {
    if (error instanceof Stopped) {
      post({ type: "cancelled", id: job.id, bytes: at.done });
      return;
    }
    const side = error instanceof SideError ? error.side : "destination";
    const inner = error instanceof SideError ? error.inner : error;
    const code = (inner as { code?: unknown })?.code;
    post({
      type: "error",
      id: job.id,
      bytes: at.done,
      name: inner instanceof Error ? inner.name : "Error",
      ...(typeof code === "string" ? { code } : {}),
      message: inner instanceof Error ? inner.message : String(inner),
      side,
    });
  }
}

self.onmessage = (event: MessageEvent<ToWorker>): void => {
  const message = event.data;
  switch (message.type) {
    case "init":
      control = new ControlBlock(message.control);
      slot = message.slot;
      buffer = new Uint8Array(message.bufferBytes);
      post({ type: "ready" });
      break;
    case "copy":
      copyRange(message);
      break;
  }
};
