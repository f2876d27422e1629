/**
 * A chunk worker: copies byte ranges from a source file into a destination
 * file that already exists at its full size. It opens both files itself,
 * seeks to the range, copies it with one reused buffer, checks the cancel
 * flag before every buffer (so at least every 1 MiB with the default buffer),
 * and confirms it wrote exactly the range length.
 *
 * Started by `lib/pool.ts`; messages are defined in `lib/messages.ts`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { ControlBlock } from "../lib/control.ts";
import type { CopyMessage, FromWorker, ToWorker } from "../lib/messages.ts";

let control: ControlBlock | undefined;
let slot = 0;
let buffer = new Uint8Array(0);

function post(message: FromWorker): void {
  self.postMessage(message);
}

class SideError extends Error {
  constructor(readonly side: "source" | "destination", readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

function copyRange(job: CopyMessage): void {
  let written = 0;
  let src: Deno.FsFile | undefined;
  let dst: Deno.FsFile | undefined;
  try {
    try {
      src = Deno.openSync(job.src, { read: true });
      src.seekSync(job.offset, Deno.SeekMode.Start);
    } catch (error) {
      throw new SideError("source", error);
    }
    try {
      dst = Deno.openSync(job.dst, { write: true });
      dst.seekSync(job.offset, Deno.SeekMode.Start);
    } catch (error) {
      throw new SideError("destination", error);
    }
    while (written < job.length) {
      if (control!.cancelled) {
        post({ type: "cancelled", id: job.id, bytes: written });
        return;
      }
      const want = Math.min(buffer.length, job.length - written);
      let got: number | null;
      try {
        got = src.readSync(buffer.subarray(0, want));
      } catch (error) {
        throw new SideError("source", error);
      }
      if (got === null || got === 0) {
        throw new SideError(
          "source",
          new Error(
            `the source ended ${
              job.length - written
            } bytes early (was it changed during the copy?)`,
          ),
        );
      }
      let put = 0;
      try {
        while (put < got) put += dst.writeSync(buffer.subarray(put, got));
      } catch (error) {
        throw new SideError("destination", error);
      }
      written += got;
      control!.addBytes(slot, got);
    }
    if (written !== job.length) {
      throw new SideError("destination", new Error(`wrote ${written} of ${job.length} bytes`));
    }
    post({ type: "done", id: job.id, bytes: written });
  } catch (error) {
    const side = error instanceof SideError ? error.side : "destination";
    const inner = error instanceof SideError ? error.inner : error;
    const code = (inner as { code?: unknown })?.code;
    post({
      type: "error",
      id: job.id,
      bytes: written,
      name: inner instanceof Error ? inner.name : "Error",
      ...(typeof code === "string" ? { code } : {}),
      message: inner instanceof Error ? inner.message : String(inner),
      side,
    });
  } finally {
    src?.close();
    dst?.close();
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
