/**
 * Streaming XML reading for ASC MHL files with a real parser (`saxes`):
 * namespaces (any prefix), comments, CDATA, character references and the
 * encoding the prolog declares are all handled as XML defines them. The file
 * is read in chunks and never held whole, so a manifest of a million files
 * costs only what the caller keeps of it.
 *
 * @module
 */

import { MhlError } from "./mhl_error.ts";
import { describeError } from "../../errors.ts";

/** One element as it ends: its local name, attributes and direct text. */
export interface XmlElement {
  /** The local name (`hash` for `<mhl:hash>`). */
  name: string;
  /** Attributes by local name. */
  attributes: Record<string, string>;
  /** The element's own text (character data, CDATA and references), untrimmed. */
  text: string;
  /** Local names of the enclosing elements, outermost first. */
  ancestors: readonly string[];
}

/** Callbacks of {@linkcode readXml}. */
export interface XmlHandler {
  /** Called as an element starts, with its ancestors. */
  open?(name: string, ancestors: readonly string[]): void;
  /** Called as an element ends. */
  close(element: XmlElement): void;
}

const READ_BYTES = 256 * 1024;

/** The encoding a document declares: a byte-order mark, else the prolog, else UTF-8. */
function sniffEncoding(head: Uint8Array): string {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return "utf-8";
  if (head[0] === 0xff && head[1] === 0xfe) return "utf-16le";
  if (head[0] === 0xfe && head[1] === 0xff) return "utf-16be";
  if (head[0] === 0x3c && head[1] === 0x00) return "utf-16le";
  if (head[0] === 0x00 && head[1] === 0x3c) return "utf-16be";
  const prolog = String.fromCharCode(...head.subarray(0, 200));
  const declared = /^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']/.exec(prolog);
  return declared?.[1]?.toLowerCase() ?? "utf-8";
}

/**
 * Reads an XML file element by element.
 *
 * Requires `--allow-read`.
 *
 * @param path The file.
 * @param handler Called for every element.
 * @throws {MhlError} `MHL_BAD_XML` when the file is not well-formed (naming the
 * line and column), `MHL_UNREADABLE` when it cannot be read.
 *
 * @example
 * ```ts
 * import { readXml } from "./xml_reader.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".xml" });
 * await Deno.writeTextFile(path, "<a><b>one &amp; two</b></a>");
 * await readXml(path, { close: (el) => console.log(el.name, el.text) }); // b one & two, then a
 * await Deno.remove(path);
 * ```
 */
export async function readXml(path: string, handler: XmlHandler): Promise<void> {
  // Loaded on first use: an npm package brings Node's module layer, which
  // costs every start of a process that imports it ~30 ms.
  const { SaxesParser } = await import("npm:saxes@6.0.0"); // the same pin as "imports" in deno.json
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new MhlError(
      error instanceof Deno.errors.NotFound ? "MHL_MISSING_FILE" : "MHL_UNREADABLE",
      `cannot read '${path}': ${describeError(error)}`,
      { path, cause: error },
    );
  }
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: { name: string; attributes: Record<string, string>; text: string }[] = [];
  const names: string[] = [];
  let failure: Error | undefined;
  parser.on("error", (error) => {
    failure ??= error;
  });
  parser.on("opentag", (tag) => {
    const attributes: Record<string, string> = {};
    for (const attribute of Object.values(tag.attributes)) {
      if (typeof attribute === "string") continue;
      if (attribute.prefix === "xmlns" || attribute.name === "xmlns") continue;
      attributes[attribute.local] = attribute.value;
    }
    const name = tag.local ?? tag.name;
    handler.open?.(name, names);
    stack.push({ name, attributes, text: "" });
    names.push(name);
  });
  const addText = (text: string): void => {
    const top = stack.at(-1);
    if (top !== undefined) top.text += text;
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  parser.on("closetag", () => {
    const top = stack.pop()!;
    names.pop();
    handler.close({ ...top, ancestors: names });
  });
  const bad = (error: Error): MhlError =>
    new MhlError(
      "MHL_BAD_XML",
      `'${path}' is not well-formed XML (line ${parser.line}, column ${parser.column}: ${
        error.message.replace(/^.*?:\d+:\d+: /, "")
      })`,
      { path, cause: error },
    );
  try {
    const buffer = new Uint8Array(READ_BYTES);
    let decoder: TextDecoder | undefined;
    while (true) {
      const n = await file.read(buffer).catch((error) => {
        throw new MhlError("MHL_UNREADABLE", `cannot read '${path}': ${describeError(error)}`, {
          path,
          cause: error,
        });
      });
      if (n === null) break;
      const bytes = buffer.subarray(0, n);
      if (decoder === undefined) {
        const encoding = sniffEncoding(bytes);
        try {
          decoder = new TextDecoder(encoding, { fatal: true });
        } catch (error) {
          throw new MhlError(
            "MHL_BAD_XML",
            `'${path}' declares the encoding '${encoding}', which ferry cannot read`,
            { path, cause: error },
          );
        }
      }
      let text: string;
      try {
        text = decoder.decode(bytes, { stream: true });
      } catch (error) {
        throw new MhlError(
          "MHL_BAD_XML",
          `'${path}' is not valid ${decoder.encoding} text (as its prolog declares)`,
          { path, cause: error },
        );
      }
      parser.write(text);
      if (failure !== undefined) throw bad(failure);
    }
    parser.close();
    if (failure !== undefined) throw bad(failure);
  } finally {
    file.close();
  }
}
