// `npm run soak`: a bounded soak of the client (issue 4). Prints figures, stops by itself, and stops every
// broker, proxy, client and board it started.
//
// firmware/mote-mqtt.js runs in the host simulator (an ESP32 SimBoard) and talks to a private Mosquitto
// through the fault proxy (test/support/proxy.ts); an mqtt.js peer talks to the same Mosquitto directly.
// Both sessions are persistent (clean_session false). Messages go both ways, QoS 0, 1 and 2 in turn,
// offered at a steady rate that spreads SOAK_MESSAGES over SOAK_SECONDS (what an outage holds back is
// sent as fast as possible once the link is back):
//   up    device -> peer: the device publishes while publish() accepts (paced by its false return, then
//         the "drain" and "connected" events);
//   down  peer -> device: mqtt.js publishes with at most PEER_WINDOW messages unanswered by Mosquitto and
//         at most DOWN_AHEAD QoS 1/2 messages not yet at the device.
// Faults, by traffic time, repeating every 60 s: a cut every 20 s (at 10, 30, 50 s: FIN, reset, FIN), a
// phase of 1-byte pieces both ways (20-26 s), a pause of both directions shorter than keep-alive (40-44 s).
// Traffic stops when both directions sent SOAK_MESSAGES, at the latest SOAK_SECONDS + 60 s; then, with the link
// healthy, the device connects at once (no backoff wait) and everything in flight may arrive (at most
// 30 s). Printed: per direction and QoS sent (accepted) / received (distinct) / lost / duplicated,
// reconnects, connection attempts, errors by code, memory at start and end (Node heap of this process
// after a GC, the board's process.memory().usage estimate and E.getSizeOf(client), in variables).
//
// Environment: SOAK_SECONDS (traffic spread over this time, default 180), SOAK_MESSAGES (messages each way, default
// 100000), SOAK_CUT_SECONDS (seconds between cuts, default 20), SOAK_KEEP_ALIVE (device keep_alive, s,
// default 10; the pause lasts 40% of it).
//
// ESPRUINO=/path/to/espruino: afterwards (only, with SOAK_ONLY_ESPRUINO=1) the same soak with the client in
// that real interpreter: a fresh temp cwd with the module and its parts in Storage and a generated script
// (espSoakScript) that connects through the proxy (clean_session false, its own client_id), subscribes at QoS 2,
// publishes the up stream paced by publish()'s return and "drain"/"connected", counts the down stream by
// sequence number, and prints "@@"+JSON progress lines (with process.memory().usage). The interpreter's stdin is
// a pipe held open and doubles as the control channel (halt() at the end of traffic: stop publishing and
// connect at once; stop(): dump the per-message counts, disconnect, clear every timer); it is killed at the end
// if still running. SOAK_ESP_MESSAGES (default 10000 each way) are offered over 75% of SOAK_ESP_SECONDS
// (default 120, the traffic bound), then at most 20 s of settling. Same faults, same table.
// Exit code 1 when a QoS 1/2 message accepted was lost, a QoS 2 message was duplicated, or the board
// had an uncaught exception.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import type { MqttClient } from "mqtt";
import { SimBoard, clientParts } from "../host/index.js";
import { startMosquitto, type MosquittoInstance } from "../../test/support/mosquitto.js";
import { startProxy, type Proxy } from "../../test/support/proxy.js";
import { mqttjsClient, endClient } from "../../test/support/util.js";
import { firmwarePath } from "../../test/session/harness.js";
import { runEspruino, writeStorage } from "./espruino-run.js";

const num = (name: string, dflt: number) => {
  const v = Number(process.env[name]);
  return process.env[name] && isFinite(v) && v > 0 ? v : dflt;
};
const SECONDS = num("SOAK_SECONDS", 180);
const GRACE_MS = 60000;
const N = Math.floor(num("SOAK_MESSAGES", 100000));
const CUT_EVERY = num("SOAK_CUT_SECONDS", 20);
const KEEP_ALIVE = Math.max(2, Math.floor(num("SOAK_KEEP_ALIVE", 10)));
const PAUSE_MS = KEEP_ALIVE * 400;
const SPLIT_MS = 6000;
const PEER_WINDOW = 20;
const DOWN_AHEAD = 200;
const SETTLE_MS = 30000;
const HOST = "127.0.0.1";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const qosOf = (i: number) => i % 3;
/** Payload of message i: its number, then 0..47 filler bytes (so packets vary in size). */
const payload = (i: number) => i + ":" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL".slice(0, i % 48);
const idOf = (p: string, n: number) => {
  const k = p.indexOf(":");
  const i = k > 0 ? Number(p.slice(0, k)) : NaN;
  return Number.isInteger(i) && i >= 0 && i < n ? i : -1;
};

/** A GC on demand (this process was not started with --expose-gc). */
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;
const heapMB = () => {
  gc();
  return process.memoryUsage().heapUsed / 1048576;
};

/** Per direction: which messages were accepted, and how often each was delivered. */
class Ledger {
  readonly n: number;
  accepted: Uint8Array;
  seen: Uint16Array;
  constructor(n: number = N) {
    this.n = n;
    this.accepted = new Uint8Array(n);
    this.seen = new Uint16Array(n);
  }
  sent = 0;          // messages accepted so far (0..sent-1)
  sent12 = 0;        // of which QoS 1/2
  distinct12 = 0;    // QoS 1/2 messages delivered at least once
  deliveries = 0;
  foreign = 0;       // deliveries that are no message of this run
  wrongQos = 0;
  deliver(topic: string, message: string, qos: number): void {
    const i = idOf(message, this.n);
    if (i < 0 || !topic.endsWith("/" + qosOf(i))) { this.foreign++; return; }
    if (qos !== qosOf(i)) this.wrongQos++;
    if (!this.seen[i] && qosOf(i)) this.distinct12++;
    this.seen[i]++;
    this.deliveries++;
  }
  table() {
    const rows: Record<number, { sent: number; received: number; lost: number; duplicated: number }> = {};
    for (const q of [0, 1, 2]) rows[q] = { sent: 0, received: 0, lost: 0, duplicated: 0 };
    for (let i = 0; i < this.n; i++) {
      const r = rows[qosOf(i)];
      if (this.accepted[i]) r.sent++;
      if (this.seen[i]) r.received++;
      if (this.accepted[i] && !this.seen[i]) r.lost++;
      if (this.seen[i] > 1) r.duplicated += this.seen[i] - 1;
    }
    return rows;
  }
  /** QoS 1/2 messages accepted and not delivered yet. */
  missing12(): number {
    let n = 0;
    for (let i = 0; i < this.sent; i++) if (qosOf(i) && this.accepted[i] && !this.seen[i]) n++;
    return n;
  }
}

/**
 * Faults by traffic time (from t0) until stop(): a cut every CUT_EVERY s (FIN, reset in turn), 1-byte pieces
 * both ways at 20-26 s of every minute, a pause both ways at 40 s of every minute. Resolves to the cuts made.
 */
async function runFaults(proxy: Proxy, t0: number, stop: () => boolean, log: string[]): Promise<number> {
  let cuts = 0, nextCut = CUT_EVERY / 2, splitAt = 20, pauseAt = 40;
  const fault = (what: string) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
  while (!stop()) {
    const s = (Date.now() - t0) / 1000;
    if (s >= nextCut) {
      nextCut += CUT_EVERY;
      const how = cuts++ % 2 ? "reset" : "fin";
      fault(`cut (${how}), ${proxy.active} connection(s)`);
      await proxy.cut(how).catch(() => {});
    } else if (s >= splitAt) {
      splitAt += 60;
      fault("1-byte pieces both ways");
      proxy.mode("bytes", "both");
      await sleep(SPLIT_MS);
      proxy.mode("pass", "both");
    } else if (s >= pauseAt) {
      pauseAt += 60;
      fault(`pause both ways for ${PAUSE_MS} ms`);
      proxy.pause("both");
      await sleep(PAUSE_MS);
      proxy.resume("both");
    } else {
      await sleep(100);
    }
  }
  return cuts;
}

/** Prints the per-direction, per-QoS table; returns how many bad rows (QoS 1/2 loss, QoS 2 duplicate, foreign). */
function printTable(up: Ledger, down: Ledger): number {
  console.log("direction      QoS      sent  received      lost  duplicated");
  let bad = 0;
  for (const [name, l] of [["up (dev->js)", up], ["down (js->dev)", down]] as const) {
    const rows = l.table();
    for (const q of [0, 1, 2]) {
      const r = rows[q];
      console.log(`${name.padEnd(14)} ${String(q).padStart(3)} ${String(r.sent).padStart(9)} ${String(r.received).padStart(9)} ` +
        `${String(r.lost).padStart(9)} ${String(r.duplicated).padStart(11)}`);
      if (q > 0 && r.lost) bad++;
      if (q === 2 && r.duplicated) bad++;
    }
    if (l.foreign || l.wrongQos) { console.log(`${name}: ${l.foreign} unknown deliveries, ${l.wrongQos} at another QoS`); bad++; }
  }
  return bad;
}

/**
 * The down stream of both soaks: `peer` publishes message i as it falls `due`, with at most
 * PEER_WINDOW unanswered by the broker and at most DOWN_AHEAD QoS 1/2 messages not yet at the
 * device (`atDevice12` counts those that arrived). `stop()` ends it; `pending()` is the window.
 */
function downStream(peer: MqttClient, down: Ledger, due: () => number, atDevice12: () => number) {
  let next = 0, pending = 0, stopped = false;
  const pump = () => {
    const limit = due();
    while (!stopped && next < limit && pending < PEER_WINDOW && down.sent12 - atDevice12() < DOWN_AHEAD) {
      const i = next++;
      pending++;
      down.accepted[i] = 1;
      down.sent = next;
      if (qosOf(i)) down.sent12++;
      peer.publish("soak/down/" + qosOf(i), payload(i), { qos: qosOf(i) as 0 | 1 | 2 }, () => { pending--; pump(); });
    }
  };
  const timer = setInterval(pump, 20);
  return {
    pump,
    sent: () => next,
    pending: () => pending,
    stop: () => { stopped = true; clearInterval(timer); },
  };
}

async function simSoak(): Promise<number> {
  const started = Date.now();
  console.log(`soak: ${N} messages each way (QoS 0/1/2 in turn) spread over ${SECONDS} s; ` +
    `faults: cut every ${CUT_EVERY} s, 1-byte pieces ${SPLIT_MS / 1000} s a minute, a ${PAUSE_MS / 1000} s pause ` +
    `(keep_alive ${KEEP_ALIVE} s)`);
  const cleanups: (() => unknown)[] = [];
  const later = <T>(r: T, close: (r: T) => unknown): T => { cleanups.push(() => close(r)); return r; };
  try {
    const mosq: MosquittoInstance = later(await startMosquitto(), (m) => m.stop());
    const proxy: Proxy = later(await startProxy({ targetPort: mosq.port, seed: 4 }), (p) => p.close());
    const up = new Ledger(), down = new Ledger();

    // The peer: receives "up", publishes "down". A persistent session, never behind the proxy.
    const peer: MqttClient = later(await mqttjsClient(mosq.url, { clientId: "soak-peer", clean: false, reconnectPeriod: 500 },
      (c) => c.on("message", (topic, m, p) => up.deliver(topic, m.toString("latin1"), p.qos))), (c) => endClient(c));
    peer.on("error", () => {});
    await peer.subscribeAsync("soak/up/#", { qos: 2 });

    // The device.
    const board: SimBoard = later(new SimBoard({ board: "esp32-devkitc", maxLogs: 100 }), (b) => b.close());
    board.boot();
    board.loadClient(firmwarePath());
    const client = board.run(`var client = require("mote-mqtt").create(${JSON.stringify(HOST)}, ${JSON.stringify({
      port: proxy.port, client_id: "soak-device", clean_session: false, keep_alive: KEEP_ALIVE,
    })}); client`, "soak");
    const errors: Record<string, number> = {};
    let connects = 0, disconnects = 0, up0 = false, offlineSince = 0, offlineMs = 0;
    client.on("error", (e: { code?: string }) => { const c = String(e && e.code); errors[c] = (errors[c] || 0) + 1; });
    client.on("connected", () => {
      connects++;
      up0 = true;
      if (offlineSince) offlineMs += Date.now() - offlineSince;
      offlineSince = 0;
    });
    client.on("disconnected", () => { disconnects++; up0 = false; offlineSince = Date.now(); });
    client.on("publish", (p: { topic: string; message: string; qos: number }) => down.deliver(p.topic, p.message, p.qos));
    client.connect();
    await board.waitFor(() => up0, 5000, "the device to connect");
    let subscribed = false;
    client.on("subscribed", () => { subscribed = true; });
    client.subscribe("soak/down/#", { qos: 2 });
    await board.waitFor(() => subscribed, 5000, "SUBACK");
    await sleep(200);

    // Messages due by now at the steady rate.
    let t0 = Date.now(), stopping = false;
    const due = () => Math.min(N, Math.ceil((N * (Date.now() - t0)) / (SECONDS * 1000)));

    // up: the device publishes while publish() accepts.
    let upNext = 0;
    const pumpUp = () => {
      const limit = due();
      while (!stopping && upNext < limit) {
        const i = upNext;
        if (!client.publish("soak/up/" + qosOf(i), payload(i), { qos: qosOf(i) })) return;
        up.accepted[i] = 1;
        up.sent = ++upNext;
      }
    };
    client.on("drain", pumpUp);
    client.on("connected", pumpUp);
    const upTimer = setInterval(pumpUp, 20);
    // Memory at the start: connected, subscribed, every listener in place, no message yet.
    const memory = () => ({ heap: heapMB(), board: board.memory().usage, client: board.sizeOf(client) });
    const memStart = memory();

    // down: mqtt.js publishes with a bounded window.
    const downs = downStream(peer, down, due, () => down.distinct12);

    // Faults, by traffic time.
    t0 = Date.now();
    const faults: string[] = [];
    let cuts = 0;
    const faultsDone = runFaults(proxy, t0, () => stopping, faults).then((n) => { cuts = n; });

    // Progress every 10 s until both directions are done or time is up.
    const deadline = t0 + SECONDS * 1000 + GRACE_MS;
    let lastReport = Date.now();
    const report = (label: string) => {
      const st = client.stats();
      console.log(`${label} ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  up ${up.sent}/${up.deliveries}  ` +
        `down ${down.sent}/${down.deliveries}  (sent/delivered)  ${st.connected ? "connected" : "offline  "}  ` +
        `reconnects ${st.reconnects}  inflight ${st.inflight} queued ${st.queued}`);
    };
    pumpUp();
    downs.pump();
    while (Date.now() < deadline && !(upNext >= N && downs.sent() >= N)) {
      await sleep(100);
      if (Date.now() - lastReport >= 10000) { lastReport = Date.now(); report("  "); }
    }
    const trafficMs = Date.now() - t0;
    const offlineTraffic = offlineMs + (offlineSince ? Date.now() - offlineSince : 0);
    stopping = true;
    clearInterval(upTimer);
    downs.stop();
    await faultsDone;
    proxy.mode("pass", "both");
    report("traffic stopped at");

    // Settle: link healthy, connect now, let everything in flight arrive.
    const settleFrom = Date.now();
    client.connect();
    const settled = () => {
      const st = client.stats();
      return st.connected && st.inflight === 0 && st.queued === 0 && !downs.pending() && up.missing12() === 0 && down.missing12() === 0;
    };
    while (Date.now() - settleFrom < SETTLE_MS && !settled()) await sleep(100);
    await sleep(1000); // room for late duplicates
    report("settled after");

    const memEnd = memory();
    const st = client.stats();
    const wall = (Date.now() - started) / 1000;
    console.log("");
    console.log(`traffic ${(trafficMs / 1000).toFixed(1)} s, settle ${((Date.now() - settleFrom) / 1000).toFixed(1)} s, ` +
      `wall ${wall.toFixed(1)} s; rate ${Math.round((up.sent + down.sent) / (trafficMs / 1000))} msg/s both ways together`);
    let bad = printTable(up, down);
    console.log(`reconnects ${st.reconnects} (stats), connected ${connects}x, disconnected ${disconnects}x, ` +
      `connection attempts at the proxy ${proxy.accepted}; cuts ${cuts}; ` +
      `offline ${(offlineTraffic / 1000).toFixed(1)} s of ${(trafficMs / 1000).toFixed(1)} s of traffic`);
    console.log(`device stats: sent ${st.sent}, received ${st.received}, dropped ${st.dropped}, oversize ${st.oversize}`);
    console.log(`device errors by code: ${JSON.stringify(errors)}`);
    console.log(`faults: ${faults.join("; ")}`);
    console.log(`memory at start: Node heap ${memStart.heap.toFixed(1)} MB, board usage ${memStart.board} vars (client object ${memStart.client})`);
    console.log(`memory at end:   Node heap ${memEnd.heap.toFixed(1)} MB, board usage ${memEnd.board} vars (client object ${memEnd.client})`);
    if (board.errors.length) { console.log(`uncaught on the board: ${board.errors.map(String).join("; ")}`); bad++; }
    if (up.sent < N || down.sent < N) {
      console.log(`note: the time bound (${SECONDS} s + ${GRACE_MS / 1000} s) stopped traffic before ${N} messages each way ` +
        `(up ${up.sent}, down ${down.sent})`);
    }
    console.log(bad ? "RESULT: FAILED (QoS 1/2 loss, QoS 2 duplicate or uncaught exception)" : "RESULT: ok");
    return bad ? 1 : 0;
  } finally {
    while (cleanups.length) {
      try { await (cleanups.pop() as () => unknown)(); } catch { /* keep closing the rest */ }
    }
  }
}

// ---- The soak on a real Espruino interpreter (ESPRUINO=/path/to/espruino) ----

const ESP_N = Math.floor(num("SOAK_ESP_MESSAGES", 10000));
const ESP_SECONDS = num("SOAK_ESP_SECONDS", 120);
const ESP_SETTLE_MS = 20000;

/**
 * The script the interpreter runs. It prints "@@" + JSON lines: {t:"start"} once connected and subscribed
 * (with process.memory().usage), {t:"p"} progress every 500 ms (memory every 5 s), {t:"seen"} the per-message
 * delivery counts of the down stream (digits, capped at 9) in pieces at the end, {t:"end"}.
 * Node drives it through the console (stdin): halt() stops publishing and connects at once, stop() ends it.
 */
function espSoakScript(port: number, spreadMs: number, safetyMs: number): string {
  return `var N = ${ESP_N}, SPREAD = ${spreadMs};
var F = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL";
var c, seen = new Uint8Array(N), rx = [0, 0, 0], dup = [0, 0, 0], bad = 0, foreign = 0, wq = 0, upN = 0;
var t0 = 0, halted = 0, fin = 0, conns = 0, discs = 0, errs = {}, pv, kill, tick = 0, subbed = 0;
var offSince = 0, offMs = 0;
function out(o) { print("@@" + JSON.stringify(o)); }
function pay(i) { return i + ":" + F.substr(0, i % 48); }
function due() { var d = Math.ceil(N * (Date.now() - t0) / SPREAD); return d > N ? N : d; }
function pump() {
  if (!t0 || halted) return;
  var lim = due();
  while (upN < lim) {
    var q = upN % 3;
    if (!c.publish("soak/up/" + q, pay(upN), { qos: q })) return;
    upN++;
  }
}
function onPub(p) {
  var t = p.topic, m = p.message;
  if (t == "soak/down/c") return;
  var i = parseInt(m, 10);
  if (!(i >= 0 && i < N) || m !== pay(i)) { bad++; return; }
  var q = i % 3;
  if (t != "soak/down/" + q) { foreign++; return; }
  if (p.qos != q) wq++;
  if (seen[i]) { dup[q]++; if (seen[i] < 9) seen[i]++; } else { seen[i] = 1; rx[q]++; }
}
function offline() { return offMs + (offSince ? Date.now() - offSince : 0); }
function progress() {
  tick++;
  var o = { t: "p", ms: Date.now() - t0, up: upN, rx: rx, dup: dup, bad: bad, foreign: foreign, wq: wq,
    st: c.stats(), conns: conns, discs: discs, off: offline() };
  if (tick % 10 == 0) o.mem = process.memory().usage;
  out(o);
  pump();
}
function halt() { halted = 1; c.connect(); out({ t: "halted", up: upN }); }
function stop() {
  if (fin) return;
  fin = 1;
  halted = 1;
  clearInterval(pv);
  clearTimeout(kill);
  progress();
  var mem = process.memory();
  for (var k = 0; k < N; k += 1000) {
    var s = "", e = Math.min(N, k + 1000);
    for (var j = k; j < e; j++) s += seen[j];
    out({ t: "seen", o: k, s: s });
  }
  out({ t: "end", mem: mem.usage, total: mem.total, size: E.getSizeOf(c), errs: errs, st: c.stats(), up: upN });
  try { c.disconnect(); } catch (x) { out({ t: "err", e: "disconnect threw " + x }); }
  setTimeout(function () { clearInterval(); clearTimeout(); }, 300);
}
function begin() {
  out({ t: "start", mem: process.memory().usage, size: E.getSizeOf(c) });
  t0 = Date.now();
  pv = setInterval(progress, 500);
  pump();
}
function main() {
  c = require("mote-mqtt").create(${JSON.stringify(HOST)}, { port: ${port}, client_id: "soak-esp", clean_session: false,
    keep_alive: ${KEEP_ALIVE} });
  c.on("error", function (e) { var k = String(e && e.code); errs[k] = (errs[k] || 0) + 1; });
  c.on("connected", function () { conns++; if (offSince) offMs += Date.now() - offSince; offSince = 0; pump(); });
  c.on("disconnected", function () { discs++; if (!offSince) offSince = Date.now(); });
  c.on("drain", pump);
  c.on("publish", onPub);
  c.on("subscribed", function () { if (!subbed) { subbed = 1; setTimeout(begin, 200); } });
  c.on("connected", function () { if (conns == 1) c.subscribe("soak/down/#", { qos: 2 }); });
  c.connect();
}
kill = setTimeout(function () { out({ t: "err", e: "safety timeout" }); stop(); }, ${safetyMs});
setTimeout(main, 10);
`;
}

interface EspLine { t: string; [k: string]: unknown }

/** Soak with the client in the real interpreter `bin`; prints the same figures as the simulator soak. */
async function espSoak(bin: string): Promise<number> {
  const started = Date.now();
  const trafficMs = ESP_SECONDS * 1000;
  const spreadMs = Math.round(trafficMs * 0.75);
  console.log(`soak on Espruino (${bin}): ${ESP_N} messages each way (QoS 0/1/2 in turn) offered over ` +
    `${spreadMs / 1000} s, traffic at most ${ESP_SECONDS} s, settle at most ${ESP_SETTLE_MS / 1000} s; faults as above ` +
    `(cut every ${CUT_EVERY} s, 1-byte pieces ${SPLIT_MS / 1000} s a minute, a ${PAUSE_MS / 1000} s pause; keep_alive ${KEEP_ALIVE} s)`);
  if (!fs.existsSync(bin)) { console.log(`ESPRUINO=${bin} does not exist`); return 2; }
  const cleanups: (() => unknown)[] = [];
  const later = <T>(r: T, close: (r: T) => unknown): T => { cleanups.push(() => close(r)); return r; };
  try {
    const mosq: MosquittoInstance = later(await startMosquitto(), (m) => m.stop());
    const proxy: Proxy = later(await startProxy({ targetPort: mosq.port, seed: 4 }), (p) => p.close());
    const up = new Ledger(ESP_N), down = new Ledger(ESP_N);
    const peer: MqttClient = later(await mqttjsClient(mosq.url, { clientId: "soak-esp-peer", clean: false, reconnectPeriod: 500 },
      (c) => c.on("message", (topic, m, p) => up.deliver(topic, m.toString("latin1"), p.qos))), (c) => endClient(c));
    peer.on("error", () => {});
    await peer.subscribeAsync("soak/up/#", { qos: 2 });

    // A fresh cwd whose Storage holds the module and its parts, as a board keeps them.
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mote-soak-esp-"));
    cleanups.push(() => fs.rmSync(cwd, { recursive: true, force: true }));
    await writeStorage(bin, cwd, [{ name: "mote-mqtt", file: firmwarePath() }, ...clientParts(path.dirname(firmwarePath()))]);
    const safetyMs = trafficMs + ESP_SETTLE_MS + 30000;

    // The interpreter, stdin a pipe that stays open (also the control channel: the console runs what we write).
    let last: EspLine | undefined, startLine: EspLine | undefined, endLine: EspLine | undefined, halted = false;
    const seenText: string[] = [];
    const memTrail: number[] = [];
    const errLines: string[] = [];
    const run = runEspruino(bin, cwd, "soak.js", espSoakScript(proxy.port, spreadMs, safetyMs), (text, line) => {
      let o: EspLine;
      try { o = JSON.parse(text) as EspLine; } catch { errLines.push(line); return; }
      if (o.t === "p") { last = o; if (typeof o.mem === "number") memTrail.push(o.mem); }
      else if (o.t === "start") startLine = o;
      else if (o.t === "halted") halted = true;
      else if (o.t === "seen") seenText[Number(o.o) / 1000] = String(o.s);
      else if (o.t === "end") endLine = o;
      else if (o.t === "err") errLines.push(String(o.e));
    });
    const proc = run.proc, exited = run.exited;
    let exitInfo: string | undefined;
    void exited.then((x) => { exitInfo = x; });
    cleanups.push(async () => {
      run.kill();
      await Promise.race([exited, sleep(2000)]);
      proc.stdin!.destroy();
    });
    const command = (js: string) => { if (!exitInfo) proc.stdin!.write(js + "\n"); };
    const rx12 = () => { const r = last?.rx as number[] | undefined; return r ? r[1] + r[2] : 0; };
    const upSent = () => Number(last?.up ?? 0);

    const startBy = Date.now() + 15000;
    while (!startLine && !exitInfo && Date.now() < startBy) await sleep(50);
    if (!startLine) {
      console.log(`the interpreter did not connect and subscribe (${exitInfo ?? "still running"}); output tail:`);
      console.log(run.output().split(/\r?\n/).slice(-10).join("\n"));
      return 2;
    }

    // down: mqtt.js publishes at the steady rate, a bounded window, at most DOWN_AHEAD QoS 1/2 not yet at the device.
    let t0 = Date.now(), stopping = false;
    const due = () => Math.min(ESP_N, Math.ceil((ESP_N * (Date.now() - t0)) / spreadMs));
    const downs = downStream(peer, down, due, rx12);
    t0 = Date.now();
    const faults: string[] = [];
    let cuts = 0;
    const faultsDone = runFaults(proxy, t0, () => stopping, faults).then((n) => { cuts = n; });
    const report = (label: string) => {
      const st = (last?.st ?? {}) as Record<string, unknown>;
      console.log(`${label} ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  up ${upSent()}/${up.deliveries}  ` +
        `down ${down.sent}/${last ? (last.rx as number[]).reduce((a, b) => a + b, 0) : 0}  (sent/delivered)  ` +
        `${st.connected ? "connected" : "offline  "}  reconnects ${st.reconnects}  inflight ${st.inflight} queued ${st.queued}` +
        (memTrail.length ? `  usage ${memTrail[memTrail.length - 1]} vars` : ""));
    };
    let lastReport = Date.now();
    while (Date.now() - t0 < trafficMs && !exitInfo && !(upSent() >= ESP_N && downs.sent() >= ESP_N)) {
      await sleep(100);
      if (Date.now() - lastReport >= 10000) { lastReport = Date.now(); report("  "); }
    }
    const trafficEnd = Date.now() - t0;
    const offlineTraffic = Number(last?.off ?? 0);
    stopping = true;
    downs.stop();
    await faultsDone;
    proxy.mode("pass", "both");
    proxy.resume("both");
    command("halt()");
    report("traffic stopped at");

    // Settle: link healthy, the device connects at once, everything in flight may arrive.
    const settleFrom = Date.now();
    const upSettled = () => {
      const n = upSent();
      for (let i = 0; i < n; i++) up.accepted[i] = 1;
      up.sent = n;
      return up.missing12() === 0;
    };
    while (Date.now() - settleFrom < ESP_SETTLE_MS && !exitInfo) {
      const st = (last?.st ?? {}) as Record<string, unknown>;
      if (halted && st.connected && st.inflight === 0 && st.queued === 0 && !downs.pending() && upSettled() && rx12() >= down.sent12) break;
      await sleep(200);
    }
    await sleep(1000); // room for late duplicates
    command("stop()");
    const endBy = Date.now() + 10000;
    while (!endLine && !exitInfo && Date.now() < endBy) await sleep(50);
    const exitBy = Date.now() + 3000;
    while (!exitInfo && Date.now() < exitBy) await sleep(50);
    const exitNote = exitInfo ?? "still running, killed";
    if (!exitInfo) proc.kill("SIGKILL");
    report("settled after");

    // Ledgers: up from the final count of accepted publishes; down from the device's per-message counts.
    upSettled();
    const seen = seenText.join("");
    for (let i = 0; i < seen.length && i < ESP_N; i++) down.seen[i] = seen.charCodeAt(i) - 48;
    for (let i = 0; i < ESP_N; i++) if (down.seen[i]) { down.deliveries += down.seen[i]; if (qosOf(i)) down.distinct12++; }
    if (last) { down.foreign = Number(last.foreign) + Number(last.bad); down.wrongQos = Number(last.wq); }

    const wall = (Date.now() - started) / 1000;
    console.log("");
    console.log(`traffic ${(trafficEnd / 1000).toFixed(1)} s, settle ${((Date.now() - settleFrom) / 1000).toFixed(1)} s, ` +
      `wall ${wall.toFixed(1)} s; rate ${Math.round((up.sent + down.sent) / (trafficEnd / 1000))} msg/s both ways together`);
    let bad = 0;
    if (seen.length < ESP_N) { console.log(`the device's delivery counts are missing (${seen.length} of ${ESP_N}): down figures incomplete`); bad++; }
    bad += printTable(up, down);
    const fin = (endLine ?? last ?? {}) as Record<string, unknown>;
    const st = (fin.st ?? last?.st ?? {}) as Record<string, number>;
    console.log(`reconnects ${st.reconnects} (stats), connected ${last?.conns}x, disconnected ${last?.discs}x, ` +
      `connection attempts at the proxy ${proxy.accepted}; cuts ${cuts}; ` +
      `offline ${(offlineTraffic / 1000).toFixed(1)} s of ${(trafficEnd / 1000).toFixed(1)} s of traffic`);
    console.log(`device stats: sent ${st.sent}, received ${st.received}, dropped ${st.dropped}, oversize ${st.oversize}`);
    console.log(`device errors by code: ${JSON.stringify(endLine?.errs ?? {})}`);
    console.log(`faults: ${faults.join("; ")}`);
    console.log(`memory at start: process.memory().usage ${startLine.mem} vars (client object ${startLine.size})`);
    console.log(`memory at end:   process.memory().usage ${endLine ? endLine.mem : "?"} vars of ${endLine ? endLine.total : "?"} ` +
      `(client object ${endLine ? endLine.size : "?"}); during traffic every 5 s: min ${Math.min(...memTrail)}, max ${Math.max(...memTrail)}`);
    console.log(`interpreter: ${exitNote}`);
    const clean = run.output().replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split(/\r?\n/).map((l) => l.replace(/^>+/, ""));
    const uncaught = clean.filter((l) => !l.includes("@@") && /Uncaught|ERROR|[Oo]ut of [Mm]emory|MEMORY/.test(l));
    if (uncaught.length) { console.log(`interpreter errors: ${uncaught.slice(0, 5).join(" | ")}`); bad++; }
    if (errLines.length) console.log(`script notes: ${errLines.slice(0, 5).join(" | ")}`);
    if (up.sent < ESP_N || down.sent < ESP_N) {
      console.log(`note: the time bound (${ESP_SECONDS} s) stopped traffic before ${ESP_N} messages each way (up ${up.sent}, down ${down.sent})`);
    }
    console.log(bad ? "RESULT (Espruino): FAILED (QoS 1/2 loss, QoS 2 duplicate or interpreter error)" : "RESULT (Espruino): ok");
    return bad ? 1 : 0;
  } finally {
    while (cleanups.length) {
      try { await (cleanups.pop() as () => unknown)(); } catch { /* keep closing the rest */ }
    }
  }
}

async function main(): Promise<number> {
  const bin = process.env.ESPRUINO;
  let code = 0;
  if (!(bin && process.env.SOAK_ONLY_ESPRUINO)) code = await simSoak();
  if (bin) {
    if (!process.env.SOAK_ONLY_ESPRUINO) console.log("");
    code = Math.max(code, await espSoak(bin));
  }
  return code;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 2; });
