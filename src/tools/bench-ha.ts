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
import { SimBoard } from "../host/index.js";
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
  { label: "HA per-entity, diag on", ha: { per_entity: true }, diag: true },
];

function files(fw: string, cfg: any): Record<string, string> {
  const r: Record<string, string> = { ".bootcde": fs.readFileSync(path.join(fw, "mote.js"), "latin1"), "mote.json": JSON.stringify(cfg) };
  for (const m of ["mote-ha", "mote-ha-announce", "mote-diag"]) r[m] = fs.readFileSync(path.join(fw, m + ".js"), "latin1");
  return r;
}

interface Run { free?: number; total?: number; log: string }

/** Writes Storage with the large-layout interpreter, boots `bin` from it, reads memory once settled. */
async function realRun(bigBin: string, bin: string, fw: string, cfg: any, ha: boolean): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-ha-"));
  try {
    let w = "var S=require(\"Storage\");\n";
    for (const [n, t] of Object.entries(files(fw, cfg))) w += `S.write(${JSON.stringify(n)},${JSON.stringify(t)});\n`;
    w += 'print("@@WROTE");\n';
    fs.writeFileSync(path.join(dir, "write.js"), w);
    await new Promise<void>((resolve) => {
      const p = spawn(bigBin, ["write.js"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
      const t = setTimeout(() => p.kill("SIGKILL"), 10000);
      p.stdout.on("data", (d) => { if (String(d).includes("@@WROTE")) { clearTimeout(t); p.kill("SIGKILL"); } });
      p.on("exit", () => resolve());
    });
    // No script and stdin open: the Linux build boots from ./espruino.flash as a board does.
    const p = spawn(bin, [], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => { out += d.toString("latin1"); });
    p.stderr.on("data", (d) => { out += d.toString("latin1"); });
    const t0 = Date.now();
    while (Date.now() - t0 < 12000 && !(ha ? /homeassistant: (announced|no room)/ : /connected to/).test(out)) await sleep(100);
    await sleep(1500);
    p.stdin.write('print("@@MEM "+process.memory().free+" "+process.memory().total)\n');
    const t1 = Date.now();
    while (Date.now() - t1 < 3000 && !/@@MEM \d+/.test(out)) await sleep(50);
    p.kill("SIGKILL");
    const m = /@@MEM (\d+) (\d+)/.exec(out);
    const log = (out.match(/mote: homeassistant: [^\r\n]*|OUT OF MEMORY/g) || []).join("; ");
    return { free: m ? +m[1] : undefined, total: m ? +m[2] : undefined, log };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function simRun(fw: string, cfg: any, board: string): Promise<Run> {
  const b = new SimBoard({ board, wifi: false, serial: cfg.mqtt.client_id });
  try {
    for (const [n, t] of Object.entries(files(fw, cfg))) b.storage.writeText(n, t);
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
  const show = (r: Run) => (r.free === undefined ? "-" : `${r.free}/${r.total}`) + (/no room|OUT OF MEMORY/.test(r.log) ? ` (${r.log.replace(/mote: homeassistant: /g, "")})` : "");
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
  console.log("  free/total variables once settled; the last column adds the retained discovery bytes (device config,");
  console.log("  or all per-entity configs). 'no room': the device config was not started for lack of memory.");
}
