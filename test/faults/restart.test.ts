// Fault: Mosquitto (persistence on) restarted in the middle of 500 QoS 1 + 500 QoS 2 messages, each way,
// with the device (clean_session:false) behind the fault proxy. Counted at the receiver: no QoS 1 or
// QoS 2 message lost, no QoS 2 message duplicated.
// (test/session/session.test.ts covers 200 + 200 without the proxy; these are the issue-4 counts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { startMosquitto } from "../support/mosquitto.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsClient, endClient, collect, sleep, waitFor } from "../support/util.js";
import type { Collector } from "../support/util.js";
import { cleanup, device, noUncaught, publishWindowed } from "../session/harness.js";
import { pacedPublisher, show, tally } from "./common.js";

const N = 1000;                                      // 500 QoS 1 + 500 QoS 2, interleaved
const qosOf = (i: number) => (1 + (i % 2)) as 1 | 2;

test("[MQTT-4.3.2-2][MQTT-4.3.3-2][MQTT-4.4.0-1] broker restart mid-stream, device -> mqtt.js through the proxy: 500 QoS 1 + 500 QoS 2, 0 lost, 0 QoS 2 duplicated", { timeout: 60000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto({ persistence: true }), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  let got: Collector | undefined;
  const sub: MqttClient = env.add(await mqttjsClient(mosq.url, { clientId: "fx-rs-sub", clean: false, reconnectPeriod: 100 },
    (c) => { got = collect(c, "fr/#"); }), (c) => endClient(c));
  sub.on("error", () => {}); // refused reconnects while the broker is down
  await sub.subscribeAsync("fr/#", { qos: 2 });
  const rx = got as Collector;

  // inflight 8 + queue 8: the client never has more than 8 unacknowledged, below Mosquitto's 20.
  const dev = env.add(device(proxy.port, { client_id: "fx-rs-pub", clean_session: false, keep_alive: 10, inflight: 8, queue: 8 }),
    (d) => d.close());
  await dev.connect();

  let restarting: Promise<void> | undefined, atRestart = -1;
  const pub = pacedPublisher(dev, N, (i) => ({ topic: `fr/q${qosOf(i)}`, payload: String(i), qos: qosOf(i) }), (i) => {
    if (i === N / 2) {
      atRestart = rx.messages.length;
      restarting = mosq.restart();
    }
  });
  env.add(pub, (p) => p.stop());
  await waitFor(() => pub.accepted === N, 40000, () => `the device to accept all ${N} (accepted ${pub.accepted})`);
  await restarting;

  const seen = () => tally(N, qosOf, rx.messages.map((m) => ({ qos: m.qos, payload: m.payload.toString("latin1") })));
  await waitFor(() => { const s = seen(); return s[1].missing.length + s[2].missing.length === 0; }, 15000,
    () => `all ${N} messages at mqtt.js: ${show(seen())}`);
  await dev.board.waitFor(() => dev.stats().inflight === 0 && dev.stats().queued === 0, 5000, "the device's acks");
  await sleep(500); // room for late duplicates
  const s = seen();
  t.diagnostic(`restart after ${atRestart} delivered; publish() refused ${pub.state.refused}x; proxy attempts ${proxy.accepted}; ` +
    `device reconnects ${dev.stats().reconnects}; QoS 1 ${s[1].total} (${s[1].duplicated} dup), QoS 2 ${s[2].total} (${s[2].duplicated} dup)`);
  assert.ok(atRestart > 0 && atRestart < N, `restart in the middle (mqtt.js had ${atRestart} of ${N})`);
  assert.ok(dev.count("disconnected") >= 1, "the restart cost the device its connection");
  assert.ok(proxy.accepted >= 2, "the device reconnected through the proxy");
  assert.ok(dev.all("connected").slice(1).every((e) => e.args[0] === true), "session present after the restart");
  assert.equal(s[1].expected, 500);
  assert.equal(s[2].expected, 500);
  assert.deepEqual(s[1].missing, [], "0 QoS 1 lost");
  assert.deepEqual(s[2].missing, [], "0 QoS 2 lost");
  assert.equal(s[2].duplicated, 0, "0 QoS 2 duplicated");
  assert.equal(s[2].total, 500, "QoS 2: each exactly once");
  assert.equal(s[1].wrongQos + s[2].wrongQos, 0, "delivered at the published QoS");
  assert.equal(dev.stats().sent, N, "stats().sent counts each accepted message once");
  assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "queue_full" && c !== "socket"), []);
  noUncaught(dev);
});

test("[MQTT-4.3.2-2][MQTT-4.3.3-2][MQTT-4.4.0-1] broker restart mid-stream, mqtt.js -> device through the proxy: 500 QoS 1 + 500 QoS 2, 0 lost, 0 QoS 2 duplicated", { timeout: 60000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto({ persistence: true }), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const dev = env.add(device(proxy.port, { client_id: "fx-rs-rx", clean_session: false, keep_alive: 10 }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("fd/#", 2);

  const pub: MqttClient = env.add(await mqttjsClient(mosq.url, { clientId: "fx-rs-tx", clean: false, reconnectPeriod: 100 }),
    (c) => endClient(c));
  pub.on("error", () => {});

  // At most 10 unacknowledged at the publisher; Mosquitto sends the device at most its 20 in flight.
  let atRestart = -1;
  await publishWindowed(pub, N, 10, (i) => `fd/q${qosOf(i)}`, qosOf, async (i) => {
    if (i === N / 2) {
      atRestart = dev.count("publish");
      await mosq.restart();
    }
  });

  const seen = () => tally(N, qosOf, dev.published().map((p) => ({ qos: p.qos, payload: p.message })));
  await waitFor(() => { const s = seen(); return s[1].missing.length + s[2].missing.length === 0; }, 15000,
    () => `all ${N} messages at the device: ${show(seen())}`);
  await sleep(500);
  const s = seen();
  t.diagnostic(`restart after ${atRestart} delivered; proxy attempts ${proxy.accepted}; device reconnects ${dev.stats().reconnects}; ` +
    `QoS 1 ${s[1].total} (${s[1].duplicated} dup), QoS 2 ${s[2].total} (${s[2].duplicated} dup)`);
  assert.ok(atRestart > 0 && atRestart < N, `restart in the middle (device had ${atRestart} of ${N})`);
  assert.ok(dev.count("disconnected") >= 1, "the restart cost the device its connection");
  assert.ok(proxy.accepted >= 2, "the device reconnected through the proxy");
  assert.ok(dev.all("connected").slice(1).every((e) => e.args[0] === true), "session present after the restart");
  assert.deepEqual(s[1].missing, [], "0 QoS 1 lost");
  assert.deepEqual(s[2].missing, [], "0 QoS 2 lost");
  assert.equal(s[2].duplicated, 0, "0 QoS 2 duplicated");
  assert.equal(s[2].total, 500, "QoS 2: each exactly once");
  assert.equal(s[1].wrongQos + s[2].wrongQos, 0, "delivered at the published QoS");
  assert.equal(dev.stats().received, s[1].total + s[2].total, "stats().received counts what was delivered");
  assert.equal(dev.count("subscribed"), 1, "no re-subscribe: the broker kept the session");
  assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "socket"), []);
  noUncaught(dev);
});
