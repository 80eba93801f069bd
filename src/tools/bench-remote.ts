// Remote management measured as a board runs it (issue 10): `npm run bench` (section remote) prints the
// figures, `npm run remote-check` runs the same and checks the goals. One implementation for both.
//
// A board: the Storage layout flash.sh writes (boot guard, runtime in mote.a, the client's parts,
// mote-info, mote-diag, mote-ha*, mote-remote*), a config with 4 sensors, 2 actuators, Home Assistant,
// the diagnostics and remote management, the board file of the Linux build (no WiFi). The host is the
// library of `mote config` / `mote ota` (src/tools/mote/remote.ts), as a user runs it.
//   - Simulator (esp8266-nodemcu, firmware/mote.js in the host simulator): OTA rate, and the peak of its
//     variable estimate during the transfer above idle (src/host/memory.ts: an estimate that does not see
//     closure scopes).
//   - Real interpreter (ESPRUINO: 16,383 variables; ESPRUINO_1600 or espruino-1600 next to it): booted
//     from ./espruino.flash with no script, as a board boots; E.reboot() ends the process and it is
//     started again (the board's reset). Variables: a sampler typed at the console checks
//     process.memory().usage every 5 ms (between events, where the board's memory settles) and prints
//     each new maximum and minimum: idle is the lowest over a quiet 1.5 s after connect and a first
//     config_get (the client keeps its handler part loaded once a message came), the peak the highest
//     from the command to the restart. An update's rate is the image's bytes over the time from
//     ota_begin to its last chunk acknowledged; a config change is timed until the board is back
//     online on it. Also, on the 1,600 layout: the variables free with everything on, and what remote
//     management costs (the same config without it).
//   - Reference: the `espruino` command-line tool (npm espruino, a devDependency) uploading the same
//     bundle into Storage over TCP to the same interpreter started with --telnet (port 2323), timed
//     from its "Connected" to its "Upload Complete", the file checked by its SHA-1 afterwards.
// BENCH_FIRMWARE=DIR measures another build's firmware/ folder (before/after).
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import type { MosquittoInstance } from "../../test/support/mosquitto.js";
import { SimBoard } from "../host/index.js";
import { flashLayout } from "../host/flash-layout.js";
import { ROOT } from "./config-check.js";
import { writeStorage } from "./espruino-run.js";
import { Remote } from "./mote/remote.js";

export const KEY = "bench-remote-key-0123456789";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// BENCH_FIRMWARE=DIR: another build's firmware/ folder (before/after comparisons, as bench-runtime.ts).
const FW = process.env.BENCH_FIRMWARE || path.join(ROOT, "firmware");
const BUNDLE = path.join(FW, "mote.js");
/** The Linux build's board file: no WiFi, three pins for the actuators. */
const LINUX_BOARD = { id: "linux", pins: "D2:dp D4:dp D5:dp", wifi: false };

export interface OtaFigures { bytes: number; ms: number; rate: number; idle: number; peak: number; extra: number; oom: boolean }
export interface ConfigFigures { ms: number; idle: number; peak: number; extra: number; oom: boolean }
export interface LayoutFigures {
  label: string; bin: string; small: boolean;
  ota?: OtaFigures; otaError?: string;
  config?: ConfigFigures; configError?: string;
  /** 1,600 layout: variables in use with everything on, and without remote management; free with everything on. */
  idle?: { withRemote: number; withoutRemote: number; free: number };
  telnet?: { ms: number; rate: number }; telnetError?: string;
}
export interface RemoteFigures { sim?: { rate: number; ms: number; extra: number; idle: number }; simError?: string; layouts: LayoutFigures[] }

/** The config measured: 4 sensors, 2 actuators (D2, D4 of the Linux board file), Home Assistant, diagnostics, remote. */
export function benchConfig(port: number, id: string): any {
  return {
    wifi: { ssid: "bench", password: "bench-password" },
    mqtt: { host: "127.0.0.1", port, keep_alive: 10, client_id: id }, base: "bench/" + id,
    sensors: [{ name: "mem", type: "memory", every: 5 }, { name: "up", type: "uptime", every: 5 },
      { name: "temp", type: "internal-temperature", every: 5 }, { name: "sig", type: "rssi", every: 30 }],
    actuators: [{ name: "relay", type: "digital", pin: "D2" }, { name: "fan", type: "pwm", pin: "D4" }],
    homeassistant: true, diag_every: 300, remote: { key: KEY, confirm: 30 },
  };
}

/** The running bundle, and the same with another version (another hash) to update to. */
function images(): { a: Buffer; b: Buffer } {
  const a = fs.readFileSync(BUNDLE, "latin1");
  return { a: Buffer.from(a, "latin1"), b: Buffer.from(a.replace('v:"0.1.0"', 'v:"0.2.0"'), "latin1") };
}

// ---------------------------------------------------------------- the real interpreter

/**
 * A board: the interpreter booting from cwd's Storage, started again whenever it exits (E.reboot()).
 * sampler() types the memory sampler at its console (once per boot); mark() starts a new window of
 * minima and maxima.
 */
export class EspBoard {
  proc?: ChildProcess;
  out = "";
  boots = 0;
  /** Where the output of the current boot starts in `out`. */
  bootAt = 0;
  private lo = Infinity;
  private hi = 0;
  private stopped = false;
  private partial = "";
  constructor(readonly bin: string, readonly cwd: string) {}
  start() {
    this.boots++;
    this.bootAt = this.out.length;
    const p = this.proc = spawn(this.bin, [], { cwd: this.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const feed = (d: Buffer) => {
      const s = d.toString("latin1");
      if (this.out.length < 4e6) this.out += s;
      this.partial += s;
      const lines = this.partial.split(/\r?\n/);
      this.partial = lines.pop() ?? "";
      for (const l of lines) {
        const m = /@@(hi|lo) (\d+)/.exec(l);
        if (m && m[1] == "hi") this.hi = Math.max(this.hi, +m[2]);
        if (m && m[1] == "lo") this.lo = Math.min(this.lo, +m[2]);
      }
    };
    p.stdout!.on("data", feed);
    p.stderr!.on("data", feed);
    p.stdin!.on("error", () => {}); // it may end while a line is on its way
    p.once("exit", () => { if (!this.stopped && this.proc === p) setTimeout(() => this.start(), 50); });
  }
  /** Types a line at the console, the console's history cleared first (it would keep the line in variables). */
  type(line: string) { if (this.proc?.exitCode === null) this.proc.stdin!.write(`global["\\xFF"].history=[];${line}\n`); }
  /** The sampler: every 5 ms, between events; prints each new highest and lowest usage since mark(). */
  sampler() {
    this.type('var MX=0,MN=1e9;setInterval(function(){var u=process.memory().usage;if(u>MX){MX=u;print("@@hi "+u);}if(u<MN){MN=u;print("@@lo "+u);}},5);');
  }
  mark() { this.lo = Infinity; this.hi = 0; this.type("MX=0;MN=1e9;"); }
  window() { return { lo: this.lo, hi: this.hi }; }
  /** The lowest usage over a quiet `ms`: the idle figure. */
  async idle(ms = 1500): Promise<number> {
    this.mark();
    await sleep(ms);
    if (!isFinite(this.lo)) throw new Error("no memory figures from the console: " + this.out.slice(-400));
    return this.lo;
  }
  oom(from = 0) { return /OUT OF MEMORY/.test(this.out.slice(from)); }
  async stop() {
    this.stopped = true;
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) { p.kill("SIGKILL"); await new Promise((r) => p.once("exit", r)); }
  }
}

/** Writes the files (name -> text) into cwd's Storage with `writer` (the 16,383 build: the small one cannot hold the pieces). */
async function flashFiles(writer: string, cwd: string, files: Record<string, string>) {
  const dir = fs.mkdtempSync(path.join(cwd, "files-"));
  const list = Object.entries(files).map(([name, text], i) => {
    const file = path.join(dir, String(i));
    fs.writeFileSync(file, text, "latin1");
    return { name, file };
  });
  await writeStorage(writer, cwd, list);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Boots a board on `cfg` (and `extra` files) and opens the host library on it. */
export async function bootEspBoard(bin: string, writer: string, cwd: string, broker: MosquittoInstance, cfg: any, extra: Record<string, string> = {}) {
  await flashFiles(writer, cwd, { ...flashLayout("esp8266-nodemcu", cfg, { dir: FW }), "mote.board": JSON.stringify(LINUX_BOARD), ...extra });
  const board = new EspBoard(bin, cwd);
  board.start();
  try {
    const remote = await Remote.open({ url: broker.url }, cfg.mqtt.client_id, KEY, { base: cfg.base, findTimeout: 20000 });
    return { board, remote };
  } catch (e) {
    await board.stop();
    throw new Error(`${(e as Error).message}; the board said: ${board.out.slice(-300)}`);
  }
}

/** The board settled (Home Assistant's announce done), the sampler on, one config_get: then the idle figure. */
async function settle(board: EspBoard, remote: Remote): Promise<number> {
  for (let i = 0; i < 100 && !board.out.slice(board.bootAt).includes("homeassistant: announced"); i++) await sleep(100);
  await sleep(1000);
  board.sampler();
  await remote.getConfig();
  return board.idle();
}

/** An update of the board on `bin` (4 + 2, HA, diag, remote), then a config change: their figures. */
async function measureLayout(label: string, bin: string, small: boolean, writer: string, broker: MosquittoInstance, n: number): Promise<LayoutFigures> {
  const r: LayoutFigures = { label, bin, small };
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-remote-"));
  const cfg = benchConfig(broker.port, `r${process.pid}-${n}`);
  const b = images().b;
  let board: EspBoard | undefined, remote: Remote | undefined;
  try {
    ({ board, remote } = await bootEspBoard(bin, writer, cwd, broker, cfg));
    try {
      const idle = await settle(board, remote), from = board.out.length;
      board.mark();
      const res = await remote.ota(b, { timeout: 60000 });
      const w = board.window();
      r.ota = { bytes: res.bytes, ms: Math.round(res.ms), rate: Math.round(res.rate), idle, peak: w.hi, extra: w.hi - idle, oom: board.oom(from) };
    } catch (e) {
      r.otaError = (e as Error).message + (board.oom() ? " (OUT OF MEMORY on the board)" : "");
    }
    try {
      const idle = await settle(board, remote), from = board.out.length;
      const c = await remote.getConfig();
      c.sensors[1].every = 7;
      board.mark();
      const res = await remote.pushConfig(c, { timeout: 60000 });
      const w = board.window();
      r.config = { ms: res.ms, idle, peak: w.hi, extra: w.hi - idle, oom: board.oom(from) };
    } catch (e) {
      r.configError = (e as Error).message + (board.oom() ? " (OUT OF MEMORY on the board)" : "");
    }
  } catch (e) {
    r.otaError = r.configError = (e as Error).message;
  } finally {
    await remote?.close();
    await board?.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
  return r;
}

/** Variables in use once settled with `cfg` (idle as above), and the total. */
async function idleWith(bin: string, writer: string, broker: MosquittoInstance, cfg: any): Promise<{ usage: number; total: number }> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-remote-"));
  let board: EspBoard | undefined;
  try {
    await flashFiles(writer, cwd, { ...flashLayout("esp8266-nodemcu", cfg, { dir: FW }), "mote.board": JSON.stringify(LINUX_BOARD) });
    board = new EspBoard(bin, cwd);
    board.start();
    await sleep(4000);
    board.sampler();
    const usage = await board.idle();
    board.type('print("@@total "+process.memory().total)');
    await sleep(300);
    const total = +(/@@total (\d+)/.exec(board.out)?.[1] ?? 0);
    return { usage, total };
  } finally {
    await board?.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

async function portBusy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

/** Asks the console behind telnet for an expression's value (one line). */
async function telnetAsk(expr: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const s = net.connect(2323, "127.0.0.1", () => s.write(`print("@@"+(${expr}))\n`));
    const t = setTimeout(() => { s.destroy(); reject(new Error("no answer over telnet")); }, 5000);
    s.on("data", (d) => {
      out += d.toString("latin1");
      const m = /\n@@([^\r\n]*)\r?\n/.exec(out);
      if (m) { clearTimeout(t); s.destroy(); resolve(m[1]); }
    });
    s.on("error", (e) => { clearTimeout(t); reject(e); });
  });
}

/** The espruino tool's upload of the bundle into Storage (as mote.b) over telnet, to `bin` started with --telnet. */
export async function telnetUpload(bin: string): Promise<{ ms: number; rate: number }> {
  if (await portBusy(2323)) throw new Error("port 2323 is in use (another interpreter with --telnet?)");
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-bench-telnet-"));
  // stdin: a pipe kept open (a closed stdin makes the Linux console spin reading NULs).
  const board = spawn(bin, ["--telnet"], { cwd, stdio: ["pipe", "ignore", "ignore"] });
  let tool: ChildProcess | undefined;
  try {
    for (let i = 0; !(await portBusy(2323)); i++) {
      if (i > 50 || board.exitCode !== null) throw new Error("the interpreter did not listen on port 2323");
      await sleep(100);
    }
    const size = fs.statSync(BUNDLE).size;
    // The tool leaves when its stdin ends: a pipe kept open until it says the upload is complete.
    tool = spawn(process.execPath, [path.join(ROOT, "node_modules/espruino/bin/espruino-cli.js"), "--no-ble",
      "-p", "tcp://127.0.0.1:2323", "--storage", "mote.b:" + BUNDLE], { cwd, stdio: ["pipe", "pipe", "pipe"] });
    let out = "", t0 = 0, t1 = 0;
    const done = new Promise<void>((resolve, reject) => {
      const feed = (d: Buffer) => {
        out += d.toString("latin1");
        if (!t0 && out.includes("Connected")) t0 = Date.now();
        if (!t1 && out.includes("Upload Complete")) { t1 = Date.now(); resolve(); }
      };
      tool!.stdout!.on("data", feed);
      tool!.stderr!.on("data", feed);
      tool!.once("exit", () => reject(new Error("the espruino tool ended before its upload was complete: " + out.slice(-300))));
    });
    await Promise.race([done, sleep(180000).then(() => { throw new Error("the espruino tool's upload took over 3 minutes"); })]);
    // The console takes one telnet client at a time: the tool goes first.
    tool.kill("SIGKILL");
    await sleep(500);
    const sha = await telnetAsk('[].map.call(new Uint8Array(require("crypto").SHA1(require("Storage").read("mote.b")||"")),function(b){return (256+b).toString(16).substr(1);}).join("")');
    if (sha != createHash("sha1").update(fs.readFileSync(BUNDLE)).digest("hex")) throw new Error(`the file the espruino tool wrote is not the bundle (SHA-1 ${sha})`);
    const ms = t1 - t0;
    return { ms, rate: Math.round(size / ms * 1000) };
  } finally {
    if (tool && tool.exitCode === null) tool.kill("SIGKILL");
    board.kill("SIGKILL");
    await new Promise((r) => board.exitCode !== null || board.signalCode !== null ? r(0) : board.once("exit", r));
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the simulator

/** An update in the host simulator (esp8266-nodemcu), its memory estimate sampled every 2 ms. */
async function measureSim(broker: MosquittoInstance): Promise<NonNullable<RemoteFigures["sim"]>> {
  const cfg = benchConfig(broker.port, "sim" + process.pid);
  const board = new SimBoard({ board: "esp8266-nodemcu", serial: "bench-remote" });
  let remote: Remote | undefined, t: NodeJS.Timeout | undefined;
  try {
    for (const [name, text] of Object.entries(flashLayout("esp8266-nodemcu", cfg, { dir: FW }))) board.storage.write(name, Buffer.from(text, "latin1"));
    board.boot();
    remote = await Remote.open({ url: broker.url }, cfg.mqtt.client_id, KEY, { base: cfg.base, findTimeout: 20000 });
    await sleep(1500);
    await remote.getConfig();
    await sleep(500);
    const idle = board.memory().usage;
    let peak = 0;
    t = setInterval(() => { try { peak = Math.max(peak, board.memory().usage); } catch { /* rebooting */ } }, 2);
    const res = await remote.ota(images().b, { timeout: 60000 });
    return { rate: Math.round(res.rate), ms: Math.round(res.ms), idle, extra: peak - idle };
  } finally {
    if (t) clearInterval(t);
    await remote?.close();
    board.close();
  }
}

// ---------------------------------------------------------------- both, and the section

/** The interpreters: [label, path, small] for ESPRUINO (16,383) and ESPRUINO_1600 / espruino-1600 next to it. */
export function remoteInterpreters(): { label: string; bin: string; small: boolean }[] {
  const big = process.env.ESPRUINO;
  const l: { label: string; bin: string; small: boolean }[] = [];
  if (!big || !fs.existsSync(big)) return l;
  const small = process.env.ESPRUINO_1600 || path.join(path.dirname(big), "espruino-1600");
  if (fs.existsSync(small)) l.push({ label: "1,600 (ESP8266)", bin: small, small: true });
  l.push({ label: "16,383 (ESP32)", bin: big, small: false });
  return l;
}

/** Every figure above; `log` says what is being measured. */
export async function measureRemote(broker: MosquittoInstance, log: (s: string) => void = () => {}): Promise<RemoteFigures> {
  const f: RemoteFigures = { layouts: [] };
  log("simulator: an update...");
  try { f.sim = await measureSim(broker); } catch (e) { f.simError = (e as Error).message; }
  const bins = remoteInterpreters();
  const writer = bins.find((b) => !b.small)?.bin;
  let n = 0;
  for (const { label, bin, small } of bins) {
    log(`${label}: an update and a config change over MQTT...`);
    const r = await measureLayout(label, bin, small, writer!, broker, ++n);
    if (small) {
      log(`${label}: idle, with and without remote management...`);
      const cfg = benchConfig(broker.port, `i${process.pid}`);
      try {
        const on = await idleWith(bin, writer!, broker, cfg);
        const off = await idleWith(bin, writer!, broker, { ...cfg, remote: undefined });
        r.idle = { withRemote: on.usage, withoutRemote: off.usage, free: on.total - on.usage };
      } catch (e) { /* shown as "-" */ }
    }
    log(`${label}: the espruino tool's upload over telnet...`);
    try { r.telnet = await telnetUpload(bin); } catch (e) { r.telnetError = (e as Error).message; }
    f.layouts.push(r);
  }
  return f;
}

const num = (x: number | undefined) => (x === undefined ? "-" : Math.round(x).toLocaleString("en-US"));

/** The figures as the bench prints them. */
export function printRemote(f: RemoteFigures, say: (s: string) => void = console.log) {
  say("  where                 update: bytes/s  peak above idle (idle)   config change: ms  peak above idle   espruino tool --telnet: bytes/s  MQTT / tool");
  if (f.sim) say(`  simulator (ESP8266)   ${num(f.sim.rate).padStart(15)}  ${String(num(f.sim.extra) + " (" + num(f.sim.idle) + ")").padEnd(22)}   (estimate: memory.ts)`);
  else say(`  simulator             ${f.simError}`);
  for (const l of f.layouts) {
    const o = l.ota, c = l.config, t = l.telnet;
    say(`  ${l.label.padEnd(20)}  ${o ? num(o.rate).padStart(15) : "-".padStart(15)}  ${(o ? `${o.extra} (${o.idle})${o.oom ? " OOM" : ""}` : "-").padEnd(22)}   ` +
      `${(c ? num(c.ms) : "-").padStart(17)}  ${(c ? `${c.extra}${c.oom ? " OOM" : ""}` : "-").padEnd(16)}  ${(t ? num(t.rate) : "-").padStart(31)}  ` +
      `${o && t ? (o.rate / t.rate).toFixed(2) + "x" : "-"}`);
    if (l.otaError) say(`    update: ${l.otaError}`);
    if (l.configError && l.configError != l.otaError) say(`    config change: ${l.configError}`);
    if (l.telnetError) say(`    espruino tool: ${l.telnetError}`);
    if (l.idle) say(`    idle with everything on: ${l.idle.withRemote} variables in use, ${l.idle.free} free; remote management costs ${l.idle.withRemote - l.idle.withoutRemote}`);
  }
}

export async function sectionRemote(broker: MosquittoInstance | undefined): Promise<RemoteFigures | undefined> {
  console.log("\n## Remote management (issue 10): an update of firmware/mote.js and a config change over MQTT, 4 sensors + 2 actuators, HA, diag, remote on");
  if (!broker) { console.log("  skipped: no Mosquitto"); return; }
  if (!remoteInterpreters().length) console.log("  (set ESPRUINO for the real interpreter and the espruino tool's upload)");
  const f = await measureRemote(broker);
  printRemote(f);
  console.log("  goals: over MQTT no slower than the espruino tool's upload; <= 150 variables above idle during an update on the 1,600 layout");
  console.log("  (peaks sampled between events, every 5 ms; inside a handler the client's copies of the message add ~80 + 0.4 per byte: README)");
  return f;
}
