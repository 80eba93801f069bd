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
// default 10; the pause lasts 40% of it). ESPRUINO (an interpreter binary): noted only, the soak on a
// real interpreter is not implemented; the figures come from the host simulator.
// Exit code 1 when a QoS 1/2 message accepted was lost, a QoS 2 message was duplicated, or the board
// had an uncaught exception.
import v8 from "node:v8";
import vm from "node:vm";
import type { MqttClient } from "mqtt";
import { SimBoard } from "../host/index.js";
import { startMosquitto, type MosquittoInstance } from "../../test/support/mosquitto.js";
import { startProxy, type Proxy } from "../../test/support/proxy.js";
import { mqttjsClient, endClient } from "../../test/support/util.js";
import { firmwarePath } from "../../test/session/harness.js";

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
const idOf = (p: string) => {
  const k = p.indexOf(":");
  const i = k > 0 ? Number(p.slice(0, k)) : NaN;
  return Number.isInteger(i) && i >= 0 && i < N ? i : -1;
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
  accepted = new Uint8Array(N);
  seen = new Uint16Array(N);
  sent = 0;          // messages accepted so far (0..sent-1)
  sent12 = 0;        // of which QoS 1/2
  distinct12 = 0;    // QoS 1/2 messages delivered at least once
  deliveries = 0;
  foreign = 0;       // deliveries that are no message of this run
  wrongQos = 0;
  deliver(topic: string, message: string, qos: number): void {
    const i = idOf(message);
    if (i < 0 || !topic.endsWith("/" + qosOf(i))) { this.foreign++; return; }
    if (qos !== qosOf(i)) this.wrongQos++;
    if (!this.seen[i] && qosOf(i)) this.distinct12++;
    this.seen[i]++;
    this.deliveries++;
  }
  table() {
    const rows: Record<number, { sent: number; received: number; lost: number; duplicated: number }> = {};
    for (const q of [0, 1, 2]) rows[q] = { sent: 0, received: 0, lost: 0, duplicated: 0 };
    for (let i = 0; i < N; i++) {
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

async function main(): Promise<number> {
  const started = Date.now();
  console.log(`soak: ${N} messages each way (QoS 0/1/2 in turn) spread over ${SECONDS} s; ` +
    `faults: cut every ${CUT_EVERY} s, 1-byte pieces ${SPLIT_MS / 1000} s a minute, a ${PAUSE_MS / 1000} s pause ` +
    `(keep_alive ${KEEP_ALIVE} s)`);
  if (process.env.ESPRUINO) {
    console.log(`note: ESPRUINO=${process.env.ESPRUINO} is set, but the soak on a real interpreter is not implemented; ` +
      "the figures below are from the host simulator");
  }
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
    board.loadModuleFile("mote-mqtt", firmwarePath());
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
    let downNext = 0, peerPending = 0, downDone: () => void = () => {};
    const downFinished = new Promise<void>((r) => { downDone = r; });
    const ahead = () => down.sent12 - down.distinct12;
    const pumpDown = () => {
      const limit = due();
      while (!stopping && downNext < limit && peerPending < PEER_WINDOW && ahead() < DOWN_AHEAD) {
        const i = downNext++;
        peerPending++;
        down.accepted[i] = 1;
        down.sent = downNext;
        if (qosOf(i)) down.sent12++;
        peer.publish("soak/down/" + qosOf(i), payload(i), { qos: qosOf(i) as 0 | 1 | 2 }, () => { peerPending--; pumpDown(); });
      }
      if (downNext >= N && !peerPending) downDone();
    };
    const downTimer = setInterval(pumpDown, 20);

    // Faults, by traffic time.
    t0 = Date.now();
    const faults: string[] = [];
    let cuts = 0;
    const fault = (what: string) => faults.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
    const runFaults = async () => {
      let nextCut = CUT_EVERY / 2, splitAt = 20, pauseAt = 40;
      while (!stopping) {
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
    };
    const faultsDone = runFaults();

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
    pumpDown();
    while (Date.now() < deadline && !(upNext >= N && downNext >= N)) {
      await sleep(100);
      if (Date.now() - lastReport >= 10000) { lastReport = Date.now(); report("  "); }
    }
    const trafficMs = Date.now() - t0;
    const offlineTraffic = offlineMs + (offlineSince ? Date.now() - offlineSince : 0);
    stopping = true;
    clearInterval(upTimer);
    clearInterval(downTimer);
    await faultsDone;
    proxy.mode("pass", "both");
    report("traffic stopped at");

    // Settle: link healthy, connect now, let everything in flight arrive.
    const settleFrom = Date.now();
    client.connect();
    const settled = () => {
      const st = client.stats();
      return st.connected && st.inflight === 0 && st.queued === 0 && !peerPending && up.missing12() === 0 && down.missing12() === 0;
    };
    while (Date.now() - settleFrom < SETTLE_MS && !settled()) await sleep(100);
    await sleep(1000); // room for late duplicates
    downDone();
    await downFinished;
    report("settled after");

    const memEnd = memory();
    const st = client.stats();
    const wall = (Date.now() - started) / 1000;
    console.log("");
    console.log(`traffic ${(trafficMs / 1000).toFixed(1)} s, settle ${((Date.now() - settleFrom) / 1000).toFixed(1)} s, ` +
      `wall ${wall.toFixed(1)} s; rate ${Math.round((up.sent + down.sent) / (trafficMs / 1000))} msg/s both ways together`);
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

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 2; });
