// Integration: persistent sessions (clean_session:false) with Mosquitto: messages kept while the device
// is away, and 400 QoS 1/2 messages each way across a Mosquitto restart (persistence on) with none
// lost and no QoS 2 duplicate.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { startMosquitto } from "../support/mosquitto.js";
import { mqttjsClient, endClient, collect, sleep, waitFor } from "../support/util.js";
import type { Collector } from "../support/util.js";
import { cleanup, device, noUncaught, publishWindowed } from "./harness.js";

const N = 400;                 // 200 QoS 1 + 200 QoS 2, interleaved: message i has QoS 1 + i % 2
const qosOf = (i: number) => (1 + (i % 2)) as 1 | 2;

/** Per QoS: how many arrived, how many distinct, which are missing. */
function tally(items: { qos: number; payload: string }[]) {
  const out: Record<number, { total: number; distinct: number; missing: number[]; wrongQos: number }> = {};
  for (const q of [1, 2]) {
    const want = [...Array(N).keys()].filter((i) => qosOf(i) === q);
    const mine = items.filter((m) => m.payload !== "" && qosOf(Number(m.payload)) === q);
    const seen = new Set(mine.map((m) => Number(m.payload)));
    out[q] = {
      total: mine.length,
      distinct: seen.size,
      missing: want.filter((i) => !seen.has(i)),
      wrongQos: mine.filter((m) => m.qos !== q).length,
    };
  }
  return out;
}

test("[MQTT-3.1.2-4][MQTT-3.2.2-2] persistent session: message kept while away, sessionPresent, no re-subscribe", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const dev = env.add(device(mosq.port, { client_id: "dev-persist", clean_session: false, keep_alive: 10 }), (d) => d.close());
  // A leftover session of this id is impossible (fresh broker): the first CONNACK says so.
  assert.equal(await dev.connect(), false);
  await dev.subscribe("p/#", 1);
  const from = dev.mark();
  dev.client.disconnect();
  await dev.waitEvent("disconnected", { from });

  const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-persist" }), (c) => endClient(c));
  await other.publishAsync("p/away", "while you were out", { qos: 1 });
  await other.publishAsync("p/away0", "qos 0 is not kept", { qos: 0 });

  const from2 = dev.mark();
  assert.equal(await dev.connect(), true, "CONNACK session present");
  const [m] = await dev.waitEvent("publish", { from: from2 });
  assert.deepEqual({ ...m.args[0], dup: undefined }, { topic: "p/away", message: "while you were out", qos: 1, retain: false, dup: undefined });
  // the subscription lives in the broker's session: still delivered live, and never re-sent
  await other.publishAsync("p/live", "now", { qos: 1 });
  await dev.waitEvent("publish", { from: from2, count: 2 });
  await sleep(300);
  assert.deepEqual(dev.published(from2).map((p) => p.topic), ["p/away", "p/live"]);
  assert.equal(dev.count("subscribed", from2), 0, "no SUBSCRIBE when the broker kept the session");
  assert.ok(!/Received SUBSCRIBE from dev-persist[\s\S]*Received SUBSCRIBE from dev-persist/.test(mosq.logs()),
    "the broker saw exactly one SUBSCRIBE from the device");
  assert.equal(dev.stats().inflight, 0);
  assert.deepEqual(dev.errors(), []);
  noUncaught(dev);
});

test("[MQTT-4.3.3-2][MQTT-4.4.0-1] broker restart, mqtt.js -> device: 200 QoS 1 + 200 QoS 2, none lost, QoS 2 not duplicated", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto({ persistence: true }), (m) => m.stop());
  const dev = env.add(device(mosq.port, { client_id: "dev-rs-sub", clean_session: false, keep_alive: 10 }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("rs/#", 2);

  const pub: MqttClient = env.add(await mqttjsClient(mosq.url, { clientId: "x-rs-pub", clean: false, reconnectPeriod: 100 }),
    (c) => endClient(c));
  pub.on("error", () => {}); // refused reconnects while the broker is down

  // At most 10 unacknowledged at a time: Mosquitto 2.0.11 strands QoS 2 beyond its 20 in flight.
  let atRestart = -1;
  await publishWindowed(pub, N, 10, (i) => `rs/q${qosOf(i)}`, qosOf, async (i) => {
    if (i === N / 2) {
      atRestart = dev.count("publish");
      await mosq.restart();
    }
  });

  const seen = () => tally(dev.published().map((p) => ({ qos: p.qos, payload: p.message })));
  await waitFor(() => { const s = seen(); return s[1].missing.length + s[2].missing.length === 0; }, 10000,
    () => `all ${N} messages at the device: ${JSON.stringify(seen(), (k, v) => (k === "missing" ? v.slice(0, 20) : v))}`);
  await sleep(500); // room for late duplicates
  const s = seen();
  const resentQos2 = (mosq.logs().match(/Sending PUBLISH to dev-rs-sub \(d1, q2/g) || []).length;
  t.diagnostic(`restart after ${atRestart} delivered; QoS 1 duplicates: ${s[1].total - s[1].distinct}; ` +
    `QoS 2 PUBLISH resent with DUP by the broker: ${resentQos2}; device reconnects: ${dev.stats().reconnects}`);
  assert.ok(atRestart > 0 && atRestart < N, `restart in the middle (device had ${atRestart} of ${N})`);
  assert.ok(dev.count("disconnected") >= 1, "the restart cost the device its connection");
  assert.ok(dev.all("connected").slice(1).every((e) => e.args[0] === true), "session present after the restart");
  assert.deepEqual(s[1].missing, [], "no QoS 1 message lost");
  assert.deepEqual(s[2].missing, [], "no QoS 2 message lost");
  assert.equal(s[2].total, N / 2, "QoS 2: each message exactly once");
  assert.equal(s[1].wrongQos + s[2].wrongQos, 0, "delivered at the published QoS");
  assert.equal(dev.count("subscribed"), 1, "no re-subscribe: the broker kept the session");
  noUncaught(dev);
});

test("[MQTT-4.3.3-1][MQTT-4.4.0-1] broker restart, device -> mqtt.js: 200 QoS 1 + 200 QoS 2 honouring publish()=false, none lost, QoS 2 not duplicated", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto({ persistence: true }), (m) => m.stop());
  let got: Collector | undefined;
  const sub: MqttClient = env.add(await mqttjsClient(mosq.url, { clientId: "x-rs-sub", clean: false, reconnectPeriod: 100 },
    (c) => { got = collect(c, "rd/#"); }), (c) => endClient(c));
  sub.on("error", () => {});
  await sub.subscribeAsync("rd/#", { qos: 2 });
  const rx = got as Collector;

  // inflight 8 (the default) stays below Mosquitto's max_inflight_messages (20)
  const dev = env.add(device(mosq.port, { client_id: "dev-rs-pub", clean_session: false, keep_alive: 10, inflight: 8, queue: 8 }),
    (d) => d.close());
  await dev.connect();

  // The publisher loop: publish until publish() says false, then wait for "drain"/"connected" or a timer.
  let i = 0, refused = 0, atRestart = -1;
  let restarting: Promise<void> | undefined;
  const pump = () => {
    while (i < N) {
      if (i === N / 2 && !restarting) {
        atRestart = rx.messages.length;
        restarting = mosq.restart();
      }
      if (!dev.client.publish(`rd/q${qosOf(i)}`, String(i), { qos: qosOf(i) })) { refused++; return; }
      i++;
    }
  };
  dev.client.on("drain", pump);
  dev.client.on("connected", pump);
  const timer = setInterval(pump, 25);
  env.add(timer, (h) => clearInterval(h));
  pump();
  await waitFor(() => i === N, 15000, () => `the device to accept all ${N} (accepted ${i})`);
  await restarting;

  const seen = () => tally(rx.messages.map((m) => ({ qos: m.qos, payload: m.payload.toString("latin1") })));
  await waitFor(() => { const s = seen(); return s[1].missing.length + s[2].missing.length === 0; }, 10000,
    () => `all ${N} messages at mqtt.js: ${JSON.stringify(seen(), (k, v) => (k === "missing" ? v.slice(0, 20) : v))}`);
  await dev.board.waitFor(() => dev.stats().inflight === 0 && dev.stats().queued === 0, 5000, "the device's acks");
  await sleep(500);
  const s = seen();
  t.diagnostic(`restart after ${atRestart} delivered; publish() refused ${refused}x; QoS 1 duplicates: ${s[1].total - s[1].distinct}`);
  assert.ok(atRestart > 0 && atRestart < N, `restart in the middle (mqtt.js had ${atRestart} of ${N})`);
  assert.ok(dev.count("disconnected") >= 1, "the restart cost the device its connection");
  assert.deepEqual(s[1].missing, [], "no QoS 1 message lost");
  assert.deepEqual(s[2].missing, [], "no QoS 2 message lost");
  assert.equal(s[2].total, N / 2, "QoS 2: each message exactly once");
  assert.equal(s[1].wrongQos + s[2].wrongQos, 0, "delivered at the published QoS");
  assert.equal(dev.stats().sent, N, "stats().sent counts each accepted message once");
  assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "queue_full" && c !== "socket"), []);
  assert.equal(dev.errors("queue_full").length, refused, "each refused publish reported");
  noUncaught(dev);
});
