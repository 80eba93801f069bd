// `npm run bench`: figures for issue 12 (the client as a board runs it). Prints, asserts nothing, exits 0,
// and stops every broker, client and interpreter it started.
//
//   1. bundle bytes (raw, gzip) of firmware/*.js beside Espruino's tinyMQTT and MQTT modules
//   2. on Node, one Mosquitto: publish and receive throughput of firmware/mote-mqtt.js in the host
//      simulator beside mqtt.js, as ratios
//   2b. function text executed per published and per received message (bytes), in the simulator
//   3. with ESPRUINO=/path/to/espruino: the same client under that interpreter beside the reference
//      modules, each loaded from Storage (st) and into RAM (ram): process.memory().usage after require,
//      after connect + 2 subscriptions, after 1000 QoS 0 publishes; publish and receive rates; a
//      1000-publish burst on the 1600-variable layout
//   4. the issue's targets, measured vs target (same-run ratios against the MQTT module)
//   5. Home Assistant discovery: variables free with it off and on, both layouts (bench-ha.ts)
//   6. battery boards (bench-battery.ts): awake time, bytes and flash writes per sleep cycle, variables
//   6b. remote management (bench-remote.ts): an update and a config change over MQTT (bytes/s, peak
//      variables above idle) in the simulator and on the real interpreter, beside the espruino tool's
//      upload of the same bundle over --telnet
//   7. the fleet monitor (bench-fleet.ts): real-bundle boards per process, and 1,000 boards on one
//      broker: the page's lag, the monitor's memory, scrolling
//
// BENCH_ONLY=name[,name...] runs only those sections: bundle, node, text, espruino (with the targets),
// runtime (the device runtime's variables from Storage, bench-runtime.ts), ha, battery, remote, fleet. BENCH_FLEET=0 leaves out the fleet section (4-8 minutes).
//
// Environment: ESPRUINO (interpreter, 16383-variable layout), ESPRUINO_1600 (default: espruino-1600 next
// to ESPRUINO), TINYMQTT / MQTTMOD (reference module files; default /work/espruino-ref/*.min.js when
// present), BENCH_N (messages on Node, default 5000), BENCH_ESP_N (messages on Espruino, default 1000),
// BENCH_REPEAT (runs per rate measurement, best shown; default 3), BENCH_CYCLES (sleep cycles, default 8),
// BENCH_MODULES (on Espruino: mote, tiny, mqtt).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import type { MqttClient } from "mqtt";
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import { SimBoard, clientParts } from "../host/index.js";
import { startMosquitto, type MosquittoInstance } from "../../test/support/mosquitto.js";
import { mqttjsClient, endClient } from "../../test/support/util.js";
import { runEspruino, writeStorage, type EspruinoRun } from "./espruino-run.js";
import { sectionBattery } from "./bench-battery.js";
import { sectionFleet } from "./bench-fleet.js";
import { sectionHomeAssistant } from "./bench-ha.js";
import { sectionRuntime } from "./bench-runtime.js";
import { sectionRemote } from "./bench-remote.js";

// The repository: this file runs as .build/host/src/tools/bench.js.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const FW = path.join(ROOT, "firmware");
const N_NODE = Number(process.env.BENCH_N) || 5000;
const N_ESP = Number(process.env.BENCH_ESP_N) || 1000;
const HOST = "127.0.0.1";
/** Runs per rate measurement (best shown). */
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT) || 3);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
const fmtRate = (r: number | undefined) => (r === undefined || !isFinite(r) ? "-" : Math.round(r).toLocaleString("en-US"));
const fmtRatio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !isFinite(a) || !isFinite(b) || b <= 0 ? "-" : (a / b).toFixed(2) + "x";
const pad = (s: unknown, n: number) => String(s).padEnd(n);
const lpad = (s: unknown, n: number) => String(s).padStart(n);

/** The 32-byte payload number k (same text on Node and in the Espruino scripts). */
function payload(k: number): string {
  const s = "00000" + k;
  return s.substr(s.length - 6) + "-abcdefghijklmnopqrstuvwxy";
}
const PAYLOAD_JS = 'function pay(k){var s="00000"+k;return s.substr(s.length-6)+"-abcdefghijklmnopqrstuvwxy";}';

function existing(p: string | undefined): string | undefined {
  return p && fs.existsSync(p) ? p : undefined;
}
/** A reference module: the env variable when set (reported when missing), else the default if present. */
function refPath(env: string, dflt: string): { path?: string; note?: string } {
  const v = process.env[env];
  if (v) return fs.existsSync(v) ? { path: v } : { note: `${env}=${v} does not exist` };
  return { path: existing(dflt) };
}
const TINY = refPath("TINYMQTT", "/work/espruino-ref/tinyMQTT.min.js");
const MQTTMOD = refPath("MQTTMOD", "/work/espruino-ref/MQTT.min.js");

let runSeq = 0;
const runId = () => `${process.pid}-${++runSeq}`;

// ============================================================================ 1. bundle

function sectionBundle(): void {
  console.log("== 1. Bundle ==");
  const rows: [string, string | undefined][] = [
    ["firmware/mote-mqtt.js", path.join(FW, "mote-mqtt.js")],
    ["firmware/mote.js", existing(path.join(FW, "mote.js"))],
    ["tinyMQTT (minified)", TINY.path],
    ["MQTT module (minified)", MQTTMOD.path],
  ];
  for (const [name, p] of rows) {
    if (!p) continue;
    try {
      const buf = fs.readFileSync(p);
      const gz = zlib.gzipSync(buf, { level: 9 }).length;
      console.log(`  ${pad(name, 24)} ${lpad(buf.length.toLocaleString("en-US"), 7)} bytes  ${lpad(gz.toLocaleString("en-US"), 6)} gzipped`);
    } catch (e) {
      console.log(`  ${pad(name, 24)} skipped: ${errText(e)}`);
    }
  }
  for (const r of [TINY, MQTTMOD]) if (r.note) console.log(`  (${r.note})`);
}

// ============================================================================ helpers: counting subscriber

interface Counter {
  n: number;
  bad: number;
  badSample?: string;
  seen: Set<number>;      // payload numbers received intact
  last: number;   // Date.now() of the last message
  active: number; // Date.now() of the last activity (message or a kick from outside)
  /** Resolves once `want` messages arrived, or nothing happened for idleMs, or after maxMs. */
  wait(want: number, idleMs: number, maxMs: number): Promise<void>;
  stop(): void;
}

function counter(client: MqttClient, topic: string): Counter {
  const c: Counter = {
    n: 0, bad: 0, last: 0, active: Date.now(), seen: new Set(),
    async wait(want, idleMs, maxMs) {
      const end = Date.now() + maxMs;
      c.active = Math.max(c.active, Date.now());
      while (c.n + c.bad < want && Date.now() < end && Date.now() - c.active < idleMs) await sleep(10);
    },
    stop() { client.removeListener("message", on); },
  };
  const on = (t: string, p: Buffer) => {
    if (t !== topic) return;
    const m = p.toString("latin1");
    if (m.length === 32 && m === payload(parseInt(m.substr(0, 6), 10))) { c.n++; c.seen.add(parseInt(m.substr(0, 6), 10)); }
    else { c.bad++; c.badSample ??= JSON.stringify(m.length > 40 ? m.slice(0, 40) + "..." : m); }
    c.last = c.active = Date.now();
  };
  client.on("message", on);
  return c;
}

async function subscriber(url: string, topic: string): Promise<{ client: MqttClient; count: Counter }> {
  const client = await mqttjsClient(url, { clientId: "bench-sub-" + runId() });
  const count = counter(client, topic);
  await client.subscribeAsync(topic, { qos: 0 });
  return { client, count };
}

/** mqtt.js publishes n QoS 0 messages as fast as it takes them; returns the time of the first. */
function mqttjsBurst(client: MqttClient, topic: string, n: number): number {
  const t0 = Date.now();
  for (let k = 0; k < n; k++) client.publish(topic, payload(k), { qos: 0 });
  return t0;
}

// ============================================================================ 2. Node: simulator vs mqtt.js

interface Rate { n: number; want: number; ms: number; rate: number }
const rateOf = (n: number, want: number, t0: number, t1: number): Rate =>
  ({ n, want, ms: t1 - t0, rate: n > 0 && t1 > t0 ? n / ((t1 - t0) / 1000) : NaN });
/** The fastest run among those that got every message (else among all). */
function bestRate(runs: Rate[]): Rate | undefined {
  const ok = (r: Rate) => r.n > 0 && isFinite(r.rate);
  const full = runs.filter((r) => ok(r) && r.n >= r.want);
  const pool = full.length ? full : runs.filter(ok);
  return pool.length ? pool.reduce((a, b) => (b.rate > a.rate ? b : a)) : runs[0];
}
const fmtRun = (r: Rate) => `${lpad(fmtRate(r.rate), 8)} msg/s  (${r.n}/${r.want} in ${r.ms} ms)`;

/** A SimBoard running firmware/mote-mqtt.js, connected to the broker, with the bench globals set up. */
async function simClient(broker: MosquittoInstance, setup: string): Promise<SimBoard> {
  const board = new SimBoard({ maxLogs: 200 });
  try {
    board.loadClient(path.join(FW, "mote-mqtt.js"));
    board.run(`${PAYLOAD_JS}
var st = {up: false, err: ""};
var c = require("mote-mqtt").create(${JSON.stringify(HOST)}, {port: ${broker.port}, client_id: "bench-sim-${runId()}"});
c.on("error", function (e) { if (e.code != "queue_full") st.err = e.code + ": " + e.message; });
c.on("connected", function () { st.up = true; });
${setup}
c.connect();`, "bench");
    await board.waitFor(() => board.global.st.up === true, 5000, "the simulated client to connect");
    return board;
  } catch (e) {
    board.close();
    throw e;
  }
}

async function simPublish(broker: MosquittoInstance, n: number): Promise<Rate> {
  const topic = `bench/${runId()}/sim-pub`;
  const { client, count } = await subscriber(broker.url, topic);
  let board: SimBoard | undefined;
  try {
    // Paced by publish()'s return value and the client's "drain" event.
    board = await simClient(broker, `var T = ${JSON.stringify(topic)}, N = ${n}, i = 0;
function pump() { while (i < N) { if (!c.publish(T, pay(i))) return; i++; } }
c.on("drain", function () { if (i < N) pump(); });`);
    const t0 = Date.now();
    board.run("pump()");
    await count.wait(n, 3000, 30000);
    const err = board.global.st.err;
    if (err) console.log(`    (simulated client reported: ${err})`);
    if (count.bad) console.log(`    (${count.bad} malformed messages)`);
    return rateOf(count.n, n, t0, count.last);
  } finally {
    board?.close();
    count.stop();
    await endClient(client);
  }
}

/**
 * mqtt.js publisher -> broker -> mqtt.js subscriber: the reference for both directions (publish and
 * receive); `tag` names the topic.
 */
async function mqttjsRelay(broker: MosquittoInstance, n: number, tag: string): Promise<Rate> {
  const topic = `bench/${runId()}/${tag}`;
  const { client, count } = await subscriber(broker.url, topic);
  const pub = await mqttjsClient(broker.url, { clientId: "bench-pub-" + runId() });
  try {
    const t0 = mqttjsBurst(pub, topic, n);
    await count.wait(n, 3000, 30000);
    return rateOf(count.n, n, t0, count.last);
  } finally {
    count.stop();
    await endClient(pub);
    await endClient(client);
  }
}

async function simReceive(broker: MosquittoInstance, n: number): Promise<Rate> {
  const topic = `bench/${runId()}/sim-recv`;
  const board = await simClient(broker, `var T = ${JSON.stringify(topic)}, rx = {n: 0, bad: 0, last: 0, subbed: false};
c.on("subscribed", function () { rx.subbed = true; });
c.on("message", function (t, m) {
  if (t == T && m.length == 32 && m == pay(parseInt(m.substr(0, 6), 10))) rx.n++; else rx.bad++;
  rx.last = Date.now();
});
c.on("connected", function () { c.subscribe(T); });`);
  const pub = await mqttjsClient(broker.url, { clientId: "bench-pub-" + runId() }).catch((e) => { board.close(); throw e; });
  try {
    await board.waitFor(() => board.global.rx.subbed === true, 5000, "SUBACK");
    const rx = board.global.rx;
    const t0 = mqttjsBurst(pub, topic, n);
    let seen = -1, idle = Date.now();
    const end = Date.now() + 30000;
    while (rx.n + rx.bad < n && Date.now() < end && Date.now() - idle < 3000) {
      if (rx.n + rx.bad !== seen) { seen = rx.n + rx.bad; idle = Date.now(); }
      await sleep(10);
    }
    if (rx.bad) console.log(`    (${rx.bad} malformed messages)`);
    return rateOf(rx.n, n, t0, rx.last);
  } finally {
    board.close();
    await endClient(pub);
  }
}

async function sectionNode(broker: MosquittoInstance | undefined, brokerError: string | undefined): Promise<void> {
  console.log(`\n== 2. Node: host simulator (firmware/mote-mqtt.js) vs mqtt.js, Mosquitto on loopback, N=${N_NODE} QoS 0 x 32 bytes ==`);
  if (!broker) { console.log(`  skipped: ${brokerError}`); return; }
  if (!fs.existsSync(path.join(FW, "mote-mqtt.js"))) { console.log("  skipped: firmware/mote-mqtt.js not built"); return; }
  // Each measurement runs REPEAT times; the best complete run is shown (all runs' rates after it).
  const row = async (label: string, fn: () => Promise<Rate>): Promise<number | undefined> => {
    const runs: Rate[] = [];
    let failure: string | undefined;
    for (let k = 0; k < REPEAT; k++) {
      try { runs.push(await fn()); } catch (e) { failure = errText(e); }
    }
    const best = bestRate(runs);
    if (!best) { console.log(`  ${pad(label, 34)} skipped: ${failure ?? "no run"}`); return undefined; }
    console.log(`  ${pad(label, 34)} ${fmtRun(best)}  runs: ${runs.map((r) => fmtRate(r.rate)).join(", ")}` +
      (failure ? `; a run failed: ${failure}` : ""));
    return best.n ? best.rate : undefined;
  };
  const a = await row("(a) publish: mote (simulator)", () => simPublish(broker, N_NODE));
  const b = await row("(b) publish: mqtt.js", () => mqttjsRelay(broker, N_NODE, "js-pub"));
  const c1 = await row("(c) receive: mote (simulator)", () => simReceive(broker, N_NODE));
  const c2 = await row("(c) receive: mqtt.js", () => mqttjsRelay(broker, N_NODE, "js-recv"));
  console.log(`  ratio mote/mqtt.js: publish ${fmtRatio(a, b)}, receive ${fmtRatio(c1, c2)}`);
}

// ============================================================================ 2b. text executed per message

/**
 * The bundle with a call `__tx(n)` at the start of every function, n being the length of that function's
 * text in the bundle. Espruino runs a function by lexing its text from start to end (skipped branches and
 * nested function bodies included; from Storage every byte is read from flash), so the sum of n over the
 * calls a message causes is the text the interpreter reads for it.
 */
function instrument(src: string): string {
  const ast = acorn.parse(src, { ecmaVersion: 2020, sourceType: "script" });
  const edits: { at: number; text: string }[] = [];
  walk.full(ast, (n: any) => {
    if (!/Function/.test(n.type)) return;
    const len = n.end - n.start;
    if (n.body.type === "BlockStatement") edits.push({ at: n.body.start + 1, text: `__tx(${len});` });
    else { edits.push({ at: n.body.start, text: `(__tx(${len}),` }); edits.push({ at: n.body.end, text: ")" }); }
  });
  edits.sort((x, y) => y.at - x.at);
  let out = src;
  for (const e of edits) out = out.slice(0, e.at) + e.text + out.slice(e.at);
  return out;
}

interface TextCost { pub?: number; recv?: number; pubCalls?: number; recvCalls?: number; note?: string }

/** Bytes of function text (and calls) per published and per received message, in the simulator. */
async function textCost(broker: MosquittoInstance, kind: Kind, file: string, n: number): Promise<TextCost> {
  const board = new SimBoard({ maxLogs: 200, bytes: true });
  const topic = `bench/${runId()}/text`, tin = topic + "/in", tout = topic + "/out";
  const { client, count } = await subscriber(broker.url, tout);
  const pub = await mqttjsClient(broker.url, { clientId: "bench-pub-" + runId() });
  try {
    for (const f of moduleFiles(kind, file)) board.addModule(f.name, instrument(fs.readFileSync(f.file, "latin1")));
    const opts = kind === "mote" ? `{port: ${broker.port}, client_id: "bench-text-${runId()}"}` : kind === "mqtt" ?
      `{port: ${broker.port}, client_id: "bench-text-${runId()}"}` : `{port: ${broker.port}, reconnect_interval: 200}`;
    board.run(`${PAYLOAD_JS}
var tx = {bytes: 0, calls: 0}, st = {up: 0, subs: 0, rn: 0}, i = 0, N = ${n}, TO = ${JSON.stringify(tout)};
function __tx(k) { tx.bytes += k; tx.calls++; }
var c = require(${JSON.stringify(MODULE_NAME[kind])}).create(${JSON.stringify(HOST)}, ${opts});
c.on("connected", function () { st.up = 1; c.subscribe(${JSON.stringify(tin)}); c.subscribe(${JSON.stringify(topic + "/ctl")}); });
c.on("subscribed", function () { st.subs++; });
c.on("message", function (t, m) { st.rn++; });
c.on("drain", function () { if (i < N) pump(); });
function pump() { while (i < N) { if (c.publish(TO, pay(i)) === false) return; i++; } }
c.connect();`, "bench-text");
    // tinyMQTT reports no SUBACK: give the broker time instead.
    await board.waitFor(() => board.global.st.subs >= 2 || (kind === "tiny" && board.global.st.up), 5000, "SUBACK");
    await sleep(300);
    const g = board.global;
    g.tx.bytes = 0; g.tx.calls = 0;
    board.run("pump()");
    await count.wait(n, 2000, 20000);
    const res: TextCost = {};
    if (count.n === n) { res.pub = g.tx.bytes / n; res.pubCalls = g.tx.calls / n; } else res.note = `published ${count.n}/${n}`;
    g.tx.bytes = 0; g.tx.calls = 0;
    for (let k = 0; k < n; k++) pub.publish(tin, payload(k), { qos: 0 });
    const end = Date.now() + 20000;
    while (g.st.rn < n && Date.now() < end) await sleep(20);
    await sleep(500);
    // Per message received (the MQTT module loses some in the simulator when several share a chunk).
    if (g.st.rn) { res.recv = g.tx.bytes / g.st.rn; res.recvCalls = g.tx.calls / g.st.rn; }
    if (g.st.rn !== n) res.note = `received ${g.st.rn}/${n}`;
    return res;
  } finally {
    board.close();
    count.stop();
    await endClient(pub);
    await endClient(client);
  }
}

async function sectionText(broker: MosquittoInstance | undefined, brokerError: string | undefined): Promise<void> {
  const n = 200;
  console.log(`\n== 2b. Function text executed per message (host simulator, strings as bytes; ${n} QoS 0 x 32 bytes each way) ==`);
  console.log("  Every function of the bundle is instrumented to add its own text length (minified bytes, nested functions");
  console.log("  included) on each call; the sum over a phase divided by the messages is the text the interpreter lexes per");
  console.log("  message (from Storage: reads from flash). Socket writes, emit and the receiving script are not counted.");
  if (!broker) { console.log(`  skipped: ${brokerError}`); return; }
  const mods: [Kind, string | undefined][] = [["mote", existing(path.join(FW, "mote-mqtt.js"))], ["mqtt", MQTTMOD.path], ["tiny", TINY.path]];
  for (const [kind, file] of mods) {
    if (!file) continue;
    try {
      const r = await textCost(broker, kind, file, n);
      const f = (b?: number, c?: number) => (b === undefined ? "-" : `${Math.round(b).toLocaleString("en-US")} bytes in ${c?.toFixed(1)} calls`);
      console.log(`  ${pad(LABEL[kind], 12)} publish ${pad(f(r.pub, r.pubCalls), 26)} receive ${f(r.recv, r.recvCalls)}${r.note ? `  (${r.note})` : ""}`);
    } catch (e) {
      console.log(`  ${pad(LABEL[kind], 12)} skipped: ${errText(e)}`);
    }
  }
}

// ============================================================================ 3. Espruino

type Kind = "mote" | "tiny" | "mqtt";
const MODULE_NAME: Record<Kind, string> = { mote: "mote-mqtt", tiny: "tinyMQTT", mqtt: "MQTT" };
const LABEL: Record<Kind, string> = { mote: "mote", tiny: "tinyMQTT", mqtt: "MQTT module" };

/**
 * Per-module client code of the Espruino script (each reference module's own API and events): `defs`
 * are top-level functions (created with the script, before the baseline), `start` only creates the
 * client, attaches them and connects, so the figures hold no function of the script's own.
 */
function clientCode(kind: Kind): { defs: string; start: string } {
  if (kind === "mote") return {
    defs: `
function onErr(e) { if (e.code != "queue_full") out("ERR " + e.code + " " + e.message); }
function onConn() { out("CONN"); c.subscribe(TI); c.subscribe(TC); }
function onDrain() { if (go && i < N) pub(); }
// Paced: publish() returns false when the queue is full; "drain" says when to go on.
function pub() { while (i < N) { if (!c.publish(TO, pay(i))) return; i++; } pubDone(); }`,
    start: `
  c = m.create(H, {port: P, client_id: "bench-mote-" + RUN});
  c.on("error", onErr);
  c.on("connected", onConn);
  c.on("subscribed", subbed);
  c.on("message", onMsg);
  c.on("drain", onDrain);
  c.connect();`,
  };
  if (kind === "mqtt") return {
    defs: `
function onErr(e) { out("ERR " + e); }
function onConn() { out("CONN"); c.subscribe(TI); c.subscribe(TC); }
function pub() { for (; i < N; i++) c.publish(TO, pay(i)); pubDone(); }`,
    start: `
  c = m.create(H, {port: P, client_id: "bench-mqtt-" + RUN});
  c.on("error", onErr);
  c.on("connected", onConn);
  c.on("subscribed", subbed);
  c.on("message", onMsg);
  c.connect();`,
  };
  // tinyMQTT: "connected" comes right after CONNECT is written (it never reads CONNACK), it reports no
  // SUBACK (give the broker 500 ms), "message" carries {topic, message}; connect() waits reconnect_interval.
  return {
    defs: `
function subAcked() { subbed(); subbed(); }
function onConn() { out("CONN"); c.subscribe(TI); c.subscribe(TC); setTimeout(subAcked, 500); }
function onTinyMsg(o) { onMsg(o.topic, o.message); }
function pub() { for (; i < N; i++) c.publish(TO, pay(i)); pubDone(); }`,
    start: `
  c = m.create(H, {port: P, reconnect_interval: 200});
  c.on("connected", onConn);
  c.on("message", onTinyMsg);
  c.connect();`,
  };
}

/**
 * The Espruino script. Lines it prints start with "@@": REQ vars, CONN, SUB vars, PUBT0 ms,
 * PUBMEM vars ms, RECV correct bad lastMs vars, END why vars, ERR ..., TIMEOUT.
 * Memory figures are process.memory().usage minus the usage just before require, taken once the script's
 * own functions are defined and its text freed.
 */
function espScript(kind: Kind, load: Load, port: number, topics: { out: string; in: string; ctl: string }, receive: boolean, safetyMs: number, run: string): string {
  const code = clientCode(kind);
  return `var N = ${N_ESP}, H = ${JSON.stringify(HOST)}, P = ${port}, RUN = ${JSON.stringify(run)}, RX = ${receive ? 1 : 0};
var S = require("Storage"), NAME = ${JSON.stringify(MODULE_NAME[kind])}, RAM = ${load === "RAM" ? 1 : 0};
var TO = ${JSON.stringify(topics.out)}, TI = ${JSON.stringify(topics.in)}, TC = ${JSON.stringify(topics.ctl)};
var c, go = 0, i = 0, nsub = 0, rn = 0, rbad = 0, rt1 = 0, iv, kill, fin = 0;
${PAYLOAD_JS}
function out(s) { print("@@" + s); }
function mem() { return process.memory().usage - u0; }
function finish(why) {
  if (fin) return;
  fin = 1;
  out("END " + why + " " + mem());
  if (iv) clearInterval(iv);
  clearTimeout(kill);
  try { c.disconnect(); } catch (e) { out("ERR disconnect threw " + e); }
  // Whatever timers the module still holds (pings, reconnects): clear them all so the interpreter exits.
  setTimeout(clearAll, 300);
}
function onMsg(t, msg) {
  if (t == TC) { finish("stop"); return; }
  if (t == TI && msg.length == 32 && msg == pay(parseInt(msg.substr(0, 6), 10))) rn++; else rbad++;
  rt1 = Date.now();
}
function check() {
  if (rn + rbad > 0 && (rn + rbad >= N || Date.now() - rt1 > 1500)) { out("RECV " + rn + " " + rbad + " " + rt1 + " " + mem()); finish("done"); }
}
function pubDone() { out("PUBMEM " + mem() + " " + Date.now()); }
function ready() { out("SUB " + mem() + " " + Modules.getCached().join(",")); if (RX) iv = setInterval(check, 100); out("PUBT0 " + Date.now()); go = 1; pub(); }
function subbed() { if (++nsub == 2) setTimeout(ready, 300); }
${code.defs}
function onKill() { out("TIMEOUT"); finish("timeout"); }
function clearAll() { clearInterval(); }
kill = setTimeout(onKill, ${safetyMs});
// Everything runs from a timer: by then the script's own text is freed (measured from the top level,
// its release would be subtracted from every later figure) and only the script's functions remain.
var u0, m, u1;
function start() {
  u0 = process.memory().usage;
  // RAM: the module's text copied out of flash ("\\n" + : E.toString would hand back the flash string
  // itself) and evaluated from that RAM string, as the Web IDE's Modules.addCached does.
  if (RAM) Modules.addCached(NAME, "\\n" + S.read(NAME));
  m = require(NAME); u1 = process.memory().usage;
  // +1: the variable holding the module, which the facts file's method (var m=require(...) at the top
  // level, minus 1 for u1) counts; same figures as that method.
  out("REQ " + (u1 - u0 + 1));
${code.start}
}
setTimeout(start, 10);
`;
}

interface EspResult {
  req?: number;
  sub?: number;
  /** Modules.getCached() when `sub` was measured: which of mote's parts stayed loaded. */
  cached?: string;
  pubMem?: number;
  pubRate?: Rate;
  recv?: { n: number; bad: number; rate: number };
  recvMem?: number;
  oom: boolean;
  timeout: boolean;
  exit: string;
  notes: string[];
}

const OOM_RE = /[Oo]ut of [Mm]emory|OUT OF MEMORY|\bMEMORY\b|New interpreter error/;

/** runEspruino with the bench's line format: "@@TAG arg arg ...". */
function runBench(bin: string, cwd: string, script: string, onLine: (tag: string, args: string[]) => void): EspruinoRun {
  return runEspruino(bin, cwd, "bench.js", script, (text) => {
    const parts = text.trim().split(/\s+/);
    try { onLine(parts[0], parts.slice(1)); } catch { /* a bad line is the run's problem, not ours */ }
  });
}

/** How a module is loaded: "Storage" (as a board loads it: function code stays in flash) or "RAM" (its
 *  text evaluated from a RAM string with Modules.addCached, as the Web IDE uploads a module). */
type Load = "Storage" | "RAM";
const TAG: Record<Load, "st" | "ram"> = { Storage: "st", RAM: "ram" };

/** The files of a module: mote's core and its parts (firmware/mote-mqtt-*.js, loaded on first use). */
function moduleFiles(kind: Kind, file: string): { name: string; file: string }[] {
  return [{ name: MODULE_NAME[kind], file }, ...(kind === "mote" ? clientParts(path.dirname(file)) : [])];
}

/** A fresh temp cwd whose Storage (./espruino.flash) holds the module's files. */
async function prepareCwd(bin: string, kind: Kind, file: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mote-bench-${kind}-`));
  await writeStorage(bin, dir, moduleFiles(kind, file));
  return dir;
}

/**
 * One Espruino run in `cwd` (from prepareCwd; removed afterwards): memory, publish (seen by an mqtt.js
 * subscriber) and, when `receive`, receive.
 */
async function espRun(bin: string, broker: MosquittoInstance, kind: Kind, load: Load, cwd: string, receive: boolean): Promise<EspResult> {
  const res: EspResult = { oom: false, timeout: false, exit: "", notes: [] };
  const run = runId();
  const topics = { out: `bench/${run}/out`, in: `bench/${run}/in`, ctl: `bench/${run}/ctl` };
  const safetyMs = receive ? 40000 : 20000;
  let sub: MqttClient | undefined, count: Counter | undefined;
  let pub: MqttClient | undefined;
  let r: EspruinoRun | undefined;
  let t0 = 0, pubDone = false, recvT1 = 0, ended = false;
  let hardKill: NodeJS.Timeout | undefined;
  try {
    const s = await subscriber(broker.url, topics.out);
    sub = s.client;
    const cnt = s.count;
    count = cnt;
    pub = await mqttjsClient(broker.url, { clientId: "bench-pub-" + run });
    r = runBench(bin, cwd, espScript(kind, load, broker.port, topics, receive, safetyMs, run), (tag, a) => {
      cnt.active = Date.now();
      const num = (k: number) => Number(a[k]);
      if (tag === "REQ") res.req = num(0);
      else if (tag === "SUB") { res.sub = num(0); res.cached = a[1]; }
      else if (tag === "PUBT0") t0 = num(0);
      else if (tag === "PUBMEM") { res.pubMem = num(0); pubDone = true; }
      else if (tag === "RECV") { res.recv = { n: num(0), bad: num(1), rate: NaN }; recvT1 = num(2); res.recvMem = num(3); }
      else if (tag === "END") ended = true;
      else if (tag === "TIMEOUT") res.timeout = true;
      else if (tag === "ERR" && res.notes.length < 4) res.notes.push(a.join(" "));
    });
    hardKill = setTimeout(r.kill, safetyMs + 10000);
    let exitInfo: string | undefined;
    void r.exited.then((x) => { exitInfo = x; });
    // Publish phase: wait for PUBT0, then for the subscriber to see all N (or nothing more for 3 s).
    const deadline = Date.now() + safetyMs;
    while (!t0 && !exitInfo && Date.now() < deadline) await sleep(20);
    if (t0) {
      await cnt.wait(N_ESP, 3000, Math.max(0, deadline - Date.now()));
      // A client still sending (no PUBMEM yet) is still working: wait for its loop to end.
      while (!pubDone && !exitInfo && Date.now() < deadline && Date.now() - cnt.active < 3000) await sleep(20);
      if (cnt.n + cnt.bad < N_ESP && !exitInfo) await cnt.wait(N_ESP, 1000, Math.max(0, deadline - Date.now()));
      res.pubRate = rateOf(cnt.n, N_ESP, t0, cnt.last);
      if (cnt.bad) res.notes.push(`${cnt.bad} malformed at the subscriber (first: ${cnt.badSample})`);
      const missing: number[] = [];
      for (let k = 0; k < N_ESP && missing.length <= 5; k++) if (!cnt.seen.has(k)) missing.push(k);
      if (missing.length && missing.length <= 5) res.notes.push(`not arrived intact: #${missing.join(", #")}`);
    }
    // Receive phase: mqtt.js publishes N to the Espruino client; the script reports RECV itself.
    let recvT0 = 0;
    if (receive && t0 && !exitInfo) {
      recvT0 = mqttjsBurst(pub, topics.in, N_ESP);
      const end = Math.min(deadline, Date.now() + 20000);
      while (!res.recv && !ended && !exitInfo && Date.now() < end) await sleep(20);
      if (res.recv) res.recv.rate = rateOf(res.recv.n, N_ESP, recvT0, recvT1).rate;
    }
    // Ask the script to stop (it also stops on its own after RECV or at its safety timeout).
    if (!ended && !exitInfo) pub.publish(topics.ctl, "stop", { qos: 0 });
    const stopBy = Date.now() + 5000;
    while (!exitInfo && Date.now() < stopBy) await sleep(20);
    if (!exitInfo) { res.notes.push("did not exit by itself: killed"); r.kill(); await r.exited; }
    res.exit = exitInfo ?? "killed";
    if (exitInfo && exitInfo !== "code 0") res.notes.push(`interpreter exit ${exitInfo}`);
    // Without the console's prompt and terminal escapes.
    const output = r.output().replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/^>+/gm, "");
    res.oom = OOM_RE.test(output.replace(/@@.*$/gm, ""));
    if (res.oom) {
      const line = output.split(/\r?\n/).find((l) => OOM_RE.test(l) && !l.includes("@@"));
      if (line) res.notes.push(line.trim());
    }
    const uncaught = output.split(/\r?\n/).find((l) => /Uncaught|ERROR/.test(l) && !l.includes("@@"));
    if (uncaught && !res.notes.includes(uncaught.trim())) res.notes.push(uncaught.trim());
    return res;
  } finally {
    clearTimeout(hardKill);
    r?.kill();
    if (r) { await Promise.race([r.exited, sleep(2000)]); r.proc.stdin!.destroy(); }
    count?.stop();
    await endClient(pub);
    await endClient(sub);
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

type Slot = { ram?: EspResult; st?: EspResult };
interface EspFigures {
  mote?: Slot;
  tiny?: Slot;
  mqtt?: Slot;
  burst?: Slot & { bin: string };
}

async function sectionEspruino(broker: MosquittoInstance | undefined, brokerError: string | undefined): Promise<EspFigures | undefined> {
  console.log(`\n== 3. Espruino interpreter: ${N_ESP} QoS 0 x 32 bytes, Mosquitto on loopback ==`);
  const bin = process.env.ESPRUINO;
  if (!bin) { console.log("  skipped: ESPRUINO is not set (ESPRUINO=/path/to/espruino npm run bench)"); return undefined; }
  if (!fs.existsSync(bin)) { console.log(`  skipped: ESPRUINO=${bin} does not exist`); return undefined; }
  if (!broker) { console.log(`  skipped: ${brokerError}`); return undefined; }
  const moteFile = path.join(FW, "mote-mqtt.js");
  // BENCH_MODULES=mote,mqtt: only those (mote, tiny, mqtt).
  const only = process.env.BENCH_MODULES?.split(",");
  const mods = ([["mote", existing(moteFile)], ["tiny", TINY.path], ["mqtt", MQTTMOD.path]] as [Kind, string | undefined][])
    .filter(([k]) => !only || only.includes(k));
  const figs: EspFigures = {};
  console.log(`  interpreter: ${bin}`);
  console.log("  vars = process.memory().usage minus the usage just before require, all taken from timers once the script's");
  console.log("        text is freed; the script's functions exist before that baseline; the client, its socket and the");
  console.log("        listeners attached to it count. require follows the facts file's method.");
  console.log("  load: st = from Storage (as a board loads it: function code stays in flash, read on every call);");
  console.log("        ram = the module's text evaluated from a RAM string (Modules.addCached, as the Web IDE uploads it).");
  console.log("        mote's parts (firmware/mote-mqtt-*.js) are Storage files in both, loaded on first use; \"cached\"");
  console.log("        lists the modules still loaded when conn+2sub is measured.");
  console.log(`  rates: best of ${REPEAT} runs; pub = first publish to last arrival at an mqtt.js subscriber;`);
  console.log("        recv = mqtt.js publishes N to the client, first publish to last correct message (payload checked)");
  const head = `  ${pad("module", 12)} ${pad("load", 4)} ${lpad("require", 7)} ${lpad("conn+2sub", 9)} ${lpad("1000 pub", 8)} ${lpad("pub msg/s", 9)} ${lpad("(arrived)", 9)} ${lpad("recv ok", 7)} ${lpad("recv msg/s", 10)}  notes`;
  console.log(head);
  // Interleaved (module by module within each round), so a slow spell of this shared machine hits
  // every module alike rather than one of them.
  const runs: Record<string, EspResult[]> = {}, fails: Record<string, string> = {};
  for (let k = 0; k < REPEAT; k++) {
    for (const load of ["Storage", "RAM"] as const) {
      for (const [kind, file] of mods) {
        if (!file) continue;
        const key = kind + " " + load;
        try {
          (runs[key] ??= []).push(await espRun(bin, broker, kind, load, await prepareCwd(bin, kind, file), true));
        } catch (e) {
          fails[key] = errText(e);
        }
      }
    }
  }
  for (const [kind, file] of mods) {
    if (!file) { console.log(`  ${pad(LABEL[kind], 12)} skipped: module file not found`); continue; }
    const slot: Slot = {};
    figs[kind] = slot;
    for (const load of ["Storage", "RAM"] as const) {
      const key = kind + " " + load, got = runs[key] ?? [];
      if (!got.length) { console.log(`  ${pad(LABEL[kind], 12)} ${pad(TAG[load], 4)} skipped: ${fails[key]}`); continue; }
      const r = mergeRuns(got);
      if (fails[key]) r.notes.push(`a run failed: ${fails[key]}`);
      slot[TAG[load]] = r;
      console.log(espRow(LABEL[kind], TAG[load], r));
    }
  }
  const pubRate = (r: EspResult | undefined) => (r?.pubRate && r.pubRate.n ? r.pubRate.rate : undefined);
  const recvRate = (r: EspResult | undefined) => (r?.recv && r.recv.n ? r.recv.rate : undefined);
  for (const t of ["st", "ram"] as const) {
    console.log(`  ratios (${t}): mote publish / MQTT module = ${fmtRatio(pubRate(figs.mote?.[t]), pubRate(figs.mqtt?.[t]))}, ` +
      `/ tinyMQTT = ${fmtRatio(pubRate(figs.mote?.[t]), pubRate(figs.tiny?.[t]))}; ` +
      `mote receive / MQTT module = ${fmtRatio(recvRate(figs.mote?.[t]), recvRate(figs.mqtt?.[t]))}; ` +
      `vars after conn+2sub mote / MQTT module = ${fmtRatio(figs.mote?.[t]?.sub, figs.mqtt?.[t]?.sub)}`);
  }

  // 1600-variable layout: a burst of N_ESP publishes from mote.
  const bin1600 = process.env.ESPRUINO_1600 || existing(path.join(path.dirname(bin), "espruino-1600"));
  console.log(`\n  ESP8266 layout (1600 vars): burst of ${N_ESP} QoS 0 publishes from mote`);
  if (!bin1600 || !fs.existsSync(bin1600)) {
    console.log("  skipped: no ESPRUINO_1600 and no espruino-1600 next to ESPRUINO");
  } else if (!existing(moteFile)) {
    console.log("  skipped: firmware/mote-mqtt.js not built");
  } else {
    console.log(`  interpreter: ${bin1600}`);
    figs.burst = { bin: bin1600 };
    for (const load of ["Storage", "RAM"] as const) {
      const tag = TAG[load];
      try {
        // Storage is written by the main interpreter; the 1600 interpreter reads the same ./espruino.flash.
        const r = await espRun(bin1600, broker, "mote", load, await prepareCwd(bin, "mote", moteFile), false);
        figs.burst[tag] = r;
        const arrived = r.pubRate ? r.pubRate.n : 0;
        console.log(`  ${pad("mote", 12)} ${pad(tag, 4)} require ${r.req ?? "-"}, conn+2sub ${r.sub ?? "-"}, after burst ${r.pubMem ?? "-"} vars; ` +
          `${r.oom ? "OUT OF MEMORY" : "no out-of-memory"}; arrived ${arrived}/${N_ESP}` +
          (r.pubRate && r.pubRate.n ? ` (${fmtRate(r.pubRate.rate)} msg/s)` : "") + (r.notes.length ? `; ${r.notes.join("; ")}` : ""));
      } catch (e) {
        console.log(`  ${pad("mote", 12)} ${pad(tag, 4)} skipped: ${errText(e)}`);
      }
    }
  }
  return figs;
}

/** Memory figures of the first run; the best publish and receive rates of all; every problem of any. */
function mergeRuns(runs: EspResult[]): EspResult {
  const r: EspResult = { ...runs[0], notes: [] };
  const pubs = runs.map((x) => x.pubRate).filter((x): x is Rate => !!x);
  r.pubRate = bestRate(pubs);
  const recvs = runs.map((x) => x.recv).filter((x): x is NonNullable<EspResult["recv"]> => !!x);
  r.recv = recvs.length ? recvs.reduce((a, b) => (b.n > a.n || (b.n === a.n && b.rate > a.rate) ? b : a)) : undefined;
  r.oom = runs.some((x) => x.oom);
  r.timeout = runs.some((x) => x.timeout);
  for (const x of runs) for (const n of x.notes) if (!r.notes.includes(n)) r.notes.push(n);
  if (runs.length > 1) {
    r.notes.push(`${runs.length} runs, pub msg/s ${runs.map((x) => (x.pubRate ? fmtRate(x.pubRate.rate) : "-")).join("/")}` +
      `, recv msg/s ${runs.map((x) => (x.recv ? fmtRate(x.recv.rate) : "-")).join("/")}`);
  }
  return r;
}

function espRow(label: string, tag: string, r: EspResult): string {
  const arrived = r.pubRate ? `${r.pubRate.n}/${r.pubRate.want}` : "-";
  const recvOk = r.recv ? `${r.recv.n}` : "-";
  const notes = [...(r.oom ? ["OUT OF MEMORY"] : []), ...(r.timeout ? ["script timeout"] : []),
    ...(r.recv && r.recv.bad ? [`${r.recv.bad} bad received`] : []), ...(r.cached ? [`cached: ${r.cached}`] : []), ...r.notes];
  return `  ${pad(label, 12)} ${pad(tag, 4)} ${lpad(r.req ?? "-", 7)} ${lpad(r.sub ?? "-", 9)} ${lpad(r.pubMem ?? "-", 8)} ` +
    `${lpad(r.pubRate && r.pubRate.n ? fmtRate(r.pubRate.rate) : "-", 9)} ${lpad(arrived, 9)} ${lpad(recvOk, 7)} ` +
    `${lpad(r.recv && r.recv.n ? fmtRate(r.recv.rate) : "-", 10)}  ${notes.join("; ")}`;
}

// ============================================================================ 4. targets

function sectionTargets(f: EspFigures | undefined): void {
  console.log("\n== 4. Targets (issue 12; ESP32 layout, same-run ratios against the MQTT module; st = from Storage, ram = in RAM) ==");
  if (!f) { console.log("  skipped: no Espruino figures (see section 3)"); return; }
  const line = (what: string, measured: string, target: string, met: boolean | undefined) =>
    console.log(`  ${pad(what, 40)} ${pad(measured, 36)} target ${pad(target, 10)} ${met === undefined ? "not measured" : met ? "met" : "NOT met"}`);
  const ratio = (a: number | undefined, c: number | undefined) =>
    (a !== undefined && c !== undefined && isFinite(a) && isFinite(c) && c > 0 ? a / c : undefined);
  const show = (x: number | undefined, a: number | undefined, c: number | undefined, digits = 0) =>
    x === undefined ? "-" : `${x.toFixed(2)}x (${a?.toFixed(digits)} vs ${c?.toFixed(digits)})`;
  const pr = (r: EspResult | undefined) => (r?.pubRate && r.pubRate.n ? r.pubRate.rate : undefined);
  const rr = (r: EspResult | undefined) => (r?.recv && r.recv.n ? r.recv.rate : undefined);
  for (const t of ["st", "ram"] as const) {
    const m = f.mote?.[t], q = f.mqtt?.[t];
    const vr = ratio(m?.sub, q?.sub), limit = t === "st" ? 1 : 1.5;
    line(`vars after connect + 2 subscriptions (${t})`, show(vr, m?.sub, q?.sub), `<= ${limit}x`, vr === undefined ? undefined : vr <= limit);
    const p = ratio(pr(m), pr(q));
    line(`publish rate (${t})`, show(p, pr(m), pr(q)), ">= 1.5x", p === undefined ? undefined : p >= 1.5);
    const r = ratio(rr(m), rr(q));
    line(`receive rate (${t})`, show(r, rr(m), rr(q)), ">= 1.5x", r === undefined ? undefined : r >= 1.5);
  }
  const b = f.burst;
  const burstRun = b?.st ?? b?.ram;
  if (burstRun) {
    const arrived = burstRun.pubRate ? burstRun.pubRate.n : 0;
    const okRun = (r: EspResult | undefined) => (r ? `${r.oom ? "OOM" : "no OOM"}, ${r.pubRate ? r.pubRate.n : 0}/${N_ESP}` : "-");
    line(`${N_ESP}-msg QoS 0 burst, 1600-var layout`, `st: ${okRun(b?.st)}; ram: ${okRun(b?.ram)}`, "no OOM (st)",
      !burstRun.oom && arrived === N_ESP);
  }
}

// ============================================================================ main

async function main(): Promise<void> {
  const started = Date.now();
  const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(",") : undefined;
  const want = (name: string) => (!only || only.includes(name)) && !(name == "fleet" && process.env.BENCH_FLEET == "0");
  const guard = async (fn: () => unknown) => { try { await fn(); } catch (e) { console.log(`  skipped: ${errText(e)}`); } };
  if (want("bundle")) await guard(sectionBundle);
  if (want("node") || want("text") || want("espruino") || want("runtime") || want("ha") || want("battery") || want("remote")) {
    let broker: MosquittoInstance | undefined, brokerError: string | undefined;
    try {
      broker = await startMosquitto();
    } catch (e) {
      brokerError = "Mosquitto: " + errText(e);
    }
    try {
      if (want("node")) await guard(() => sectionNode(broker, brokerError));
      if (want("text")) await guard(() => sectionText(broker, brokerError));
      if (want("espruino")) {
        let figs: EspFigures | undefined;
        await guard(async () => { figs = await sectionEspruino(broker, brokerError); });
        await guard(() => sectionTargets(figs));
      }
      const bin = existing(process.env.ESPRUINO);
      const bin1600 = bin && existing(process.env.ESPRUINO_1600 || path.join(path.dirname(bin), "espruino-1600"));
      if (want("runtime")) await guard(() => sectionRuntime(broker));
      if (want("ha")) await guard(() => sectionHomeAssistant(broker, FW, bin, bin1600));
      if (want("battery")) await guard(() => sectionBattery(broker));
      if (want("remote")) await guard(() => sectionRemote(broker));
    } finally {
      await broker?.stop();
    }
  }
  if (want("fleet")) await guard(sectionFleet);
  console.log(`\n(bench took ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().then(() => process.exit(0), (e) => { console.log(`bench failed: ${errText(e)}`); process.exit(0); });
