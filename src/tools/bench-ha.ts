// `npm run bench`, section 5: what Home Assistant discovery costs a board. The runtime (firmware/mote.js
// as .bootcde, its config and the feature modules in Storage, as flash.sh leaves a board) with 4 sensors
// and 2 actuators, with Home Assistant off, on (device mode) and on (per-entity), with and without
// diagnostics: variables free after the announce, on the host simulator (an estimate: it cannot see
// closure scopes) and, with ESPRUINO=..., on the real interpreter booted from its Storage, both layouts;
// and the discovery bytes.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SimBoard, clientParts } from "../host/index.js";
import { writeStorage } from "./espruino-run.js";
import type { MosquittoInstance } from "../../test/support/mosquitto.js";
import { mqttjsClient } from "../../test/support/util.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** 4 sensors + 2 actuators that read on any board (the Linux build has no ADC or DHT22). */
function config(port: number, id: string, ha: any, diag: boolean): any {
  const c: any = {
    mqtt: { host: "127.0.0.1", port, client_id: id }, base: `bench/${id}`,
    sensors: [
      { name: "temp", type: "internal-temperature", every: 5 }, { name: "mem", type: "memory", every: 5 },
      { name: "up", type: "uptime", every: 5 }, { name: "door", type: "digital", pin: "D5", every: 5 },
    ],
    actuators: [{ name: "relay", type: "digital", pin: "D26" }, { name: "fan", type: "pwm", pin: "D25" }],
  };
  if (ha) c.homeassistant = ha;
  if (!diag) c.diag_every = 0;
  return c;
}

const VARIANTS: { label: string; ha: any; diag: boolean }[] = [
  { label: "HA off, diag off", ha: undefined, diag: false },
  { label: "HA off, diag on", ha: undefined, diag: true },
  { label: "HA device mode, diag off", ha: true, diag: false },
  { label: "HA device mode, diag on", ha: true, diag: true },
  { label: "HA per-entity, diag off", ha: { per_entity: true }, diag: false },
  { label: "HA per-entity, diag on", ha: { per_entity: true }, diag: true },
];

/** The Storage files of a board as flash.sh leaves it: boot code, config, feature modules, the client's parts. */
function files(fw: string, cfg: any, dir: string): { name: string; file: string }[] {
  fs.writeFileSync(path.join(dir, "mote.json.src"), JSON.stringify(cfg));
  return [
    { name: ".bootcde", file: path.join(fw, "mote.js") }, { name: "mote.json", file: path.join(dir, "mote.json.src") },
    ...["mote-ha", "mote-ha-announce", "mote-diag"].map((m) => ({ name: m, file: path.join(fw, m + ".js") })),
    // No TLS part: the bench config has no TLS (and the 1,600-variable build none at all), as flash.sh leaves it out.
    ...clientParts(fw).filter((p) => p.name != "mote-mqtt-tls"),
  ];
}

interface Run { free?: number; total?: number; low?: number; before?: number; log: string }

// Typed into the console once connected, before the announce (0.5..2 s later): every write to the client's
// socket then notes process.memory().free right after it (when Espruino holds the bytes just written in
// variables until the tick ends). MINF is the lowest seen, HOOKC what the hook itself costs (measured the same
// way: added back to MINF). The figure is a lower bound of the peak only where a tick writes at most one
// TCP chunk (536 bytes): a longer write is also copied while being sent, after the tick, where no hook sees it.
const HOOK = "var H0=process.memory().free,MINF=1e9,HS;(function(){var c=mote.client,k;for(k in c)if(c[k]&&c[k].write&&c[k].end)HS=c[k];" +
  "var w=HS.write;HS.write=function(d){var r=w.call(HS,d),f=process.memory().free;if(f<MINF)MINF=f;return r;};})();var HOOKC=H0-process.memory().free;";

/** Writes Storage with the large-layout interpreter, boots `bin` from it, reads memory once settled. */
async function realRun(bigBin: string, bin: string, fw: string, cfg: any, ha: boolean, fill = 0, hook = true): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-ha-"));
  try {
    await writeStorage(bigBin, dir, files(fw, cfg, dir));
    // No script and stdin open: the Linux build boots from ./espruino.flash as a board does.
    const p = spawn(bin, [], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => { out += d.toString("latin1"); });
    p.stderr.on("data", (d) => { out += d.toString("latin1"); });
    const t0 = Date.now();
    while (Date.now() - t0 < 12000 && !/connected to/.test(out)) await sleep(20);
    // `fill` variables taken (an array of small integers: one variable each), as a user's code would.
    if (fill) p.stdin.write(`var FILL=[];for(var i=0;i<${fill};i++)FILL.push(0);\n`);
    if (ha) p.stdin.write((hook ? HOOK : "") + 'print("@@BEFORE "+process.memory().free);\n');
    while (Date.now() - t0 < 15000 && !(ha ? /homeassistant: (announced|no room|device config given up)|OUT OF MEMORY|EXITING/ : /connected to/).test(out)) await sleep(100);
    await sleep(1500);
    p.stdin.write('print("@@MEM "+process.memory().free+" "+process.memory().total+" "+(global.HOOKC>0?MINF+HOOKC:-1))\n');
    const t1 = Date.now();
    while (Date.now() - t1 < 3000 && !/@@MEM \d+/.test(out)) await sleep(50);
    p.kill("SIGKILL");
    if (process.env.DBG) console.log(out);
    const m = /@@MEM (\d+) (\d+) (-?\d+)/.exec(out);
    const log = (out.match(/mote: homeassistant: [^\r\n]*|OUT OF MEMORY/g) || []).join("; ");
    const before = /@@BEFORE (\d+)/.exec(out);
    return { free: m ? +m[1] : undefined, total: m ? +m[2] : undefined, low: m && +m[3] >= 0 ? +m[3] : undefined, log,
      before: before ? +before[1] : undefined };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What a run ended with: announced, refused for lack of room (before or during), or out of memory. */
function outcome(r: Run): "announced" | "no room" | "given up" | "OUT OF MEMORY" | "?" {
  return /OUT OF MEMORY/.test(r.log) ? "OUT OF MEMORY" : /given up/.test(r.log) ? "given up" : /no room/.test(r.log) ? "no room" :
    /announced/.test(r.log) ? "announced" : "?";
}

/**
 * The tightest board that announces: the most variables `fill` can take (found by halving) with the
 * announce still done, on the real interpreter. Each run ends announced, refused by the memory check
 * (no room, before starting or before a piece), or out of memory: any run out of memory means the
 * check let an announce start that could not finish. Returns the boundary run (free just before the
 * announce, the lowest free seen at a socket write, free after) and every out-of-memory run.
 */
export async function tightest(bigBin: string, bin: string, fw: string, cfg: () => any): Promise<{ at?: Run & { fill: number }; oom: number[]; runs: number }> {
  let lo = -1, hi = 700, at: (Run & { fill: number }) | undefined, runs = 0;
  const oom: number[] = [];
  while (hi - lo > 4) {
    const fill = lo < 0 ? 0 : Math.round((lo + hi) / 2);
    // Without the low-water hook: at the edge its own allocations would be what runs out.
    const r = await realRun(bigBin, bin, fw, cfg(), true, fill, false);
    runs++;
    const o = outcome(r);
    if (o == "OUT OF MEMORY" || o == "?") oom.push(fill);
    if (o == "announced") { lo = fill; at = { ...r, fill }; } else hi = fill;
    if (lo < 0) break;
  }
  return { at, oom, runs };
}

async function simRun(fw: string, cfg: any, board: string): Promise<Run> {
  const b = new SimBoard({ board, wifi: false, serial: cfg.mqtt.client_id });
  try {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-ha-"));
    for (const f of files(fw, cfg, tmp)) b.storage.writeText(f.name, fs.readFileSync(f.file, "latin1"));
    fs.rmSync(tmp, { recursive: true, force: true });
    b.boot();
    const t0 = Date.now();
    while (Date.now() - t0 < 8000 && !b.logs.some((l) => cfg.homeassistant ? /homeassistant: (announced|no room)/.test(l) : /connected to/.test(l))) await sleep(50);
    await sleep(1500);
    const m = b.memory();
    return { free: m.free, total: m.total, log: b.logs.filter((l) => l.includes("homeassistant")).join("; ") };
  } finally {
    b.close();
  }
}

/** Bytes of the retained discovery (device config, or the sum of the per-entity configs) of `id`. */
async function discoveryBytes(broker: MosquittoInstance, id: string): Promise<number> {
  const c = await mqttjsClient(broker.url);
  let n = 0;
  c.on("message", (t, m, p) => { if (p.retain && t.includes(`/${id}/`)) n += m.length; });
  await c.subscribeAsync(["homeassistant/device/+/config", "homeassistant/+/+/+/config"]);
  await sleep(400);
  await c.endAsync();
  return n;
}

export async function sectionHomeAssistant(broker: MosquittoInstance | undefined, fw: string, bin?: string, bin1600?: string): Promise<void> {
  console.log("\n== 5. Home Assistant discovery: variables free after the announce (4 sensors + 2 actuators) ==");
  if (!broker) { console.log("  skipped: no broker"); return; }
  const cols: [string, (v: typeof VARIANTS[0], i: number) => Promise<string>][] = [];
  let seq = 0;
  const id = () => `bha${process.pid}x${++seq}`;
  const show = (r: Run) => (r.free === undefined ? "-" : `${r.free}/${r.total}`) + (r.low !== undefined ? `, low ${r.low}` : "") + (/no room|OUT OF MEMORY/.test(r.log) ? ` (${r.log.replace(/mote: homeassistant: /g, "")})` : "");
  cols.push(["simulator esp32 (estimate)", async (v) => show(await simRun(fw, config(broker.port, id(), v.ha, v.diag), "esp32-devkitc"))]);
  cols.push(["simulator esp8266 (estimate)", async (v) => show(await simRun(fw, config(broker.port, id(), v.ha, v.diag), "esp8266-nodemcu"))]);
  if (bin) cols.push([`real ${path.basename(bin)}, Storage`, async (v) => show(await realRun(bin, bin, fw, config(broker.port, id(), v.ha, v.diag), !!v.ha))]);
  else console.log("  real interpreter: skipped (no ESPRUINO)");
  if (bin && bin1600) cols.push([`real ${path.basename(bin1600)}, Storage`, async (v) => {
    const i = id();
    const r = show(await realRun(bin, bin1600, fw, config(broker.port, i, v.ha, v.diag), !!v.ha));
    return v.ha ? `${r}, ${await discoveryBytes(broker, i)} B` : r;
  }]);
  console.log("  variant".padEnd(28) + cols.map(([h]) => h.padEnd(34)).join(""));
  for (const v of VARIANTS) {
    const cells: string[] = [];
    for (const [, f] of cols) {
      try { cells.push(await f(v, 0)); } catch (e) { cells.push("error: " + (e as Error).message.split("\n")[0]); }
    }
    console.log("  " + v.label.padEnd(26) + cells.map((c) => c.padEnd(34)).join(""));
  }
  console.log("  free/total variables once settled; 'low': the fewest free at a write to the socket during the announce (real");
  console.log("  interpreter); the last column adds the retained discovery bytes (device config, or all per-entity configs).");
  console.log("  'no room': the announce was not started (or a config not written) for lack of memory.");
  // BENCH_HA_TIGHT=1: the tightest 1,600-variable board that still announces (a few minutes).
  if (!(bin && bin1600 && process.env.BENCH_HA_TIGHT)) return;
  console.log(`\n  tightest ${path.basename(bin1600)} board that announces (variables taken by an array, found by halving; with`);
  console.log("  about 140 free the client itself runs out loading a part for a SUBACK, before any announce):");
  for (const v of VARIANTS.filter((x) => x.ha)) {
    const r = await tightest(bin, bin1600, fw, () => config(broker.port, id(), v.ha, v.diag));
    console.log("  " + v.label.padEnd(26) + (r.at ? `${r.at.before} free before the announce still announces` : "never announces") +
      `; out of memory (anywhere) in ${r.oom.length ? "the runs with " + r.oom.join(", ") + " taken" : "none"} of ${r.runs} runs`);
  }
}
