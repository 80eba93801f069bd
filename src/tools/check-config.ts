// npm run check-config -- FILE [--board ID] [--out DIR]
// Prints OK, or each error on its own line and exits 1 (2 for usage errors).
// --out DIR (used by flash.sh; only when the config is good) writes what gets uploaded:
//   DIR/mote.json          the config, minified
//   DIR/mote.board         the compact board the on-board validator reads (needs --board)
//   DIR/espruino-board.json  a board description for the espruino tool (--board), naming the built-in modules
//   DIR/modules            Espruino modules the config needs in Storage (DHT22, DS18B20, BME280), one per line
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { checkConfig, loadBoard, boardIds } from "./config-check.js";
import { compactBoard } from "../device/config.js";

function usage(msg: string): never {
  console.error(`check-config: ${msg}`);
  console.error(`usage: npm run check-config -- FILE [--board ${boardIds().join("|")}] [--out DIR]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let file: string | undefined, boardId: string | undefined, out: string | undefined;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a == "--board" || a == "--out") {
    const v = args[++i];
    if (!v || v.startsWith("--")) usage(`${a} needs a value`);
    if (a == "--board") boardId = v; else out = v;
  } else if (a.startsWith("--board=")) boardId = a.slice(8);
  else if (a.startsWith("--out=")) out = a.slice(6);
  else if (a.startsWith("-")) usage(`unknown option ${a}`);
  else if (file) usage(`only one config file, got ${file} and ${a}`);
  else file = a;
}
if (!file) usage("no config file given");
if (out && !boardId) usage("--out needs --board");

let board: any;
if (boardId) {
  try { board = loadBoard(boardId); } catch (e) { usage(`--board: ${(e as Error).message}`); }
}

let text: string, cfg: unknown;
try { text = readFileSync(file, "utf8"); } catch (e) {
  console.log(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
  process.exit(1);
}
try { cfg = JSON.parse(text); } catch (e) {
  console.log(`${file}: not valid JSON: ${(e as Error).message}`);
  process.exit(1);
}

const errors = checkConfig(cfg, board);
if (errors.length) {
  for (const line of errors) console.log(line);
  process.exit(1);
}
if (out) {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "mote.json"), JSON.stringify(cfg));
  writeFileSync(join(out, "mote.board"), JSON.stringify(compactBoard(board)));
  writeFileSync(join(out, "espruino-board.json"), JSON.stringify({
    BOARD: board.espruino_board, info: { builtin_modules: board.modules },
  }) + "\n");
  const types = ((cfg as any).sensors || []).map((s: any) => s.type);
  writeFileSync(join(out, "modules"), ["DHT22", "DS18B20", "BME280"].filter((m) => types.includes(m.toLowerCase()))
    .map((m) => m + "\n").join(""));
}
console.log("OK");
