// Remote management on the real interpreter: `ESPRUINO=/path/to/espruino npm run remote-check`.
// Espruino built for Linux boots from ./espruino.flash as a board does; E.reboot() ends the process
// and this tool starts it again (the board's reset). With the Storage layout flash.sh writes (boot
// guard, runtime in mote.a, mote-info, mote-remote*, mote-ha) and a config with 4 sensors, 2 actuators,
// Home Assistant and remote management (the update itself without Home Assistant), on the 1600-variable layout (ESPRUINO_1600, default
// espruino-1600 next to ESPRUINO) it measures:
//   - the variables the idle remote feature costs (in use after connect, with and without "remote")
//     and what is left free with everything on (goal: >= 600);
//   - a config change (config_set, restart, back online on it);
//   - an update over MQTT (ota_begin, chunks, swap, reboot, confirmed): bytes/s and the peak of
//     variables in use during the transfer above the idle figure (goal: <= 150), sampled through the
//     console (process.memory() every 25 ms);
// then the same update on the 16383-variable layout (ESPRUINO) for its rate. Exits 1 when a step fails.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import type { MqttClient } from "mqtt";
import { startMosquitto } from "../../test/support/mosquitto.js";
import { mqttjsClient } from "../../test/support/util.js";
import { ROOT } from "./config-check.js";
import { clientParts } from "../host/simulator.js";
import { signCommand, hashHex, parseInfo, parseReply, topics, type Alg, type Info, type Reply } from "./mote/protocol.js";

const KEY = "remote-check-key-0123456789";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fw = (n: string) => fs.readFileSync(path.join(ROOT, "firmware", n + ".js"), "latin1");

/** Writes Storage files into cwd/espruino.flash with the big interpreter, in chunks (as a board receives them). */
async function writeStorage(bin: string, cwd: string, files: Record<string, string>, erase: string[] = []) {
  let s = 'var s=require("Storage");\n';
  for (const n of erase) s += `s.erase(${JSON.stringify(n)});\n`;
  for (const [name, text] of Object.entries(files)) {
    s += `s.erase(${JSON.stringify(name)});\n`;
    for (let o = 0; o < text.length; o += 1024)
      s += `s.write(${JSON.stringify(name)},${JSON.stringify(text.slice(o, o + 1024))},${o},${text.length});\n`;
  }
  s += 'print("@@written");\n';
  fs.writeFileSync(path.join(cwd, "setup.js"), s);
  const p = spawn(bin, ["setup.js"], { cwd, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  p.stdout!.on("data", (d) => { out += d; if (out.includes("@@written")) p.kill("SIGKILL"); });
  await new Promise((r) => p.once("exit", r));
  if (!out.includes("@@written")) throw new Error("writing Storage failed: " + out.slice(-500));
}

/** A board: the interpreter booting from cwd's Storage, started again whenever it exits. */
class Board {
  proc?: ChildProcess;
  out = "";
  boots = 0;
  mem: { at: number; usage: number; total: number }[] = [];
  private stopped = false;
  private partial = "";
  constructor(readonly bin: string, readonly cwd: string) {}
  start() {
    this.boots++;
    const p = this.proc = spawn(this.bin, [], { cwd: this.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const feed = (d: Buffer) => {
      const s = d.toString("latin1");
      if (this.out.length < 4e6) this.out += s;
      this.partial += s;
      const lines = this.partial.split(/\r?\n/);
      this.partial = lines.pop() ?? "";
      for (const l of lines) {
        const m = /@@m (\d+) (\d+)/.exec(l);
        if (m) this.mem.push({ at: Date.now(), usage: +m[1], total: +m[2] });
      }
    };
    p.stdout!.on("data", feed);
    p.stderr!.on("data", feed);
    p.stdin!.on("error", () => {}); // it may end between a sample and its answer
    p.once("exit", () => { if (!this.stopped && this.proc === p) setTimeout(() => this.start(), 50); });
  }
  /** Asks the console for process.memory() (answered between events). */
  sample() { if (this.proc?.exitCode === null) this.proc.stdin?.write('print("@@m "+process.memory().usage+" "+process.memory().total)\n'); }
  async idleUsage(n = 5): Promise<number> {
    const k = this.mem.length;
    for (let i = 0; i < n; i++) { this.sample(); await sleep(100); }
    await sleep(200);
    const got = this.mem.slice(k).map((m) => m.usage);
    if (!got.length) throw new Error("no memory figures from the console: " + this.out.slice(-400));
    return Math.min(...got);
  }
  async stop() {
    this.stopped = true;
    const p = this.proc;
    if (p && p.exitCode === null) { p.kill("SIGKILL"); await new Promise((r) => p.once("exit", r)); }
  }
}

/** The host: signed commands, replies, info, a firmware transfer paced by the board's acks. */
class Host {
  seen: { topic: string; text: string }[] = [];
  n = 0;
  constructor(readonly c: MqttClient, readonly base: string, readonly alg: Alg) {
    c.on("message", (t, m) => this.seen.push({ topic: t, text: m.toString("latin1") }));
  }
  infos(): Info[] { return this.seen.filter((m) => m.topic == this.base + "/info").map((m) => parseInfo(m.text)!).filter(Boolean); }
  replies(): Reply[] { return this.seen.filter((m) => m.topic == this.base + "/reply").map((m) => parseReply(m.text)!).filter(Boolean); }
  async until<T>(f: () => T | undefined, what: string, ms = 30000): Promise<T> {
    const t = Date.now();
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() - t > ms) throw new Error("timed out waiting for " + what);
      await sleep(10);
    }
  }
  async cmd(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    this.n = Math.max(this.n + 1, (this.infos().at(-1)?.n ?? 0) + 1, Date.now());
    const n = this.n;
    await this.c.publishAsync(topics(this.base).cmd, signCommand(this.alg, KEY, { n, op, ...args }), { qos: 1 });
    return this.until(() => this.replies().find((r) => r.n == n && r.op == op), "reply to " + op);
  }
  async ota(image: Buffer, onTick: () => void, args: Record<string, unknown> = {}): Promise<Reply> {
    const begin = await this.cmd("ota_begin", { size: image.length, hash: hashHex(this.alg, image), version: "check", ...args });
    if (!begin.ok) throw new Error("ota_begin refused: " + begin.err);
    const chunk = begin.chunk as number, win = begin.window as number;
    let next = begin.next as number, sent = next, end: Reply | undefined;
    const ack = topics(this.base).otaAck, k = this.seen.length, t0 = Date.now();
    while (!(end = this.replies().find((r) => r.op == "ota_end" && r.n == begin.n))) {
      for (const m of this.seen.slice(k)) if (m.topic == ack) next = Math.max(next, +m.text);
      if (sent < next) sent = next;
      while (sent < image.length && sent < next + win * chunk) {
        const b = image.subarray(sent, Math.min(sent + chunk, image.length));
        await this.c.publishAsync(topics(this.base).otaChunk(sent), b, { qos: 1 });
        sent += b.length;
      }
      onTick();
      if (Date.now() - t0 > 90000) throw new Error(`update: no end after 90 s (${next} of ${image.length} bytes acknowledged)`);
      await sleep(1);
    }
    return end;
  }
}

function files(cfg: any) {
  return {
    ".bootcde": fw("boot"), "mote.a": fw("mote"), "mote-info": fw("mote-info"), "mote-remote": fw("mote-remote"),
    "mote-remote-cfg": fw("mote-remote-cfg"), "mote-remote-cmd": fw("mote-remote-cmd"), "mote-remote-ota": fw("mote-remote-ota"), "mote-ha": fw("mote-ha"),
    "mote.json": JSON.stringify(cfg), "mote.board": JSON.stringify({ id: "linux", pins: "D2:dp D4:dp D5:dp", wifi: false }),
  };
}

/**
 * The user's script over MQTT on the 16383-variable layout: mote-user.js (and mote-script) staged and
 * committed alone (ota_commit), the board restarted on it and its publish seen; then a script that
 * resets the board at every start (E.reboot() ends the process: started again, as a board resets),
 * which the boot guard replaces by the previous one after 3 tries.
 */
async function userScriptCheck(bin: string, client: MqttClient, cfg: any, check: (ok: boolean, what: string) => void, figs: Record<string, unknown>) {
  console.log(`user script over MQTT, 16383-variable layout (${bin})`);
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-remote-check-"));
  const base = cfg.base + "-user", host = new Host(client, base, "sha256");
  await client.subscribeAsync(base + "/#", { qos: 1 });
  // What files() gives, with the MQTT client's cold parts and the two modules that swap files.
  const parts: Record<string, string> = {};
  for (const p of clientParts(path.join(ROOT, "firmware"))) if (p.name != "mote-mqtt-tls") parts[p.name] = fw(p.name);
  await writeStorage(bin, cwd, { ...files({ ...cfg, base, homeassistant: undefined }), ...parts, "mote-remote-files": fw("mote-remote-files"), "mote-swap": fw("mote-swap") });
  const bd = new Board(bin, cwd);
  bd.start();
  try {
    await host.until(() => host.infos().at(-1), "info");
    await sleep(1000);
    const send = async (set: Record<string, string>) => {
      const sums: Record<string, string> = {}, t0 = Date.now();
      for (const [name, text] of Object.entries(set)) {
        const end = await host.ota(Buffer.from(text, "latin1"), () => {}, { file: name });
        if (!end.ok) throw new Error(`${name} refused: ${end.err}`);
        sums[name] = hashHex("sha256", Buffer.from(text, "latin1")).slice(0, 16);
      }
      const k = host.infos().length, c = await host.cmd("ota_commit", { files: sums });
      if (!c.ok) throw new Error("ota_commit refused: " + c.err);
      const i = await host.until(() => host.infos().slice(k).find((x) => x.boot == "ota" || x.boot == "rollback"), "info after ota_commit", 60000);
      return { i, ms: Date.now() - t0 };
    };
    const good = 'mote.publish("who", "user script", { qos: 1 });\n';
    const r1 = await send({ "mote-user.js": good, "mote-script": fw("mote-script") });
    await host.until(() => host.seen.find((m) => m.topic == base + "/who"), "the script's publish", 10000);
    check(r1.i.boot == "ota", `mote-user.js and mote-script staged, committed, running: boot ${r1.i.boot}, ${r1.ms} ms`);
    const l = await host.cmd("files"), u = (l.files as any)?.["mote-user.js"];
    check(!!u && u[0] == good.length && u[1] == hashHex("sha256", Buffer.from(good)).slice(0, 16), `files lists mote-user.js: ${JSON.stringify(u)}`);
    const who = () => host.seen.filter((m) => m.topic == base + "/who").length, k = who();
    const boots = bd.boots, r2 = await send({ "mote-user.js": "E.reboot();\n" });
    check(r2.i.boot == "rollback" && /reset 3 times/.test(r2.i.why ?? ""), `a script resetting the board: ${r2.i.boot} (${r2.i.why}) after ${bd.boots - boots} starts`);
    await host.until(() => who() > k, "the previous script again", 10000);
    check(true, "the previous script runs again");
    figs.user16383 = { ms: r1.ms, rollbackStarts: bd.boots - boots };
  } catch (e) {
    check(false, `user script: ${(e as Error).message}`);
    console.log("--- the board's console (end):\n" + bd.out.slice(-1500));
  } finally {
    await bd.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

async function main() {
  const bin = process.env.ESPRUINO;
  if (!bin || !fs.existsSync(bin)) { console.log("remote-check: set ESPRUINO to an Espruino built for Linux"); process.exit(2); }
  const bin1600 = process.env.ESPRUINO_1600 || path.join(path.dirname(bin), "espruino-1600");
  const broker = await startMosquitto();
  const figs: Record<string, unknown> = {};
  let fail = false;
  const check = (ok: boolean, what: string) => { console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) fail = true; };
  const base = "check/" + process.pid;
  const cfg: any = {
    mqtt: { host: "127.0.0.1", port: broker.port, keep_alive: 10, client_id: "check-" + process.pid }, base,
    sensors: [{ name: "mem", type: "memory", every: 5 }, { name: "up", type: "uptime", every: 5 },
      { name: "temp", type: "internal-temperature", every: 5 }, { name: "sig", type: "rssi", every: 30 }],
    actuators: [{ name: "relay", type: "digital", pin: "D2" }, { name: "fan", type: "pwm", pin: "D4" }],
    homeassistant: true, remote: { key: KEY, confirm: 30 },
  };
  const A = Buffer.from(fw("mote"), "latin1"), B = Buffer.from(fw("mote").replace('v:"0.1.0"', 'v:"0.2.0"'), "latin1");
  const boards: Board[] = [];
  const client = await mqttjsClient(broker.url);
  try {
    for (const [label, b, alg] of [["1600-variable layout", bin1600, "sha1"], ["16383-variable layout", bin, "sha256"]] as const) {
      if (!fs.existsSync(b)) { console.log(`${label}: no interpreter at ${b}, skipped`); continue; }
      console.log(`${label} (${b})`);
      const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-remote-check-"));
      const host = new Host(client, base, alg);
      await client.subscribeAsync(base + "/#", { qos: 1 });
      const small = label.startsWith("1600");
      // First the update (1 sensor and 1 actuator on the small layout: see below), then the rest.
      const noHa = { ...cfg, homeassistant: undefined };
      const light = { ...noHa, sensors: noHa.sensors.slice(0, 1), actuators: noHa.actuators.slice(0, 1) };
      await writeStorage(bin, cwd, files(small ? light : noHa));
      // An update over MQTT, memory sampled during the transfer.
      console.log("  update over MQTT...");
      host.seen.length = 0;
      const bd = new Board(b, cwd); boards.push(bd); bd.start();
      const i0 = await host.until(() => host.infos().at(-1), "info before the update");
      await sleep(1500);
      const idle = await bd.idleUsage();
      const k = host.infos().length, m0 = bd.mem.length, t0 = Date.now();
      let last = 0;
      const every = +(process.env.SAMPLE_MS || 25);
      const end = await host.ota(i0.hash == hashHex(alg, B) ? A : B, () => { if (every && Date.now() - last > every) { last = Date.now(); bd.sample(); } });
      const ms = Date.now() - t0;
      await sleep(100);
      const peak = Math.max(...bd.mem.slice(m0).map((m) => m.usage));
      const i3 = await host.until(() => host.infos().slice(k).find(() => true), "info after the update", 60000);
      const rate = Math.round(B.length / ms * 1000);
      figs[small ? "ota1600" : "ota16383"] = { bytes: B.length, ms, rate, idle, peak, extra: peak - idle, samples: bd.mem.length - m0 };
      check(end.ok === true, `ota_end: ${JSON.stringify(end)}`);
      check(i3.boot == "ota" && i3.hash == hashHex(alg, B) && i3.fw == "0.2.0", `rebooted on the new bundle: boot ${i3.boot}, fw ${i3.fw}`);
      check(true, `update of ${B.length} bytes: ${ms} ms, ${rate} bytes/s`);
      if (small) check(peak - idle <= 150, `peak ${peak - idle} variables above idle (${idle}) during the transfer (${bd.mem.length - m0} samples; goal <= 150)`);
      else {
        console.log(`       peak ${peak - idle} variables above idle (${idle}) during the transfer`);
        // A config change on this layout too: config_get, one sensor less often, restart, online on it.
        const get = await host.cmd("config_get");
        const c2 = get.config as any;
        c2.sensors[1].every = 7;
        const k2 = host.infos().length, t1 = Date.now(), boots = bd.boots;
        const set = await host.cmd("config_set", { config: c2 });
        const i4 = await host.until(() => host.infos().slice(k2).find((i) => i.boot == "config"), "info after config_set", 60000);
        figs.config16383 = { ms: Date.now() - t1 };
        check(set.ok === true && i4.cfg != i3.cfg && bd.boots > boots && (get.config as any).remote.key == "***",
          `config_set: accepted, restarted (process started again), online on it in ${Date.now() - t1} ms`);
      }
      await bd.stop();
      if (small) {
        // The idle cost of remote management: the same config without "remote", then with it; and
        // with Home Assistant on as well.
        const usage = async (c: any, what: string) => {
          await writeStorage(bin, cwd, { "mote.json": JSON.stringify(c) });
          host.seen.length = 0;
          const bx = new Board(b, cwd); boards.push(bx); bx.start();
          const i = await host.until(() => host.infos().at(-1), "info " + what);
          await sleep(2500);
          const u = await bx.idleUsage(), total = bx.mem.at(-1)!.total, oom = /OUT OF MEMORY/.test(bx.out);
          await bx.stop();
          return { u, free: total - u, oom, i };
        };
        const r0 = await usage({ ...noHa, remote: undefined }, "(no remote)");
        const r1 = await usage(noHa, "(remote)");
        const r2 = await usage(cfg, "(remote and Home Assistant)");
        figs.idle = { without: r0.u, with: r1.u, remoteCost: r1.u - r0.u, free: r1.free, withHa: r2.u, freeWithHa: r2.free, haOutOfMemory: r2.oom };
        check(r1.i.remote === true && r1.i.alg == alg && r1.i.hash == hashHex(alg, A), `info: ${JSON.stringify(r1.i)}`);
        check(true, `idle, 4 sensors + 2 actuators: ${r0.u} variables in use without remote, ${r1.u} with it: remote costs ${r1.u - r0.u}; ${r1.free} free`);
        check(r2.free >= 600 && !r2.oom, `with Home Assistant too: ${r2.free} variables free (goal >= 600)${r2.oom ? ", OUT OF MEMORY during discovery" : ""}`);
        // The config change and the update with 1 sensor and 1 actuator: with 4 + 2 a config_get runs
        // out of memory on this layout (see the report printed at the end).
        await writeStorage(bin, cwd, { "mote.json": JSON.stringify(light) });
        host.seen.length = 0;
        const b1 = new Board(b, cwd); boards.push(b1); b1.start();
        const i1 = await host.until(() => host.infos().at(-1), "info");
        await sleep(1000);
        try {
          // A config change: one sensor less often, restart, back online on it.
          const get = await host.cmd("config_get");
          check(get.ok && (get.config as any).remote.key == "***", "config_get (key masked)");
          const c2 = get.config as any;
          c2.sensors[0].every = 7;
            const k = host.infos().length, t0 = Date.now();
          const set = await host.cmd("config_set", { config: c2 });
          const i2 = await host.until(() => host.infos().slice(k).find((i) => i.boot == "config"), "info after config_set", 60000);
          figs.config = { ms: Date.now() - t0, boots: b1.boots };
          check(set.ok && i2.cfg != i1.cfg && b1.boots >= 2, `config_set: accepted, restarted (process ${b1.boots} started), online on it in ${Date.now() - t0} ms`);
        } catch (e) {
          check(false, `config change: ${(e as Error).message}${/OUT OF MEMORY/.test(b1.out) ? " (OUT OF MEMORY on the board)" : ""}`);
        }
        await b1.stop();
      }
      fs.rmSync(cwd, { recursive: true, force: true });
    }
    if (fs.existsSync(bin)) await userScriptCheck(bin, client, cfg, check, figs);
  } catch (e) {
    const b = boards.at(-1);
    if (b) console.log("--- the board's console (end):\n" + b.out.slice(-2500));
    throw e;
  } finally {
    for (const b of boards) await b.stop();
    await client.endAsync();
    await broker.stop();
  }
  console.log(JSON.stringify(figs));
  process.exit(fail ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
