/**
 * A plan as JSON lines: the header first, then one item per line, in order.
 * Written as the plan is produced and read back lazily, so neither side
 * holds the whole plan; what is read back equals what was written.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { asOptions, type ResolvedSettings, resolveOptions } from "../options.ts";
import { type Plan, PLAN_VERSION, type PlanHeader, type PlanItem } from "./plan_item.ts";

/**
 * The lines of a plan (without line ends). Reads the plan's items.
 *
 * @param plan The plan.
 * @returns The header line, then one line per item.
 *
 * @example
 * ```ts
 * import { planBatch, planLines } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const plan = await planBatch([{ src, dst: `${src}.copy` }]);
 * for await (const line of planLines(plan)) console.log(line);
 * await Deno.remove(src);
 * ```
 */
export async function* planLines(plan: Plan): AsyncGenerator<string> {
  yield JSON.stringify({ ferry_plan: plan.header.version, ...plan.header });
  for await (const item of plan.items) yield JSON.stringify(item);
}

/**
 * Reads a plan from its lines. The header is read and checked at once; the
 * items as they are asked for, each checked and frozen.
 *
 * @param lines The lines, e.g. from a file split at line ends.
 * @param origin Where the lines come from, for messages.
 * @returns The plan.
 * @throws {InputError} When the header is not a ferry plan of this version
 * (and, while reading the items, for an item that is not valid).
 *
 * @example
 * ```ts
 * import { collectPlan, planBatch, planLines, readPlan } from "../../mod.ts";
 *
 * const src = await Deno.makeTempFile();
 * const lines = await Array.fromAsync(planLines(await planBatch([{ src, dst: `${src}.c` }])));
 * const back = await collectPlan(await readPlan(lines));
 * console.log(back.files[0]?.src === src); // true
 * await Deno.remove(src);
 * ```
 */
export async function readPlan(
  lines: AsyncIterable<string> | Iterable<string>,
  origin = "the plan",
): Promise<Plan> {
  const iterator =
    (Symbol.asyncIterator in lines
      ? lines[Symbol.asyncIterator]()
      : (lines as Iterable<string>)[Symbol.iterator]()) as AsyncIterator<string> | Iterator<string>;
  let number = 0;
  const next = async (): Promise<string | undefined> => {
    for (;;) {
      const step = await iterator.next();
      if (step.done) return undefined;
      number++;
      if (step.value.trim() !== "") return step.value;
    }
  };
  const bad = (why: string): InputError =>
    new InputError(`Cannot read ${origin}: line ${number}: ${why}`);
  const parse = (line: string): Record<string, unknown> => {
    try {
      const value = JSON.parse(line);
      if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
    } catch {
      // said below
    }
    throw bad("not a JSON object");
  };
  const first = await next();
  if (first === undefined) throw bad("empty: no plan header");
  const head = parse(first);
  if (head.ferry_plan !== PLAN_VERSION) {
    throw bad(`not a ferry plan of version ${PLAN_VERSION} (no "ferry_plan": ${PLAN_VERSION})`);
  }
  const mappings = head.mappings;
  if (
    !Array.isArray(mappings) ||
    !mappings.every((m) => typeof m?.src === "string" && typeof m?.dst === "string")
  ) throw bad("'mappings' must be a list of {src, dst}");
  const settings = head.settings as ResolvedSettings;
  // The settings were resolved when the plan was made: they must resolve to themselves.
  const again = resolveOptions(asOptions(settings), {
    offloadAvailable: settings.offload !== "never",
  });
  again.ffi = settings.ffi;
  const header: PlanHeader = Object.freeze({
    version: PLAN_VERSION,
    mappings: Object.freeze(mappings.map((m) => Object.freeze({ src: m.src, dst: m.dst }))),
    settings: Object.freeze(again),
  });
  async function* items(): AsyncGenerator<PlanItem> {
    for (let line = await next(); line !== undefined; line = await next()) {
      const item = parse(line);
      if (item.kind !== "file" && item.kind !== "dir" && item.kind !== "stray") {
        throw bad(`unknown item kind ${JSON.stringify(item.kind)}`);
      }
      if (typeof item.id !== "number") throw bad("an item needs a numeric 'id'");
      if (Array.isArray(item.chunks)) {
        item.chunks = Object.freeze(item.chunks.map((c: object) => Object.freeze(c)));
      }
      yield Object.freeze(item) as unknown as PlanItem;
    }
  }
  return { header, items: items() };
}
