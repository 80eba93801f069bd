// The interop scenarios: each runs against one Broker (see brokers/common.ts) with the BUILT client
// (firmware/mote-mqtt.js, in the host simulator through test/session/harness.ts) or the device runtime
// (firmware/mote.js booted from Storage), and mqtt.js as the other party.
//
// A scenario returns a Result: "pass" (notes may say how it adapted to a broker's documented deviation),
// "na" (the broker cannot do what the scenario checks; the note says why) or throws (a FAIL, the message
// is the reason). Whatever it opened is closed by the Ctx's cleanup, also on failure. Where a broker
// deviates (Broker.quirks), the scenario checks what the broker documents and says so in a note, instead of
// failing on the spec's behaviour.
//
// Importing this file has no side effects (node --test may load it as a test file).
import fs from "node:fs";
import path from "node:path";
import type { MqttClient, IClientOptions } from "mqtt";
import { SimBoard, repoRoot } from "../../src/host/index.js";
import { Device, allBytes, type DeviceEvent } from "../session/harness.js";
import { mqttjsClient, collect, endClient, sleep, type Collector } from "../support/util.js";
import { compactBoard } from "../../src/device/config.js";
import { loadBoard } from "../../src/tools/config-check.js";
import { onAbort, type Broker } from "./brokers/common.js";
import { startTap, type Tap } from "./tap.js";

/** "skip": the scenario checks a deviation this broker does not have (shown as "-", no note). */
export type Status = "pass" | "fail" | "na" | "skip";

export interface Result {
  status: Status;
  /** How the scenario adapted, or why it does not apply, or the failure reason. */
  notes: string[];
  /** Measured figures worth showing (rates, times). */
  figures: string[];
  ms: number;
}

export interface Ctx {
  broker: Broker;
  /** A topic under this broker's and scenario's own prefix. */
  topic(rest: string): string;
  /** A unique client id. */
  clientId(tag: string): string;
  /** A mote-mqtt client (built firmware) in a simulated ESP32, with the broker's credentials; closed at the end. */
  device(options?: Record<string, unknown>, port?: number): Device;
  /** An mqtt.js client with the broker's credentials, connected; ended at the end. */
  mqttjs(opts?: IClientOptions, before?: (c: MqttClient) => void): Promise<MqttClient>;
  /** Runs `fn` at the end of the scenario (last added first). */
  defer(fn: () => unknown): void;
  /** Record an adaptation / observation shown with the result. */
  note(text: string): void;
  figure(text: string): void;
}

export interface Scenario {
  id: string;
  title: string;
  /** Uses a lot of CPU: runs while no other heavy scenario runs (brokers run in parallel). */
  heavy?: boolean;
  timeoutMs: number;
  run(ctx: Ctx): Promise<void | { na: string } | { skip: string }>;
}

// --------------------------------------------------------------------------------------- helpers

const T = 10000; // default wait for one event under load (2 cores, five brokers)

function fail(msg: string): never {
  throw new Error(msg);
}

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) fail(msg);
}

/** What mote reported last (for failure messages). */
function lastEvents(d: Device, n = 8): string {
  return d.events.slice(-n).map((e) => `${e.name}(${e.args.map((a) => short(a)).join(",")})`).join(" ");
}

function short(a: unknown): string {
  if (a && typeof a === "object") {
    const o = a as { code?: unknown; message?: unknown; topic?: unknown };
    if (o.code !== undefined) return `${String(o.code)}: ${String(o.message)}`;
    if (o.topic !== undefined) return `topic ${String(o.topic)}`;
  }
  const s = typeof a === "string" ? a : JSON.stringify(a) ?? String(a);
  return s.length > 50 ? s.slice(0, 50) + "..." : s;
}

async function connectDevice(d: Device, what = "connect"): Promise<boolean> {
  const from = d.mark();
  d.client.connect();
  const start = Date.now();
  for (;;) {
    const c = d.all("connected", from);
    if (c.length) return !!c[0].args[0];
    const errs = d.errors(undefined, from).filter((e) => e.code !== "socket");
    if (errs.length) fail(`${what}: ${errs[0].code}: ${errs[0].message}`);
    if (Date.now() - start > T) fail(`${what}: no "connected" within ${T} ms; last events: ${lastEvents(d)}`);
    await sleep(5);
  }
}

/** subscribe and wait for the SUBACK outcome of every filter: [{filter, qos | failure code, ok}]. */
async function subscribe(d: Device, filters: Record<string, number>): Promise<{ filter: string; code: number; ok: boolean }[]> {
  const n = Object.keys(filters).length;
  const from = d.mark();
  const ok = d.client.subscribe(d.board.run(`(${JSON.stringify(filters)})`));
  check(ok, `subscribe(${JSON.stringify(filters)}) returned false: ${lastEvents(d)}`);
  const start = Date.now();
  for (;;) {
    const got = d.events.slice(from).filter((e) => e.name === "subscribed" || e.name === "subscribe_failed");
    if (got.length >= n) return got.map((e) => ({ filter: String(e.args[0]), code: Number(e.args[1]), ok: e.name === "subscribed" }));
    if (d.count("disconnected", from)) fail(`connection lost while waiting for SUBACK of ${Object.keys(filters).join(", ")}: ${lastEvents(d)}`);
    if (Date.now() - start > T) fail(`no SUBACK for ${Object.keys(filters).join(", ")} within ${T} ms; last events: ${lastEvents(d)}`);
    await sleep(5);
  }
}

/** Publishes from the device; false from publish() is a failure here (scenarios that expect it pace instead). */
function publish(d: Device, topic: string, message: string, qos: number, retain = false): void {
  const ok = d.client.publish(topic, message, d.board.run(`({qos: ${qos}, retain: ${retain}})`));
  check(ok, `publish(${topic}, qos ${qos}) returned false: ${lastEvents(d)}`);
}

/** Waits until the device has no unacknowledged or queued message. */
async function settled(d: Device, what: string): Promise<void> {
  const start = Date.now();
  for (;;) {
    const s = d.stats();
    if (!s.inflight && !s.queued) return;
    if (Date.now() - start > T) fail(`${what}: ${s.inflight} message(s) still unacknowledged, ${s.queued} queued after ${T} ms`);
    await sleep(10);
  }
}

async function waitMessages(d: Device, from: number, n: number, what: string, timeoutMs = T): Promise<DeviceEvent[]> {
  const start = Date.now();
  for (;;) {
    const got = d.all("publish", from);
    if (got.length >= n) return got;
    if (Date.now() - start > timeoutMs) {
      fail(`${what}: ${got.length} of ${n} message(s) arrived at the device within ${timeoutMs} ms; last events: ${lastEvents(d)}`);
    }
    await sleep(5);
  }
}

async function waitCollected(c: Collector, n: number, what: string, timeoutMs = T): Promise<void> {
  try {
    await c.waitForCount(n, timeoutMs);
  } catch {
    fail(`${what}: ${c.messages.length} of ${n} message(s) reached mqtt.js within ${timeoutMs} ms (got ${JSON.stringify(c.payloads().slice(0, 5))})`);
  }
}

/** The QoS a message published at `qos` arrives with through a subscription granted `granted`. */
const deliveredQos = (qos: number, granted: number) => Math.min(qos, granted);

/** What an mqtt.js subscribe was granted (0x80 as 128); never throws on a refusal. */
async function jsSubscribe(c: MqttClient, filter: string, qos: 0 | 1 | 2): Promise<number> {
  try {
    const g = await c.subscribeAsync(filter, { qos });
    return g[0].qos;
  } catch (e) {
    const granted = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (Array.isArray(granted)) return granted[0];
    throw e;
  }
}

// --------------------------------------------------------------------------------------- scenarios

const connect: Scenario = {
  id: "connect",
  title: "connect / refused credentials",
  timeoutMs: 30000,
  async run(ctx) {
    const b = ctx.broker;
    const d = ctx.device({ client_id: ctx.clientId("ok") });
    const sp = await connectDevice(d);
    check(!sp, "a new clean session reported sessionPresent");
    check(d.client.stats().connected === true, "stats().connected is not true after connecting");
    // Wrong password, then no credentials at all: both refused, no reconnect loop (reconnect: false).
    const codes: string[] = [];
    for (const [label, cred] of [["wrong password", b.badAuth], ["no credentials", undefined]] as const) {
      const r = ctx.device({ client_id: ctx.clientId("bad"), reconnect: false, username: cred?.username, password: cred?.password });
      const from = r.mark();
      r.client.connect();
      const errs = await (async () => {
        const start = Date.now();
        for (;;) {
          const e = r.errors(undefined, from).filter((x) => x.code !== "socket");
          if (e.length) return e;
          if (r.count("connected", from)) fail(`${label}: the broker accepted the connection`);
          if (Date.now() - start > T) fail(`${label}: neither refused nor accepted within ${T} ms: ${lastEvents(r)}`);
          await sleep(5);
        }
      })();
      const code = errs[0].code;
      if (code !== "bad_credentials" && code !== "not_authorized") {
        fail(`${label}: expected error code bad_credentials or not_authorized, got ${code}: ${errs[0].message}`);
      }
      codes.push(`${label}: CONNACK ${code === "bad_credentials" ? 4 : 5}`);
      await sleep(300);
      check(!r.count("connected", from), `${label}: connected after the refusal`);
      check(r.stats().reconnects === 0, `${label}: reconnected although reconnect: false`);
    }
    ctx.figure(codes.join(", "));
  },
};

const qos: Scenario = {
  id: "qos",
  title: "QoS 0/1/2 both ways",
  timeoutMs: 40000,
  async run(ctx) {
    const q = ctx.broker.quirks;
    const js = await ctx.mqttjs();
    const up = collect(js, ctx.topic("up/#"));
    const jsGranted = await jsSubscribe(js, ctx.topic("up/#"), 2);
    check(jsGranted === q.maxGrantedQos, `mqtt.js QoS 2 subscription granted ${jsGranted}, expected ${q.maxGrantedQos}`);

    const d = ctx.device({ client_id: ctx.clientId("q") });
    await connectDevice(d);
    const [sub] = await subscribe(d, { [ctx.topic("down/#")]: 2 });
    check(sub.ok, `QoS 2 subscription refused (${sub.code})`);
    check(sub.code === q.maxGrantedQos, `QoS 2 subscription granted ${sub.code}, expected ${q.maxGrantedQos}`);
    if (q.maxGrantedQos < 2) ctx.note(`QoS 2 subscriptions are granted QoS 1 (documented broker limit); mote reports the granted QoS in "subscribed" and the QoS 2 messages arrive at QoS 1`);

    // broker -> device, each QoS (binary payload on QoS 1: all 256 byte values)
    const bin = allBytes();
    const down: [number, string | Buffer, string][] = [[0, "zero", "zero"], [1, Buffer.from(bin, "latin1"), bin], [2, "two", "two"]];
    const sendDown = down.filter(([qs]) => qs < 2 || q.qos2Publish !== "disconnect");
    if (q.qos2Publish === "disconnect") ctx.note("QoS 2 PUBLISH not sent (either way): the broker closes the connection on one (documented: no QoS 2)");
    if (q.qos2Publish === "puback") ctx.note("QoS 2 PUBLISH answered with PUBACK (broker treats it as QoS 1); mote settles the message on that PUBACK");
    let from = d.mark();
    for (const [qs, payload] of sendDown) await js.publishAsync(ctx.topic(`down/q${qs}`), payload as Buffer, { qos: qs as 0 | 1 | 2 });
    const got = await waitMessages(d, from, sendDown.length, "broker -> device");
    await sleep(200);
    check(d.count("publish", from) === sendDown.length, `duplicates: ${d.count("publish", from)} messages for ${sendDown.length} sent`);
    for (const [qs, , text] of sendDown) {
      const m = got.map((e) => e.args[0]).find((p) => p.topic === ctx.topic(`down/q${qs}`));
      check(m, `message published at QoS ${qs} did not arrive`);
      check(m.message === text, `QoS ${qs} payload changed on the way (${m.message.length} bytes, expected ${text.length})`);
      const want = deliveredQos(qs, sub.code);
      check(m.qos === want, `QoS ${qs} message arrived at QoS ${m.qos}, expected ${want}`);
    }

    // device -> broker, each QoS
    const sendUp = [0, 1, 2].filter((qs) => qs < 2 || q.qos2Publish !== "disconnect");
    for (const qs of sendUp) publish(d, ctx.topic(`up/q${qs}`), `up${qs}`, qs);
    await waitCollected(up, sendUp.length, "device -> broker");
    await settled(d, "device -> broker");
    await sleep(200);
    check(up.messages.length === sendUp.length, `duplicates at mqtt.js: ${up.messages.length} for ${sendUp.length} sent`);
    for (const qs of sendUp) {
      const m = up.messages.find((x) => x.topic === ctx.topic(`up/q${qs}`));
      check(m, `device's QoS ${qs} publish did not arrive`);
      check(m.payload.toString() === `up${qs}`, `device's QoS ${qs} payload changed`);
      const want = deliveredQos(qs, jsGranted);
      check(m.qos === want, `device's QoS ${qs} publish arrived at QoS ${m.qos}, expected ${want}`);
    }
    check(!d.count("disconnected"), `connection lost: ${lastEvents(d)}`);
  },
};

const retained: Scenario = {
  id: "retained",
  title: "retained messages",
  timeoutMs: 40000,
  async run(ctx) {
    const q = ctx.broker.quirks;
    const t1 = ctx.topic("r1"), t2 = ctx.topic("r2");
    const js = await ctx.mqttjs();
    const pub = ctx.device({ client_id: ctx.clientId("pub") });
    await connectDevice(pub);
    publish(pub, t1, "from-mote", 1, true);
    await js.publishAsync(t2, "from-mqttjs", { qos: 1, retain: true });
    await settled(pub, "retained publish");
    await sleep(300);
    ctx.defer(async () => {
      // clear both (an empty retained message deletes it)
      try { await js.publishAsync(t1, "", { qos: 1, retain: true }); await js.publishAsync(t2, "", { qos: 1, retain: true }); } catch { /* best effort */ }
    });

    // a device subscribing later, exact topics: both arrive flagged retained
    const sub = ctx.device({ client_id: ctx.clientId("sub") });
    await connectDevice(sub);
    let from = sub.mark();
    await subscribe(sub, { [t1]: 1, [t2]: 1 });
    const got = await waitMessages(sub, from, 2, "retained to exact-topic subscriptions");
    for (const [t, text] of [[t1, "from-mote"], [t2, "from-mqttjs"]]) {
      const m = got.map((e) => e.args[0]).find((p) => p.topic === t);
      check(m, `retained ${t} missing`);
      check(m.message === text, `retained ${t}: ${JSON.stringify(m.message)}`);
      check(m.retain, `retained ${t} arrived without the retain flag`);
    }
    // mqtt.js sees the device's retained message too
    const js2 = await ctx.mqttjs();
    const c = collect(js2, t1);
    await jsSubscribe(js2, t1, 1);
    await waitCollected(c, 1, "device's retained message to a new mqtt.js subscriber");
    check(c.messages[0].retain && c.payloads()[0] === "from-mote", "device's retained message lost its flag or payload");

    // wildcard subscription
    const wild = ctx.device({ client_id: ctx.clientId("wild") });
    await connectDevice(wild);
    from = wild.mark();
    await subscribe(wild, { [ctx.topic("+")]: 1 });
    if (q.retainedToWildcards) {
      const w = await waitMessages(wild, from, 2, "retained to a wildcard subscription");
      check(w.every((e) => e.args[0].retain), "retained messages to a wildcard subscription without the retain flag");
    } else {
      await sleep(1000);
      const n = wild.count("publish", from);
      check(n === 0, `expected no retained message through a wildcard (documented), got ${n}: the broker changed; update its quirks`);
      ctx.note("retained messages reach exact-topic subscriptions only, not wildcard ones (documented broker behaviour): subscribe to the exact topic to get a retained state");
    }
  },
};

const will: Scenario = {
  id: "will",
  title: "will on abrupt loss",
  timeoutMs: 45000,
  async run(ctx) {
    const js = await ctx.mqttjs();
    const w = collect(js, ctx.topic("#"));
    await jsSubscribe(js, ctx.topic("#"), 1);
    const willOf = (name: string) => ({ topic: ctx.topic(name), message: `${name}-gone`, qos: 1, retain: false });

    // 1. socket closed without DISCONNECT (the board's connection drops)
    const a = ctx.device({ client_id: ctx.clientId("a"), will: willOf("closed"), keep_alive: 10 });
    await connectDevice(a);
    let t0 = Date.now();
    a.close();
    await waitCollected(w, 1, "will after the connection closed without DISCONNECT", 8000);
    check(w.messages[0].topic === ctx.topic("closed") && w.payloads()[0] === "closed-gone", `wrong will: ${w.messages[0].topic}`);
    ctx.figure(`will after close: ${((w.messages[0].at - t0) / 1000).toFixed(1)} s`);

    // 2. graceful disconnect(): no will
    const b = ctx.device({ client_id: ctx.clientId("b"), will: willOf("graceful"), keep_alive: 10 });
    await connectDevice(b);
    b.client.disconnect();
    await sleep(800);
    check(!w.messages.some((m) => m.topic === ctx.topic("graceful")), "will published after a graceful disconnect()");

    // 3. silent loss (no FIN: power cut): the broker's keep-alive timeout must publish the will
    const tap = await startTap(ctx.broker.port, ctx.broker.host);
    ctx.defer(() => tap.close());
    const ka = 2;
    const c = ctx.device({ client_id: ctx.clientId("c"), will: willOf("silent"), keep_alive: ka }, tap.port);
    await connectDevice(c);
    t0 = Date.now();
    tap.silence();
    c.close();
    const drop = ctx.broker.quirks.silentDrop;
    // the last packet the broker heard may be up to one keep-alive check of mote's (ka/10) before t0
    const earliest = drop.factor * ka - 0.5, latest = drop.factor * ka + drop.slackS + 1.5;
    const start = Date.now();
    while (!w.messages.some((m) => m.topic === ctx.topic("silent"))) {
      if (Date.now() - start > latest * 1000) fail(`no will within ${latest} s of a silent loss (keep_alive ${ka} s; expected after ${drop.factor}x keep-alive${drop.slackS ? ` + up to ${drop.slackS} s` : ""})`);
      await sleep(20);
    }
    const secs = (Date.now() - t0) / 1000;
    ctx.figure(`will after silent loss: ${secs.toFixed(1)} s (keep_alive ${ka} s)`);
    check(secs >= earliest, `will after ${secs.toFixed(1)} s of silence, before ${drop.factor}x keep-alive (${ka} s)`);
    if (drop.note) ctx.note(drop.note);
  },
};

const keepalive: Scenario = {
  id: "keepalive",
  title: "keep-alive with pings",
  timeoutMs: 30000,
  async run(ctx) {
    const tap = await startTap(ctx.broker.port, ctx.broker.host);
    ctx.defer(() => tap.close());
    const ka = 2;
    const d = ctx.device({ client_id: ctx.clientId("k"), keep_alive: ka }, tap.port);
    await connectDevice(d);
    await subscribe(d, { [ctx.topic("ping")]: 1 });
    const t0 = Date.now();
    const idle = 5500;
    await sleep(idle);
    const req = tap.count("up", "PINGREQ", t0), resp = tap.count("down", "PINGRESP", t0);
    ctx.figure(`${req} PINGREQ / ${resp} PINGRESP in ${idle / 1000} s idle at keep_alive ${ka} s`);
    check(req >= 2, `only ${req} PINGREQ in ${idle} ms idle with keep_alive ${ka} s`);
    check(resp >= req - 1, `${req} PINGREQ but ${resp} PINGRESP`);
    check(!d.count("disconnected"), `connection lost while idle: ${lastEvents(d)}`);
    // still usable after the idle time
    const js = await ctx.mqttjs();
    const from = d.mark();
    await js.publishAsync(ctx.topic("ping"), "after-idle", { qos: 1 });
    await waitMessages(d, from, 1, "message after idle period");
  },
};

const session: Scenario = {
  id: "session",
  title: "persistent session (clean_session false)",
  timeoutMs: 40000,
  async run(ctx) {
    const q = ctx.broker.quirks;
    const t = ctx.topic("s");
    const d = ctx.device({ client_id: ctx.clientId("p"), clean_session: false, keep_alive: 10 });
    const first = await connectDevice(d);
    check(!first, "first connection of a new client id reported sessionPresent");
    const [sub] = await subscribe(d, { [t]: 2 });
    check(sub.ok, `subscription refused (${sub.code})`);
    d.client.disconnect();
    await sleep(300);

    const js = await ctx.mqttjs();
    const sent: [string, 0 | 1 | 2][] = [["queued-1", 1], ["queued-2", 2], ["queued-3", 1]];
    if (q.qos2Publish === "disconnect") {
      sent[1][1] = 1;
      ctx.note("the queued QoS 2 message is published at QoS 1 (the broker drops a client that publishes QoS 2)");
    }
    for (const [m, qs] of sent) await js.publishAsync(t, m, { qos: qs });
    await sleep(300);

    const from = d.mark();
    const present = await connectDevice(d, "reconnect");
    check(present, "reconnect with clean_session false: sessionPresent was 0 (session lost)");
    const got = await waitMessages(d, from, sent.length, "messages queued while offline");
    await sleep(300);
    const msgs = d.all("publish", from).map((e) => e.args[0]);
    check(msgs.length === sent.length, `${msgs.length} messages for ${sent.length} queued (duplicates?)`);
    for (const [m, qs] of sent) {
      const p = got.map((e) => e.args[0]).find((x) => x.message === m);
      check(p, `queued message ${m} missing`);
      check(p.qos === deliveredQos(qs, sub.code), `${m} arrived at QoS ${p.qos}, expected ${deliveredQos(qs, sub.code)}`);
    }
    const order = msgs.map((m) => m.message).join(",");
    check(order === sent.map((s) => s[0]).join(","), `queued messages out of order: ${order}`);
  },
};

const refusal: Scenario = {
  id: "subscribe-refusal",
  title: "subscribe refusal",
  timeoutMs: 40000,
  async run(ctx) {
    const q = ctx.broker.quirks;
    const bad = ctx.broker.forbiddenFilter;
    if (q.subscribeRefusal === "none") return { na: q.subscribeRefusalNote ?? "the broker cannot refuse a subscription" };
    const ok = ctx.topic("ok");
    const d = ctx.device({ client_id: ctx.clientId("r") });
    await connectDevice(d);
    if (q.subscribeRefusal === "close") {
      // The broker drops the connection instead of SUBACK 0x80. What mote does then:
      const from = d.mark();
      d.client.subscribe(bad, d.board.run("({qos: 1})"));
      const start = Date.now();
      while (!d.count("disconnected", from)) {
        if (d.count("subscribe_failed", from)) break;
        if (Date.now() - start > T) fail(`unauthorised subscribe: neither refused nor disconnected within ${T} ms: ${lastEvents(d)}`);
        await sleep(10);
      }
      if (d.count("subscribe_failed", from)) {
        ctx.note("the broker now answers SUBACK 0x80: update its quirks");
        return;
      }
      // mote gives a SUBSCRIBE up when the broker closed twice in a row with it unanswered:
      // subscribe_failed(filter, 0x80), and the connection then stays up.
      await sleep(6000);
      const drops = d.count("disconnected", from), ups = d.count("connected", from), failed = d.count("subscribe_failed", from);
      ctx.figure(`after the refused subscribe: ${drops} disconnect(s), ${ups} reconnect(s), subscribe_failed ${failed} in ${((Date.now() - start) / 1000).toFixed(0)} s`);
      if (drops > 2 || failed != 1) {
        fail(`the broker closes the connection on an unauthorised SUBSCRIBE (no SUBACK 0x80); mote should give the filter up after the second close: ` +
          `${drops} disconnects, ${failed} subscribe_failed in ${((Date.now() - start) / 1000).toFixed(0)} s: ${lastEvents(d)}`);
      }
      check(d.client.stats().connected, `not connected after giving the filter up: ${lastEvents(d)}`);
      ctx.note("an unauthorised SUBSCRIBE closes the connection (no SUBACK 0x80, documented broker behaviour); mote reconnects, and after the second close with the same SUBSCRIBE unanswered reports subscribe_failed(filter, 0x80) and stops asking");
      return;
    }
    const res = await subscribe(d, { [bad]: 1, [ok]: 1 });
    const r = res.find((x) => x.filter === bad), g = res.find((x) => x.filter === ok);
    check(r && g, `SUBACK outcomes missing: ${JSON.stringify(res)}`);
    const want = q.subscribeRefusal === "suback-0x8f" ? 0x8f : 0x80;
    check(!r.ok, `${bad} was granted QoS ${r.code}, expected a refusal`);
    check(r.code === want, `${bad} refused with 0x${r.code.toString(16)}, expected 0x${want.toString(16)}`);
    check(g.ok && g.code === 1, `${ok} in the same SUBSCRIBE: ${g.ok ? "granted " + g.code : "refused"}`);
    if (want === 0x8f) ctx.note("refused with SUBACK 0x8F (an MQTT 5 reason code, not valid in 3.1.1); mote treats any code above 2 as a refusal: subscribe_failed(filter, 0x8F). mqtt.js errors on this SUBACK");
    const js = await ctx.mqttjs();
    const from = d.mark();
    await js.publishAsync(ok, "still-here", { qos: 1 });
    await waitMessages(d, from, 1, "message on the granted filter after a refusal");
    check(!d.count("disconnected"), `connection lost after the refusal: ${lastEvents(d)}`);
  },
};

const N = 1000;

const burstUp: Scenario = {
  id: "burst-up",
  title: "1000-message burst device -> broker",
  heavy: true,
  timeoutMs: 90000,
  async run(ctx) {
    const t = ctx.topic("bu");
    const js = await ctx.mqttjs();
    const c = collect(js, t);
    await jsSubscribe(js, t, 1);
    const d = ctx.device({ client_id: ctx.clientId("bu") });
    await connectDevice(d);
    const t0 = Date.now();
    let waits = 0, noDrain = 0, drainMissing = 0;
    const opts = d.board.run("({qos: 1})");
    for (let i = 0; i < N; i++) {
      // publish() says false when inflight (8) and queue (8) are full: wait for "drain", then retry.
      for (;;) {
        const mark = d.mark();
        if (d.client.publish(t, String(i), opts)) break;
        // (its "error" event is queued, as every emit on Espruino: the codes are checked at the end)
        waits++;
        // "drain" should come once the queue was sent. Fallback: retry when the queue has been empty for
        // 50 ms without a "drain" (counted and reported: a publisher pacing on "drain" alone would stall).
        const start = Date.now();
        let emptySince = 0;
        while (!d.count("drain", mark) && Date.now() - start < 2000) {
          if (d.stats().queued) emptySince = 0;
          else if (!emptySince) emptySince = Date.now();
          else if (Date.now() - emptySince >= 50) break;
          await sleep(1);
        }
        if (!d.count("drain", mark)) {
          noDrain++;
          if (!d.stats().queued) drainMissing++;
        }
        check(!d.count("disconnected"), `connection lost during the burst at #${i}: ${lastEvents(d)}`);
        if (Date.now() - t0 > 60000) {
          fail(`only ${i} of ${N} accepted by publish() in 60 s (paced ${waits} times, ${noDrain} waits without "drain"; ` +
            `stats ${JSON.stringify(d.stats())}; mqtt.js got ${c.messages.length})`);
        }
      }
      if (i % 50 === 49) await sleep(0); // let the board's event queue run
    }
    const codes = [...new Set(d.errors().map((e) => e.code))];
    check(codes.every((x) => x === "queue_full"), `publish() refused for other reasons than a full queue: ${codes.join(", ")}`);
    await waitCollected(c, N, "burst device -> broker", 60000);
    const ms = Date.now() - t0;
    await settled(d, "burst");
    await sleep(300);
    const p = c.payloads();
    check(p.length === N, `${p.length} messages for ${N} sent`);
    const bad = p.findIndex((v, i) => v !== String(i));
    check(bad < 0, `out of order or changed at #${bad}: ${p[bad]}`);
    ctx.figure(`${N} QoS 1 in ${(ms / 1000).toFixed(1)} s (${Math.round(N / (ms / 1000))} msg/s), publish() paced ${waits} times`);
    // publish()'s contract: after false (queue full), "drain" once the queue has been sent.
    check(!drainMissing, `mote (not the broker): publish() returned false ${waits} times; ${drainMissing} times the queue emptied ` +
      `(PUBACKs freed the inflight window) but no "drain" event came (waited 50 ms after it emptied): a publisher pacing on "drain" alone stalls. ` +
      `All ${N} arrived in order with retry pacing`);
  },
};

const burstDown: Scenario = {
  id: "burst-down",
  title: "1000-message burst broker -> device",
  heavy: true,
  timeoutMs: 90000,
  async run(ctx) {
    const t = ctx.topic("bd");
    const d = ctx.device({ client_id: ctx.clientId("bd") });
    await connectDevice(d);
    await subscribe(d, { [t]: 1 });
    const js = await ctx.mqttjs();
    const from = d.mark();
    const t0 = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) sends.push(js.publishAsync(t, String(i), { qos: 1 }));
    await Promise.all(sends);
    const got = await waitMessages(d, from, N, "burst broker -> device", 60000);
    const ms = Date.now() - t0;
    await sleep(300);
    const msgs = d.all("publish", from).map((e) => e.args[0].message as string);
    check(msgs.length === N, `${msgs.length} messages for ${N} sent`);
    const bad = msgs.findIndex((v, i) => v !== String(i));
    check(bad < 0, `out of order or changed at #${bad}: ${msgs[bad]}`);
    check(!d.count("disconnected"), `connection lost during the burst: ${lastEvents(d)}`);
    check(got.length >= N, "burst incomplete");
    ctx.figure(`${N} QoS 1 in ${(ms / 1000).toFixed(1)} s (${Math.round(N / (ms / 1000))} msg/s)`);
  },
};

const device: Scenario = {
  id: "device",
  title: "device runtime: birth, sensor, actuator",
  timeoutMs: 40000,
  async run(ctx) {
    const b = ctx.broker;
    const base = ctx.topic("dev");
    const js = await ctx.mqttjs();
    const seen = collect(js, `${base}/#`);
    await jsSubscribe(js, `${base}/#`, 1);
    const last = (sub: string) => seen.messages.filter((m) => m.topic === `${base}/${sub}`).map((m) => m.payload.toString()).at(-1);
    const until = async (pred: () => boolean, what: string) => {
      const start = Date.now();
      while (!pred()) {
        if (Date.now() - start > T) fail(`device runtime: no ${what} within ${T} ms; seen ${JSON.stringify(seen.messages.slice(-6).map((m) => `${m.topic}=${m.payload}`))}; board log: ${board.logs.slice(-5).join(" | ")}`);
        await sleep(10);
      }
    };
    const boardId = "esp32-devkitc";
    const board = new SimBoard({ board: boardId, serial: ctx.clientId("board") });
    const unhook = onAbort(() => board.close());
    ctx.defer(() => { unhook(); board.close(); });
    board.storage.writeText("mote.json", JSON.stringify({
      wifi: { ssid: "mote-sim", password: "pw" },
      mqtt: { host: b.host, port: b.port, username: b.auth.username, password: b.auth.password, client_id: ctx.clientId("dev"), keep_alive: 5 },
      base,
      sensors: [{ name: "level", type: "analog", pin: "D34", every: 0.2, heartbeat: 2 }],
      actuators: [{ name: "relay", type: "digital", pin: "D26" }],
    }));
    board.storage.writeText("mote.board", JSON.stringify(compactBoard(loadBoard(boardId))));
    board.pins.setAnalog("D34", 0.5);
    board.flash(fs.readFileSync(path.join(process.env.MOTE_FIRMWARE_DIR ?? path.join(repoRoot(), "firmware"), "mote.js"), "utf8"));
    board.boot();
    await until(() => last("status") === "online", "birth \"online\" on <base>/status");
    await until(() => last("relay") === "0", "actuator state on <base>/relay");
    await until(() => last("level") === "0.5", "sensor value on <base>/level");
    // actuator command round trip
    await js.publishAsync(`${base}/relay/set`, "1", { qos: 1 });
    await until(() => last("relay") === "1", "actuator echo after <base>/relay/set 1");
    check(board.pins.state("D26").out === 1, "relay pin not switched on");
    // sensor change
    board.pins.setAnalog("D34", 0.75);
    await until(() => last("level") === "0.75", "new sensor value");
    // the retained birth is there for a late exact-topic subscriber
    const late = await ctx.mqttjs();
    const st = collect(late, `${base}/status`);
    await jsSubscribe(late, `${base}/status`, 1);
    await waitCollected(st, 1, "retained status for a late subscriber");
    check(st.messages[0].retain && st.payloads()[0] === "online", `late subscriber got ${st.payloads()[0]} (retain ${st.messages[0].retain})`);
    // power cut: the will says offline
    board.close();
    await until(() => last("status") === "offline", "will \"offline\" after the board went away");
    check(board.errors.length === 0, `uncaught exceptions on the board: ${board.errors.map(String).join("; ")}`);
  },
};

const restart: Scenario = {
  id: "broker-restart",
  title: "reconnect after the broker restarts",
  timeoutMs: 120000,
  async run(ctx) {
    const q = ctx.broker.quirks;
    const t = ctx.topic("rs");
    // clean_session false: whether the broker kept the session shows in sessionPresent; either way mote
    // must end up subscribed (it subscribes again itself when the session is gone).
    const d = ctx.device({ client_id: ctx.clientId("rs"), keep_alive: 5, clean_session: false });
    await connectDevice(d);
    await subscribe(d, { [t]: 1 });
    const from = d.mark();
    const t0 = Date.now();
    await ctx.broker.restart();
    const upAt = Date.now();
    // mote notices, backs off (1 s doubling, jittered) and reconnects by itself.
    const start = Date.now();
    while (!d.count("connected", from)) {
      if (Date.now() - start > 45000) fail(`no reconnect within 45 s after the broker came back; last events: ${lastEvents(d)}`);
      await sleep(20);
    }
    const back = Date.now();
    check(d.count("disconnected", from) >= 1, "no disconnected event for the restart");
    const present = !!d.all("connected", from)[0].args[0];
    if (!present) {
      // session gone: mote subscribes again by itself
      const s0 = Date.now();
      while (!d.all("subscribed", from).some((e) => e.args[0] === t)) {
        if (Date.now() - s0 > T) fail(`session lost in the restart and mote did not subscribe again: ${lastEvents(d)}`);
        await sleep(10);
      }
    }
    if (present !== q.sessionSurvivesRestart) {
      fail(`sessionPresent ${present ? 1 : 0} after the restart, the broker's documented behaviour says ${q.sessionSurvivesRestart ? 1 : 0}: update its quirks`);
    }
    if (!present) ctx.note("persistent sessions do not survive a broker restart (sessionPresent 0 afterwards; messages queued for offline clients are lost); mote subscribes again by itself");
    const js = await ctx.mqttjs();
    const c = collect(js, ctx.topic("up"));
    await jsSubscribe(js, ctx.topic("up"), 1);
    const m = d.mark();
    await js.publishAsync(t, "after-restart", { qos: 1 });
    await waitMessages(d, m, 1, "message after the restart");
    publish(d, ctx.topic("up"), "device-after-restart", 1);
    await waitCollected(c, 1, "device publish after the restart");
    ctx.figure(`broker restart took ${((upAt - t0) / 1000).toFixed(1)} s; mote back ${((back - upAt) / 1000).toFixed(1)} s after the broker (sessionPresent ${present ? 1 : 0}); ${d.stats().reconnects} reconnect attempt(s)`);
  },
};

const qos2Refused: Scenario = {
  id: "qos2-unsupported",
  title: "QoS 2 publish where the broker has none",
  timeoutMs: 30000,
  async run(ctx) {
    const q = ctx.broker.quirks;
    if (q.qos2Publish === "pubrec") return { skip: "the broker supports QoS 2 publishes" };
    if (q.qos2Publish === "puback") return { skip: "the broker takes a QoS 2 publish as QoS 1 (PUBACK); covered in the QoS row" };
    // The broker closes the connection on a QoS 2 PUBLISH. What does a device that publishes one see?
    const d = ctx.device({ client_id: ctx.clientId("q2") });
    await connectDevice(d);
    const from = d.mark();
    publish(d, ctx.topic("q2"), "two", 2);
    const start = Date.now();
    await sleep(7000);
    const drops = d.count("disconnected", from), ups = d.count("connected", from);
    const secs = ((Date.now() - start) / 1000).toFixed(0);
    ctx.figure(`after one QoS 2 publish: ${drops} disconnect(s), ${ups} reconnect(s) in ${secs} s, inflight ${d.stats().inflight}`);
    check(drops >= 1, "the broker accepted the QoS 2 publish: update its quirks");
    // mote goes on at QoS 1 once the broker closed twice in a row with the same QoS 2 message unanswered.
    const downgraded = d.errors("qos2_refused", from).length;
    if (drops > 2 || downgraded != 1 || d.stats().inflight) {
      fail(`the broker closes the connection on a QoS 2 PUBLISH; mote should send it at QoS 1 after the second close: ` +
        `${drops} disconnects, ${downgraded} qos2_refused errors, inflight ${d.stats().inflight} in ${secs} s: ${lastEvents(d)}`);
    }
    ctx.note("a QoS 2 publish closes the connection (documented: no QoS 2); after the second close mote reports error qos2_refused and sends QoS 2 messages at QoS 1 (delivered at least once)");
  },
};

/**
 * Broker failover: a device given every node of a cluster (`servers`) publishes a numbered QoS 1 stream
 * up and gets one down, both through its persistent session, while the node it is on is killed. It must
 * move to another node by itself and lose nothing; duplicates are allowed at QoS 1 and counted.
 */
const FO_UP = 200, FO_DOWN = 100;
const failover: Scenario = {
  id: "failover",
  title: "failover: the node in use is killed",
  timeoutMs: 180000,
  async run(ctx) {
    const cl = ctx.broker.cluster;
    if (!cl) return { skip: "one broker: no other node to move to" };
    ctx.defer(() => cl.heal());
    const up = ctx.topic("up"), down = ctx.topic("down"), last = cl.servers[cl.servers.length - 1];
    const url = `mqtt://${last.host}:${last.port}`;
    const auth = { username: ctx.broker.auth.username, password: ctx.broker.auth.password };
    // The other party sits on the last node (the device starts on the first and moves to the second).
    const watchSeen: string[] = [];
    const watcher = await mqttjsClient(url, { ...auth, clientId: ctx.clientId("watch"), clean: false, reconnectPeriod: 500 },
      (c) => c.on("message", (t, m) => { if (t === up) watchSeen.push(m.toString()); }));
    watcher.on("error", () => { /* reconnects by itself */ });
    ctx.defer(() => endClient(watcher));
    await jsSubscribe(watcher, up, 1);
    const sender = await mqttjsClient(url, { ...auth, clientId: ctx.clientId("send"), reconnectPeriod: 500 });
    sender.on("error", () => { /* reconnects by itself */ });
    ctx.defer(() => endClient(sender));

    const d = ctx.device({ servers: cl.servers, client_id: ctx.clientId("fo"), clean_session: false, keep_alive: 5, queue: FO_UP });
    await connectDevice(d);
    await subscribe(d, { [down]: 1 });
    // Which node the device is on: its open socket (the bundle's field names are minified).
    const nodePort = () => d.board.sockets().filter((x) => x.connected).map((x) => x.port)[0];
    const first = nodePort();
    check(first === cl.servers[0].port, `the device started on port ${first}, not on the first server`);
    const from = d.mark();

    // Both streams at 20 messages/s; the node in use dies a quarter of the way through.
    let killedAt = 0, refused = 0;
    const downSent: number[] = [];
    const downLoop = (async () => {
      for (let i = 1; i <= FO_DOWN; i++) {
        await sender.publishAsync(down, String(i), { qos: 1 }).then(() => downSent.push(i), () => undefined);
        await sleep(50);
      }
    })();
    for (let i = 1; i <= FO_UP; i++) {
      if (i === FO_UP / 4) {
        killedAt = Date.now();
        if (process.env.MOTE_TRACE) console.log(`[kill ${(killedAt % 100000 / 1000).toFixed(3)}]`);
        await cl.kill(first);
      }
      if (!d.client.publish(up, String(i), d.board.run("({qos: 1})"))) refused++;
      await sleep(50);
    }
    await downLoop;
    check(killedAt > 0, "the node was not killed");
    // Everything arrives (at least once). NATS may accept the device on a node and drop it again while
    // JetStream moves the killed node's streams, so where the device ended up is read once it is settled.
    const w1 = Date.now();
    const distinct = (xs: string[]) => new Set(xs);
    const downGot = () => d.published(from).filter((p) => p.topic === down).map((p) => p.message);
    while (distinct(watchSeen).size < FO_UP || distinct(downGot()).size < downSent.length || !d.stats().connected) {
      if (Date.now() - w1 > 60000) break;
      await sleep(50);
    }
    // back on another node?
    check(d.count("connected", from) > 0 && d.stats().connected, `not connected to another node within 60 s of the kill: ${lastEvents(d)}`);
    const conn = d.all("connected", from), moved = conn[conn.length - 1];
    const now = nodePort();
    check(now !== first, `reconnected to the killed node's port ${first}`);
    check(refused === 0, `${refused} publish() calls refused while moving (queue ${FO_UP})`);
    const upLost = FO_UP - [...distinct(watchSeen)].filter((m) => +m >= 1 && +m <= FO_UP).length;
    const upDup = watchSeen.length - distinct(watchSeen).size;
    const dn = downGot(), downLost = downSent.filter((i) => !dn.includes(String(i))).length, downDup = dn.length - distinct(dn).size;
    const nodeOf = (port: number) => 1 + cl.servers.findIndex((x) => x.port === port);
    const attempts = d.stats().reconnects;
    ctx.figure(`node ${nodeOf(first)} killed: on node ${nodeOf(now)} after ${((moved.at - killedAt) / 1000).toFixed(1)} s ` +
      `(${attempts} attempt(s), ${conn.length} connection(s), sessionPresent ${moved.args[0] ? 1 : 0})`);
    ctx.figure(`QoS 1 up: ${FO_UP} sent, ${upLost} lost, ${upDup} duplicate(s); down: ${downSent.length} sent, ${downLost} lost, ${downDup} duplicate(s)`);
    // Within the backoff: the device never waits longer than its backoff before the next attempt. Attempt k
    // starts at most 2^k s (1 s doubling, jittered down to half) after the previous one ended, with 1 s of
    // slack for a loaded machine. How long a node holds an attempt before answering is the broker's: NATS
    // holds a CONNECT up to 4 s and then closes while JetStream elects a new leader for the session stream
    // of the killed node. So the time to move is bounded by the backoff plus those holds.
    const tries = d.board.socketHistory.filter((x) => x.opened >= killedAt && x.opened <= moved.at);
    let prevEnd = killedAt, bound = 0, held = 0;
    tries.forEach((x, k) => {
      const backoff = Math.min(60, 2 ** k) * 1000;
      check(x.opened - prevEnd <= backoff + 1000,
        `attempt ${k + 1} started ${x.opened - prevEnd} ms after the previous one ended: more than its backoff (${backoff} ms)`);
      bound += backoff + 1000;
      if (x.closed !== undefined) { held += x.closed - x.opened; bound += x.closed - x.opened; prevEnd = x.closed; }
    });
    const holds = tries.filter((x) => x.closed !== undefined && x.connected !== undefined);
    if (holds.length) {
      ctx.figure(`nodes held ${holds.length} CONNECT(s) ${holds.map((x) => ((x.closed! - x.opened) / 1000).toFixed(1) + " s").join(", ")} ` +
        `before closing them (JetStream electing new leaders); the device's own waits stayed within its backoff`);
    }
    check(tries.length > 0, "no connection attempt after the kill");
    check(moved.at - killedAt <= bound + 1000,
      `took ${moved.at - killedAt} ms to move, more than the backoff of ${tries.length} attempt(s) plus ${held} ms the nodes held them allows`);
    check(upLost === 0, `${upLost} of ${FO_UP} QoS 1 messages from the device lost across the failover`);
    check(downLost === 0, `${downLost} of ${downSent.length} QoS 1 messages to the device lost across the failover (subscription or session not kept)`);
    check(d.stats().inflight === 0 && d.stats().queued === 0, `messages left unacknowledged: ${JSON.stringify(d.stats())}`);
    // the subscription still delivers, live, on the new node
    const m = d.mark();
    await sender.publishAsync(down, "after", { qos: 1 });
    await waitMessages(d, m, 1, "a message on the subscription after the failover");
  },
};

/** In run order; the broker restart goes last (it disturbs the broker's state); failover after it. */
export const SCENARIOS: Scenario[] = [connect, qos, qos2Refused, retained, will, keepalive, session, refusal, burstUp, burstDown, device, restart, failover];

// --------------------------------------------------------------------------------------- runner

/** Serialises the heavy scenarios across brokers (one at a time on the shared CPUs). */
let heavyChain: Promise<unknown> = Promise.resolve();

function withHeavy<T>(fn: () => Promise<T>): Promise<T> {
  const run = heavyChain.then(fn, fn);
  heavyChain = run.catch(() => undefined);
  return run;
}

/** Runs one scenario against one broker, with its own cleanup and timeout. */
export async function runScenario(s: Scenario, broker: Broker): Promise<Result> {
  const notes: string[] = [];
  const figures: string[] = [];
  const cleanups: (() => unknown)[] = [];
  let seq = 0;
  const stamp = Date.now().toString(36).slice(-4);
  const ctx: Ctx = {
    broker,
    topic: (rest) => `${broker.topicRoot}/${broker.id}/${s.id}/${rest}`,
    clientId: (tag) => `mote-${broker.id}-${s.id}-${tag}-${stamp}${++seq}`,
    device(options = {}, port = broker.port) {
      const d = new Device(broker.host, port, {
        port, username: broker.auth.username, password: broker.auth.password, keep_alive: 10, ...options,
      });
      // closed at the end of the scenario, or at once if the run is interrupted (its Storage temp dir goes too)
      const unhook = onAbort(() => d.close());
      cleanups.push(() => { unhook(); d.close(); });
      return d;
    },
    async mqttjs(opts = {}, before) {
      const c = await mqttjsClient(broker.url, {
        username: broker.auth.username, password: broker.auth.password, clientId: ctx.clientId("js"), ...opts,
      }, before);
      c.on("error", () => { /* reported through the scenario's own checks */ });
      cleanups.push(() => endClient(c));
      return c;
    },
    defer: (fn) => { cleanups.push(fn); },
    note: (t) => { notes.push(t); },
    figure: (t) => { figures.push(t); },
  };
  let t0 = Date.now();
  let status: Status = "pass";
  const body = async () => {
    t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const running = s.run(ctx);
      running.catch(() => { /* a late failure after a timeout is already reported */ });
      const out = await Promise.race([
        running,
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${s.timeoutMs / 1000} s`)), s.timeoutMs); }),
      ]);
      if (out && "na" in out) {
        status = "na";
        notes.unshift(out.na);
      } else if (out && "skip" in out) {
        status = "skip";
        notes.unshift(out.skip);
      }
    } catch (e) {
      status = "fail";
      notes.unshift((e as Error).message ?? String(e));
    } finally {
      if (timer) clearTimeout(timer);
      while (cleanups.length) {
        const fn = cleanups.pop() as () => unknown;
        try { await fn(); } catch { /* keep cleaning */ }
      }
    }
  };
  if (s.heavy) await withHeavy(body);
  else await body();
  return { status, notes, figures, ms: Date.now() - t0 };
}
