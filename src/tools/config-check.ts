// Host-side config checking: the JSON Schema (ajv) plus the same validateConfig the board runs.
// Used by check-config (CLI), flash.sh (through check-config) and the tests.
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import AjvModule from "ajv";
import { validateConfig, compactBoard } from "../device/config.js";

// .build/host/src/tools/config-check.js -> repository root
export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export function boardIds(): string[] {
  return readdirSync(join(ROOT, "boards")).filter((f) => f.endsWith(".json") && f != "board.schema.json")
    .map((f) => f.slice(0, -5)).sort();
}

export function loadBoard(id: string): any {
  if (!boardIds().includes(id)) throw new Error(`unknown board ${id} (one of: ${boardIds().join(", ")})`);
  return JSON.parse(readFileSync(join(ROOT, "boards", id + ".json"), "utf8"));
}

let validateSchema: any;
function schemaValidator(): any {
  if (!validateSchema) {
    const Ajv: any = (AjvModule as any).default || AjvModule;
    const ajv = new Ajv({ allErrors: true, strict: false });
    validateSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, "src/device/config.schema.json"), "utf8")));
  }
  return validateSchema;
}

// "/sensors/1/pin" -> "sensors[1].pin"
function keyPath(pointer: string): string {
  return pointer.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, s) => /^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s, "");
}

// Errors from the JSON Schema alone, in the validator's "key: message" form.
export function schemaErrors(cfg: unknown): string[] {
  const v = schemaValidator();
  if (v(cfg)) return [];
  const out: string[] = [];
  for (const e of v.errors as any[]) {
    let p = keyPath(e.instancePath), m = e.message as string;
    const join1 = (k: string) => (p ? p + "." : "") + k;
    if (e.keyword == "additionalProperties") { p = join1(e.params.additionalProperty); m = "unknown key"; }
    else if (e.keyword == "required") { p = join1(e.params.missingProperty); m = "required"; }
    else if (e.keyword == "dependencies") { p = join1(e.params.property); m = `needs ${e.params.missingProperty}`; }
    const line = `${p || "config"}: ${m}`;
    if (!out.includes(line)) out.push(line);
  }
  return out;
}

const pathOf = (line: string) => line.slice(0, line.indexOf(": "));

// All errors for a config: validateConfig's (board rules included), then any schema error about a key
// the validator said nothing about (there should be none: the tests keep the two in step). Host-only
// hints are added to pin messages (reserved pins, silkscreen labels).
export function checkConfig(cfg: unknown, board?: any): string[] {
  const errors = validateConfig(structuredClone(cfg), board ? compactBoard(board) : undefined).map((line) => {
    const m = /^(.*): (\S+) is not a pin of /.exec(line);
    if (!m || !board) return line;
    const hints: string[] = [];
    if (board.reserved && board.reserved[m[2]]) hints.push(`reserved: ${board.reserved[m[2]]}`);
    if (board.silkscreen && board.silkscreen[m[2]]) hints.push(`the label ${m[2]} on the board is Espruino pin ${board.silkscreen[m[2]]}`);
    return hints.length ? `${line} (${hints.join("; ")})` : line;
  });
  const seen = errors.map(pathOf);
  for (const line of schemaErrors(cfg)) {
    const p = pathOf(line);
    if (!seen.some((s) => s == p || s.startsWith(p + ".") || s.startsWith(p + "[") || (p == "config" && s))) errors.push(line);
  }
  return errors;
}
