// `npm run bench`, battery section (issue 14): deep-sleep cycles of the device runtime in the host
// simulator against Mosquitto, and the variables the sleep and user-code features cost.
//   - awake time per cycle beyond WiFi join and TCP connect (wake -> deep sleep, minus the simulated
//     WiFi join and the TCP connect as the simulator saw them), goal <= 300 ms
//   - bytes on the wire per cycle (both ways, from the simulator's socket counters) against the MQTT
//     minimum for the same messages: CONNECT (same client id, will, keep-alive) + CONNACK + each PUBLISH
//     the board sent, with its PUBACK at QoS 1 + DISCONNECT; goal <= 1.2x
//   - flash writes per cycle (Storage.write calls that wrote bytes, erases among them, bytes)
//   - variables (process.memory().usage) with sleep / user code off and on: in the simulator (an
//     estimate), and with ESPRUINO_1600 (or espruino-1600 next to ESPRUINO, or /work/espruino-bin) from
//     Storage on the real interpreter, after start.
// Cycles are woken by the bench (board.wake()), so each one starts when the previous one is complete.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { SimBoard } from "../host/index.js";
import type { MosquittoInstance } from "../../test/support/mosquitto.js";
import { mqttjsClient } from "../../test/support/util.js";
import { compactBoard } from "../device/config.js";
import { ROOT, loadBoard } from "./config-check.js";
import { runEspruino } from "./espruino-run.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const CYCLES = Number(process.env.BENCH_CYCLES) || 8;
const USER = `mote.sensor({ name: "extra", every: 30, deadband: 0.5, read: function () { return 20 + Math.random(); } });\n`;

function cfgFor(port: number, base: string, opts: { sleep?: boolean; wifi?: boolean } = {}): any {
  const c: any = {
    mqtt: { host: "127.0.0.1", port, keep_alive: 60 }, base,
    sensors: [{ name: "level", type: "analog", pin: "D34", every: 30, deadband: 0.02 }, { name: "up", type: "uptime", every: 30, heartbeat: 1 }],
    actuators: [{ name: "relay", type: "digital", pin: "D26" }],
  };
  if (opts.wifi !== false) c.wifi = { ssid: "bench", password: "pw" };
  if (opts.sleep) c.sleep = { every: 300, awake: 10 };
  return c;
}

function simBoard(cfg: any, user: boolean, log?: (l: string) => void, trace?: (l: string) => void): SimBoard {
  const b = new SimBoard({ board: "esp32-devkitc", serial: "bench-" + Math.random().toString(16).slice(2, 8), log, trace });
  b.storage.writeText("mote.json", JSON.stringify(cfg));
  b.storage.writeText("mote.board", JSON.stringify(compactBoard(loadBoard("esp32-devkitc"))));
  for (const f of ["mote-sleep", "mote-script"]) b.storage.writeText(f, fs.readFileSync(path.join(ROOT, "firmware", f + ".js"), "utf8"));
  if (user) b.storage.writeText("mote-user.js", USER);
  b.flash(fs.readFileSync(path.join(ROOT, "firmware/mote.js"), "utf8"));
  return b;
}

// Sizes of MQTT packets, as the minimum encoding of the same content.
function rl(n: number): number { return n < 128 ? 1 : n < 16384 ? 2 : 3; }
function publishSize(topic: string, payload: string, qos: number): number {
  const n = 2 + Buffer.byteLength(topic) + (qos ? 2 : 0) + Buffer.byteLength(payload, "latin1");
  return 1 + rl(n) + n;
}
function connectSize(clientId: string, willTopic: string, willMsg: string): number {
  const n = 10 + 2 + Buffer.byteLength(clientId) + 2 + Buffer.byteLength(willTopic) + 2 + Buffer.byteLength(willMsg);
  return 1 + rl(n) + n;
}

interface Cycle { awake: number; wifi: number; tcp: number; beyond: number; bytes: number; min: number; writes: number; erases: number; flashBytes: number }

async function cycles(broker: MosquittoInstance): Promise<Cycle[]> {
  const base = "bench/battery/" + process.pid;
  const cfg = cfgFor(broker.port, base, { sleep: true });
  const marks: { t: number; what: string }[] = [];
  const mark = (what: string) => marks.push({ t: performance.now(), what });
  const board = simBoard(cfg, false, (l) => { if (l.includes("wifi: joined")) mark("joined"); }, (l) => {
    if (l.startsWith("wifi: connect")) mark("wifi");
    else if (/^socket \d+: connecting/.test(l)) mark("tcp");
    else if (/^socket \d+: connected/.test(l)) mark("tcpup");
    else if (l.startsWith("deep sleep")) mark("sleep");
  });
  const seen: { topic: string; payload: string; at: number }[] = [];
  const watcher: MqttClient = await mqttjsClient(broker.url);
  watcher.on("message", (topic, m) => seen.push({ topic, payload: m.toString("latin1"), at: performance.now() }));
  await watcher.subscribeAsync(base + "/#", { qos: 1 });
  const out: Cycle[] = [];
  try {
    board.pins.setAnalog("D34", 0.5);
    for (let i = 0; i <= CYCLES; i++) {
      const w0 = { ...board.storage.wear }, t0 = { ...board.traffic }, m0 = marks.length, s0 = seen.length;
      const start = performance.now();
      if (i == 0) board.boot(); else board.wake();
      const deadline = Date.now() + 15000;
      while (board.sleeps <= i && Date.now() < deadline) await sleep(2);
      if (board.sleeps <= i) throw new Error(`cycle ${i} did not end: ${board.logs.slice(-5).join(" | ")}`);
      await sleep(150); // the watcher's copies of this cycle's messages
      // Every few cycles the level moves: a reading to publish besides the heartbeat ones.
      board.pins.setAnalog("D34", i % 3 == 2 ? 0.3 + 0.1 * (i % 5) : 0.5 + 0.1 * ((i / 3) % 2));
      if (i == 0) continue; // power-on: subscriptions and retained states, not the steady state
      const m = marks.slice(m0), at = (w: string) => m.find((x) => x.what == w)?.t ?? NaN;
      const awake = at("sleep") - start, wifi = at("joined") - at("wifi"), tcp = at("tcpup") - at("tcp");
      const msgs = seen.slice(s0);
      let min = connectSize(board.serial, cfg.base + "/status", "offline") + 4 + 2;
      for (const x of msgs) {
        const qos = x.topic.endsWith("/status") || x.topic.endsWith("/relay") ? 1 : 0;
        min += publishSize(x.topic, x.payload, qos) + (qos ? 4 : 0);
      }
      const wear = board.storage.wear;
      out.push({
        awake, wifi, tcp, beyond: awake - wifi - tcp,
        bytes: board.traffic.sent - t0.sent + board.traffic.received - t0.received, min,
        writes: wear.writes - w0.writes, erases: wear.erases - w0.erases, flashBytes: wear.bytes - w0.bytes,
      });
    }
  } finally {
    board.close();
    await watcher.endAsync();
  }
  return out;
}

/** Most variables in use while the simulated board is awake and connected (polled). */
async function simVars(broker: MosquittoInstance, sleepOn: boolean, user: boolean): Promise<number> {
  const board = simBoard(cfgFor(broker.port, `bench/vars/${process.pid}/${+sleepOn}${+user}`, { sleep: sleepOn }), user);
  let max = 0;
  try {
    board.boot();
    const end = Date.now() + 2500;
    while (Date.now() < end && !board.asleep) {
      if (!board.closed && board.json("typeof mote == 'object' && mote.up")) max = Math.max(max, board.memory().usage);
      await sleep(10);
    }
  } finally {
    board.close();
  }
  return max;
}

function espBin(): string | undefined {
  const c = [process.env.ESPRUINO_1600, process.env.ESPRUINO && path.join(path.dirname(process.env.ESPRUINO), "espruino-1600"),
    "/work/espruino-bin/espruino-1600"];
  return c.find((p) => p && fs.existsSync(p)) as string | undefined;
}

/** The runtime from Storage on the real 1600-variable interpreter: process.memory().usage 2 s after start. */
async function espVars(bin: string, broker: MosquittoInstance, sleepOn: boolean, user: boolean): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-battery-"));
  try {
    const files: [string, string][] = [
      ["mote.json", JSON.stringify(cfgFor(broker.port, `bench/esp/${process.pid}`, { sleep: sleepOn, wifi: false }))],
      ["mote-sleep", fs.readFileSync(path.join(ROOT, "firmware/mote-sleep.js"), "latin1")],
      ["mote-script", fs.readFileSync(path.join(ROOT, "firmware/mote-script.js"), "latin1")],
      [".boot0", `E.on("init", function () { setTimeout(function () { print("@@MEM " + process.memory().usage); }, 2000); });`],
      [".bootcde", fs.readFileSync(path.join(ROOT, "firmware/mote.js"), "latin1")],
    ];
    if (user) files.push(["mote-user.js", USER]);
    // The files' chunks as string literals (neither Linux build has an fs module), written at their
    // offsets into files created at full size, as a board receiving them would.
    const writer = files.map(([n, d]) => {
      const parts: string[] = [];
      for (let o = 0; o < d.length; o += 512) parts.push(`S.write(${JSON.stringify(n)},${JSON.stringify(d.substr(o, 512))},${o},${d.length});`);
      return parts.join("\n");
    }).join("\n");
    const script = `var S=require("Storage");\n${writer}\nprint("@@WROTE");\n`;
    let wrote = false;
    // The 1600-variable build has no fs module: the full build writes (both share the flash layout).
    const full = process.env.ESPRUINO || path.join(path.dirname(bin), "espruino");
    const w = runEspruino(fs.existsSync(full) ? full : bin, dir, "write.js", script, (t) => { if (t.startsWith("WROTE")) wrote = true; });
    const k = setTimeout(w.kill, 15000);
    await w.exited; clearTimeout(k); w.proc.stdin!.destroy();
    if (!wrote) return "could not write Storage: " + w.output().trim().split("\n").slice(-2).join(" | ");
    // No script: boots from ./espruino.flash as a board does.
    let mem = "";
    const { spawn } = await import("node:child_process");
    const p = spawn(bin, [], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    let outText = "";
    p.stdout!.on("data", (d: Buffer) => {
      outText += d.toString("latin1");
      const m = /@@MEM (\d+)/.exec(outText);
      if (m) mem = m[1];
    });
    const deadline = Date.now() + 8000;
    while (!mem && Date.now() < deadline && p.exitCode === null) await sleep(50);
    p.kill("SIGKILL");
    return mem || "no figure: " + outText.trim().split("\n").slice(-2).join(" | ");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const f0 = (n: number) => Math.round(n).toLocaleString("en-US");

export async function sectionBattery(broker: MosquittoInstance | undefined): Promise<void> {
  console.log("\n## Battery boards and user code (issue 14): simulator, esp32-devkitc, Mosquitto");
  if (!broker) { console.log("  skipped: no Mosquitto"); return; }
  const cs = await cycles(broker);
  console.log(`  ${cs.length} sleep cycles after power-on (sleep every 300 s, analog + uptime sensors, one relay), per cycle:`);
  console.log("  cycle  awake ms  WiFi join  TCP connect  beyond  bytes  MQTT min  ratio  flash writes (erases, bytes)");
  cs.forEach((c, i) => console.log(`  ${String(i + 1).padStart(5)}  ${f0(c.awake).padStart(8)}  ${f0(c.wifi).padStart(9)}  ${f0(c.tcp).padStart(11)}  ${f0(c.beyond).padStart(6)}` +
    `  ${String(c.bytes).padStart(5)}  ${String(c.min).padStart(8)}  ${(c.bytes / c.min).toFixed(2).padStart(5)}  ${c.writes} (${c.erases}, ${c.flashBytes} B)`));
  const beyond = med(cs.map((c) => c.beyond)), ratio = med(cs.map((c) => c.bytes / c.min));
  console.log(`  median: awake beyond WiFi join and TCP connect ${f0(beyond)} ms (goal <= 300); bytes ${(ratio).toFixed(2)}x the MQTT minimum (goal <= 1.2);` +
    ` flash: ${med(cs.map((c) => c.writes))} write(s) of ~${med(cs.map((c) => c.flashBytes))} bytes per cycle, an erase every ~${Math.floor(4096 / Math.max(1, med(cs.map((c) => c.flashBytes))))} cycles` +
    " (no RTC memory for JavaScript on either build: goal 0 not reachable)");
  console.log("  variables in use (process.memory().usage) with the same config:");
  const rows: [string, boolean, boolean][] = [["plain", false, false], ["+ sleep", true, false], ["+ user code (1 sensor)", false, true], ["+ both", true, true]];
  const bin = espBin();
  for (const [label, s, u] of rows) {
    const sim = await simVars(broker, s, u);
    const esp = bin ? await espVars(bin, broker, s, u) : "-";
    console.log(`    ${label.padEnd(24)} simulator ~${sim}   ${bin ? `espruino-1600 from Storage (no WiFi): ${esp}` : ""}`);
  }
  if (!bin) console.log("    (no espruino-1600: set ESPRUINO_1600 for the real interpreter)");
}
