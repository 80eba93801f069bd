// `npm run bench`, runtime section (issue 12): the device runtime as a board runs it, on the real
// interpreter, loaded from Storage: .bootcde (firmware/mote.js), mote.json and mote.board (and feature
// modules when asked) written into ./espruino.flash, then the interpreter started with no script (it
// boots from Storage as a board does) and connected to Mosquitto. Figures, on both layouts (16,383 and
// 1,600 variables), for the 4-sensor, 2-actuator example (boards/examples/esp8266-nodemcu.json, broker set
// to the bench's Mosquitto), features off: process.memory() once mote.up, again after one reading of each
// sensor (the steady state: each keeps its last value), and the bare interpreter's for comparison.
// runRuntime(bin, writer, cfg, board, probes, [[name, text]...]) measures other configs and modules.
//
// Run on its own for the breakdown (E.getSizeOf of the runtime's objects, the module cache, trace()):
//   node .build/host/src/tools/bench-runtime.js [--trace] [--log] [--config FILE] [--board ID] [--modules diag,ha]
// (BENCH_FIRMWARE=DIR measures another build's firmware/ folder.)
// The probes are typed into the interpreter's console (stdin), as a person at the board's REPL would;
// each clears the console history first, which would otherwise keep the typed lines in variables.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { MosquittoInstance } from "../../test/support/mosquitto.js";
import { compactBoard } from "../device/config.js";
import { ROOT, loadBoard } from "./config-check.js";
import { runEspruino } from "./espruino-run.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const EXAMPLE = "boards/examples/esp8266-nodemcu.json";

/** The interpreters: [label, path] for the layouts found (ESPRUINO, ESPRUINO_1600, /work/espruino-bin). */
export function interpreters(): [string, string][] {
  const full = [process.env.ESPRUINO, "/work/espruino-bin/espruino"].find((p) => p && fs.existsSync(p));
  const small = [process.env.ESPRUINO_1600, full && path.join(path.dirname(full), "espruino-1600"), "/work/espruino-bin/espruino-1600"]
    .find((p) => p && fs.existsSync(p));
  const l: [string, string][] = [];
  if (full) l.push(["ESP32 layout (16,383)", full]);
  if (small) l.push(["ESP8266 layout (1,600)", small]);
  return l;
}

/** The example config pointed at the bench's broker. */
export function exampleConfig(port: number, file = EXAMPLE): any {
  const c = JSON.parse(fs.readFileSync(path.resolve(ROOT, file), "utf8"));
  c.mqtt.host = "127.0.0.1";
  c.mqtt.port = port;
  c.base = c.base || "bench/runtime/" + process.pid;
  return c;
}

/**
 * Writes `files` into a fresh ./espruino.flash with `writer` (the full build: the 1,600 one cannot
 * hold the bundle's chunks as literals), in 512-byte chunks at their offsets, as a board receiving them.
 */
async function writeStorage(writer: string, dir: string, files: [string, string][]): Promise<void> {
  const body = files.map(([n, d]) => {
    const parts: string[] = [];
    for (let o = 0; o < d.length; o += 512) parts.push(`S.write(${JSON.stringify(n)},${JSON.stringify(d.substr(o, 512))},${o},${d.length});`);
    return parts.join("\n");
  }).join("\n");
  let wrote = false;
  const w = runEspruino(writer, dir, "write.js", `var S=require("Storage");\n${body}\nprint("@@WROTE");\n`, (t) => { if (t.startsWith("WROTE")) wrote = true; });
  const k = setTimeout(w.kill, 15000);
  await w.exited; clearTimeout(k); w.proc.stdin!.destroy();
  fs.rmSync(path.join(dir, "write.js"), { force: true });
  if (!wrote) throw new Error("could not write Storage: " + w.output().trim().split("\n").slice(-2).join(" | "));
}

export interface RuntimeRun {
  /** process.memory() once connected (birth and subscriptions sent), before any sensor was read. */
  usage?: number; free?: number; total?: number;
  /** The same after each sensor was read once (its last value and counters stored): the steady state. */
  usageRead?: number; freeRead?: number;
  probes: string[]; output: string; error?: string;
}

/**
 * Boots `bin` from Storage holding the runtime and `cfg`, waits until mote.up (connected, birth sent),
 * lets it settle, then reads process.memory() and evaluates each probe (an expression whose value is
 * printed, one line each) at the console.
 */
export async function runRuntime(bin: string, writer: string, cfg: any | undefined, boardId: string, probes: string[] = [],
  extra: [string, string][] = [], traceTree = false): Promise<RuntimeRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-runtime-"));
  // BENCH_FIRMWARE=dir: another build's firmware/ (before/after comparisons).
  const fw = (n: string) => fs.readFileSync(path.join(process.env.BENCH_FIRMWARE || path.join(ROOT, "firmware"), n + ".js"), "latin1");
  // cfg undefined: the bare interpreter (the same Storage files but no boot code), the figure to subtract.
  // The client's parts (firmware/mote-mqtt-*.js, loaded on use) go in as flash.sh puts them.
  const dirFw = process.env.BENCH_FIRMWARE || path.join(ROOT, "firmware");
  const parts = fs.readdirSync(dirFw).filter((f) => /^mote-mqtt-.*\.js$/.test(f)).map((f): [string, string] => [f.slice(0, -3), fw(f.slice(0, -3))]);
  const files: [string, string][] = [
    ["mote.json", JSON.stringify(cfg ?? {})],
    ["mote.board", JSON.stringify(compactBoard(loadBoard(boardId)))],
    ...parts,
    ...extra,
  ];
  if (cfg) files.push([".bootcde", fw("mote")]);
  const res: RuntimeRun = { probes: [], output: "" };
  try {
    await writeStorage(writer, dir, files);
    const p = spawn(bin, [], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const lines: string[] = [];
    const feed = (d: Buffer) => {
      out += d.toString("latin1");
      let i: number;
      while ((i = out.indexOf("\n")) >= 0) {
        const l = out.slice(0, i).replace(/\r$/, "");
        out = out.slice(i + 1);
        res.output += l + "\n";
        const k = l.indexOf("@@");
        if (k >= 0) lines.push(l.slice(k + 2));
      }
    };
    p.stdout!.on("data", feed);
    p.stderr!.on("data", feed);
    // "@"+"@" so that the console's echo of the typed line is not taken for the answer.
    const ask = async (expr: string, ms = 3000): Promise<string | undefined> => {
      const n = lines.length;
      p.stdin!.write(`global["\\xFF"].history=[];print("@"+"@"+(${expr}))\n`);
      const end = Date.now() + ms;
      while (lines.length == n && Date.now() < end && p.exitCode === null) await sleep(20);
      return lines[n];
    };
    try {
      if (!cfg) {
        await sleep(500);
        const m = JSON.parse((await ask("JSON.stringify(process.memory())")) || "{}");
        res.usage = res.usageRead = m.usage; res.free = res.freeRead = m.free; res.total = m.total;
        return res;
      }
      const end = Date.now() + 10000;
      let up = false;
      while (!up && Date.now() < end && p.exitCode === null) {
        up = (await ask(`typeof mote=="object"&&!!mote.up`, 500)) == "true";
        if (!up) await sleep(200);
      }
      if (!up) { res.error = "not connected: " + res.output.trim().split("\n").slice(-3).join(" | "); return res; }
      await sleep(1000); // SUBACKs and the birth's PUBACK
      const m = JSON.parse((await ask("JSON.stringify(process.memory())")) || "{}");
      res.usage = m.usage; res.free = m.free; res.total = m.total;
      // Every sensor read once now (as its timer will), then the figure again.
      await ask(`mote.c.sensors.forEach(function(s){if(s.type!="button")mote.rd(mote,s)}),1`);
      // Long enough for what follows a reading (Home Assistant sends its states round 0.5-2 s after one).
      await sleep(3000);
      const r = JSON.parse((await ask("JSON.stringify(process.memory())")) || "{}");
      res.usageRead = r.usage; res.freeRead = r.free;
      for (const q of probes) res.probes.push((await ask(q, 8000)) ?? "(no answer)");
      if (traceTree) {
        // trace() prints the whole variable tree, slowly: wait until the output has been quiet for 2 s.
        p.stdin!.write("trace()\n");
        let n = -1;
        for (let quiet = 0; quiet < 10 && p.exitCode === null; await sleep(200)) {
          quiet = res.output.length == n ? quiet + 1 : 0;
          n = res.output.length;
        }
      }
    } finally {
      p.kill("SIGKILL");
    }
    return res;
  } catch (e) {
    res.error = (e as Error).message;
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function sectionRuntime(broker: MosquittoInstance | undefined): Promise<void> {
  console.log(`\n## Device runtime from Storage (issue 12): ${EXAMPLE} (4 sensors, 2 actuators), Mosquitto, features off`);
  if (!broker) { console.log("  skipped: no Mosquitto"); return; }
  const bins = interpreters();
  if (!bins.length) { console.log("  skipped: no interpreter (set ESPRUINO)"); return; }
  const writer = bins[0][1];
  console.log("  variables (process.memory()) once connected (birth and subscriptions sent), and after each sensor was read once;");
  console.log("  asked at the console, whose line holds ~10 variables while it runs: the bare interpreter is asked the same way");
  console.log("  layout                   connected: used   free   sensors read: used   free   bare interpreter: used   runtime's own");
  for (const [label, bin] of bins) {
    const r = await runRuntime(bin, writer, exampleConfig(broker.port), "esp8266-nodemcu");
    const z = await runRuntime(bin, writer, undefined, "esp8266-nodemcu");
    const n = (x: number | undefined) => String(x ?? "-").padStart(6);
    const own = r.usageRead !== undefined && z.usage !== undefined ? r.usageRead - z.usage : undefined;
    console.log(`  ${label.padEnd(24)} ${r.error ? r.error : `           ${n(r.usage)} ${n(r.free)}                ${n(r.usageRead)} ${n(r.freeRead)}` +
      `                   ${n(z.usage)}        ${n(own)}`}`);
  }
  console.log("  (Espruino for Linux: no WiFi, and the dht22 read fails for want of the DHT22 module; a board also holds its driver)");
  console.log("  goal: >= 600 free on the 1,600 layout with Home Assistant and remote management on as well");
}

// ---- standalone: the breakdown

const PROBES: [string, string][] = [
  ["usage", "process.memory().usage"],
  ["mote (whole tree)", "E.getSizeOf(mote)"],
  ["mote.c (config)", "E.getSizeOf(mote.c)"],
  ["mote.c.sensors", "E.getSizeOf(mote.c.sensors)"],
  ["mote.c.actuators", "E.getSizeOf(mote.c.actuators)"],
  ["mote.client", "E.getSizeOf(mote.client)"],
  ["mote.errors", "E.getSizeOf(mote.errors)"],
  ["mote keys", "Object.keys(mote).join(' ')"],
  ["client keys", "Object.keys(mote.client).join(' ')"],
  ["modules cached", "JSON.stringify(Modules.getCached())"],
  ["timers", "E.getSizeOf(global['\\xFF'].timers)"],
  ["watches", "E.getSizeOf(global['\\xFF'].watches)"],
  ["root", "E.getSizeOf(global)"],
  ["global keys", "Object.keys(global).join(' ')"],
  ["hidden keys", "Object.keys(global['\\xFF']).join(' ')"],
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
  const { startMosquitto } = await import("../../test/support/mosquitto.js");
  const broker = await startMosquitto();
  try {
    const bins = interpreters();
    for (const [label, bin] of bins) {
      const probes = PROBES.map((p) => p[1]);
      // --modules diag,ha: those feature modules (firmware/mote-<name>.js) in Storage as well.
      const mods = (opt("--modules") || "").split(",").filter((x) => x).map((n): [string, string] =>
        ["mote-" + n, fs.readFileSync(path.join(process.env.BENCH_FIRMWARE || path.join(ROOT, "firmware"), "mote-" + n + ".js"), "latin1")]);
      const r = await runRuntime(bin, bins[0][1], exampleConfig(broker.port, opt("--config")), opt("--board") || "esp8266-nodemcu", probes,
        mods, args.includes("--trace") && label.startsWith("ESP32"));
      console.log(`== ${label}: ${r.error || `used ${r.usage}, free ${r.free} of ${r.total}; after a reading of each sensor used ${r.usageRead}, free ${r.freeRead}`}`);
      PROBES.forEach((p, i) => console.log(`  ${p[0].padEnd(20)} ${r.probes[i]}`));
      if (args.includes("--trace") && label.startsWith("ESP32")) {
        const t = r.output.slice(r.output.lastIndexOf(">trace()"));
        fs.writeFileSync(path.join(os.tmpdir(), "mote-trace.txt"), t);
        console.log(`  trace: ${path.join(os.tmpdir(), "mote-trace.txt")} (${t.split("\n").length} lines)`);
      }
      if (args.includes("--log")) console.log(r.output);
    }
  } finally {
    await broker.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) == path.resolve(process.argv[1])) {
  main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
}
