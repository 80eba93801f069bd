// Integration: the built firmware/mote-mqtt.js in the host simulator exchanging messages with mqtt.js
// through real brokers: QoS 0/1/2 both ways, binary payloads, retained messages (Mosquitto), SUBACK
// 0x80 (Aedes, which can refuse a subscription).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startAedes } from "../support/aedes.js";
import { mqttjsClient, endClient, collect, sleep } from "../support/util.js";
import { allBytes, cleanup, device, noUncaught } from "./harness.js";

test("[MQTT-4.3.1-1][MQTT-4.3.2-2][MQTT-4.3.3-2] QoS 0/1/2 device->mqtt.js and mqtt.js->device, each once, binary-safe", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-qos" }), (c) => endClient(c));
  const got = collect(other, "dev/out/#");
  await other.subscribeAsync("dev/out/#", { qos: 2 });

  const dev = env.add(device(mosq.port, { client_id: "dev-qos", keep_alive: 10 }), (d) => d.close());
  assert.equal(await dev.connect(), false, "clean session: no session present");
  const subs = await dev.subscribe("dev/in/#", 2);
  assert.deepEqual(subs.map((e) => [e.name, ...e.args]), [["subscribed", "dev/in/#", 2]]);

  // device -> mqtt.js, each QoS
  for (const q of [0, 1, 2]) assert.equal(dev.client.publish(`dev/out/${q}`, `out-${q}`, { qos: q }), true);
  await got.waitForCount(3);
  // mqtt.js -> device, each QoS
  for (const q of [0, 1, 2] as const) await other.publishAsync(`dev/in/${q}`, `in-${q}`, { qos: q });
  await dev.waitEvent("publish", { count: 3 });

  // binary payload with all 256 byte values, both ways; a Uint8Array is sent as its bytes
  const bytes = allBytes();
  assert.equal(dev.client.publish("dev/out/bin", bytes, { qos: 1 }), true);
  assert.equal(dev.run(
    "var u = new Uint8Array(256); for (var i = 0; i < 256; i++) u[i] = i; client.publish('dev/out/u8', u, {qos: 2})"), true);
  await other.publishAsync("dev/in/bin", Buffer.from(bytes, "latin1"), { qos: 2 });
  await got.waitForCount(5);
  await dev.waitEvent("publish", { count: 4 });
  await dev.waitEvent("message", { count: 4 });
  await sleep(300); // room for a duplicate to show up

  const outs = got.messages.map((m) => [m.topic, m.payload.toString("latin1"), m.qos, m.retain]);
  assert.deepEqual(outs.slice(0, 3).sort(), [
    ["dev/out/0", "out-0", 0, false], ["dev/out/1", "out-1", 1, false], ["dev/out/2", "out-2", 2, false],
  ]);
  assert.equal(got.messages.length, 5, "each message exactly once at mqtt.js");
  const bin = got.messages.find((m) => m.topic === "dev/out/bin");
  assert.ok(bin, "binary message arrived");
  assert.deepEqual([...bin.payload], [...Buffer.from(bytes, "latin1")], "all 256 byte values, device->mqtt.js");
  const u8 = got.messages.find((m) => m.topic === "dev/out/u8");
  assert.ok(u8, "Uint8Array message arrived");
  assert.equal(u8.payload.length, 256, "Uint8Array sent as 256 bytes, not as \"0,1,2,...\"");
  assert.deepEqual([...u8.payload], [...Array(256).keys()]);
  assert.equal(u8.qos, 2);

  const ins = dev.published();
  assert.equal(ins.length, 4, "each message exactly once at the device");
  assert.deepEqual(ins.slice(0, 3).map((p) => [p.topic, p.message, p.qos, p.retain, p.dup]), [
    ["dev/in/0", "in-0", 0, false, false], ["dev/in/1", "in-1", 1, false, false], ["dev/in/2", "in-2", 2, false, false],
  ]);
  assert.equal(ins[3].topic, "dev/in/bin");
  assert.equal(ins[3].message, bytes, "all 256 byte values, mqtt.js->device");
  assert.equal(ins[3].qos, 2);
  // "message" (topic, message) matches "publish"
  assert.deepEqual(dev.all("message").map((e) => [e.args[0], e.args[1]]), ins.map((p) => [p.topic, p.message]));

  const s = dev.stats();
  assert.equal(s.sent, 5);
  assert.equal(s.received, 4);
  assert.equal(s.inflight, 0, "every QoS 1/2 message acknowledged");
  assert.equal(s.dropped, 0);
  assert.deepEqual(dev.errors(), []);
  assert.equal(dev.count("disconnected"), 0);
  noUncaught(dev);
});

test("[MQTT-3.3.1-5][MQTT-3.3.1-6][MQTT-3.3.1-8][MQTT-3.3.1-9] retained: from the device to a later subscriber, and to the device", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const dev = env.add(device(mosq.port, { client_id: "dev-ret", keep_alive: 10 }), (d) => d.close());
  await dev.connect();

  // device publishes retained (QoS 1 so we know the broker has it once inflight is back to 0)
  assert.equal(dev.client.publish("ret/dev", "kept", { qos: 1, retain: true }), true);
  await dev.board.waitFor(() => dev.stats().inflight === 0 && dev.stats().sent === 1, 3000, "PUBACK of the retained publish");

  const later = env.add(await mqttjsClient(mosq.url, { clientId: "x-ret" }), (c) => endClient(c));
  const got = collect(later, "ret/#");
  await later.subscribeAsync("ret/dev", { qos: 1 });
  await got.waitForCount(1);
  assert.equal(got.messages[0].payload.toString("latin1"), "kept");
  assert.equal(got.messages[0].retain, true, "a later subscriber gets retain=true");
  assert.equal(got.messages[0].qos, 1);

  // mqtt.js publishes retained; the device subscribes afterwards and gets it with retain set
  await later.publishAsync("ret/other", "stored", { qos: 1, retain: true });
  await dev.subscribe("ret/other", 1);
  const [e] = await dev.waitEvent("publish");
  assert.deepEqual(e.args[0], { topic: "ret/other", message: "stored", qos: 1, retain: true, dup: false });

  // a live (non-retained-from-store) message is delivered with retain false [MQTT-3.3.1-9]
  await later.publishAsync("ret/other", "live", { qos: 1, retain: true });
  const got2 = await dev.waitEvent("publish", { count: 2 });
  assert.deepEqual(got2[1].args[0], { topic: "ret/other", message: "live", qos: 1, retain: false, dup: false });
  await sleep(200);
  assert.equal(dev.count("publish"), 2);
  assert.equal(got.messages.length, 1);
  assert.deepEqual(dev.errors(), []);
  noUncaught(dev);
});

test("[MQTT-3.8.4-5][MQTT-3.9.3-1] SUBACK 0x80: subscribe_failed for the refused filter, subscribed for the other", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const aedes = env.add(await startAedes({ refuseSubscribe: (filter) => filter.startsWith("secret/") }), (a) => a.stop());
  const dev = env.add(device(aedes.port, { client_id: "dev-suback", keep_alive: 10 }), (d) => d.close());
  await dev.connect();

  // one SUBSCRIBE carrying both filters
  const acks = await dev.subscribe({ "ok/#": 1, "secret/#": 1 });
  const byName = acks.map((e) => [e.name, ...e.args]).sort();
  assert.deepEqual(byName, [["subscribe_failed", "secret/#", 128], ["subscribed", "ok/#", 1]]);
  assert.equal(dev.count("subscribed"), 1);
  assert.equal(dev.count("subscribe_failed"), 1);

  // the granted filter works; the refused one delivers nothing
  const other = env.add(await mqttjsClient(aedes.url, { clientId: "x-suback" }), (c) => endClient(c));
  await other.publishAsync("secret/a", "no", { qos: 1 });
  await other.publishAsync("ok/a", "yes", { qos: 1 });
  await dev.waitEvent("publish");
  await sleep(200);
  assert.deepEqual(dev.published().map((p) => [p.topic, p.message, p.qos]), [["ok/a", "yes", 1]]);
  assert.equal(dev.count("disconnected"), 0, "a refused filter does not cost the connection");
  assert.deepEqual(dev.errors(), []);
  noUncaught(dev);
});

test("API: subscribe before connect, per-filter handler, unsubscribe, offline publish (QoS 0 refused, QoS 1 queued), invalid topic", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const dev = env.add(device(mosq.port, { client_id: "dev-api", keep_alive: 10 }), (d) => d.close());
  // before connect: QoS 0 is refused, QoS 1 waits in the queue, a subscription waits for the connection
  assert.equal(dev.client.publish("api/x", "q0"), false);
  assert.equal(dev.client.publish("api/out", "queued", { qos: 1 }), true);
  assert.equal(dev.client.publish("api/+", "wild", { qos: 1 }), false);
  const handled: [string, string][] = [];
  assert.equal(dev.run("var handled = []; client.subscribe('api/h/+', {qos: 1}, function (t, m) { handled.push(t + '=' + m); })"), true);
  assert.equal(dev.client.subscribe("api/all/#"), true);
  assert.equal(dev.client.subscribe("api/bad#"), false);
  await dev.board.flush();
  assert.deepEqual(dev.errors().map((e) => e.code), ["offline", "invalid_topic", "invalid_filter"]);
  assert.equal(dev.stats().dropped, 2, "refused publishes count as dropped");

  const other = env.add(await mqttjsClient(mosq.url, { clientId: "x-api" }), (c) => endClient(c));
  const got = collect(other, "api/out");
  await other.subscribeAsync("api/out", { qos: 1 });
  await dev.connect();
  await dev.waitEvent("subscribed", { count: 2 });
  assert.deepEqual(dev.all("subscribed").map((e) => e.args).sort(), [["api/all/#", 0], ["api/h/+", 1]]);
  await got.waitForCount(1);
  assert.deepEqual(got.payloads(), ["queued"], "the QoS 1 message queued while offline is sent on connect");

  await other.publishAsync("api/h/1", "to handler", { qos: 1 });
  await other.publishAsync("api/all/1", "not for the handler", { qos: 1 });
  await dev.waitEvent("publish", { count: 2 });
  await dev.board.flush();
  handled.push(...(dev.run("handled") as string[]).map((s) => s.split("=") as [string, string]));
  assert.deepEqual(handled, [["api/h/1", "to handler"]], "the handler sees only its filter's messages");

  const from = dev.mark();
  assert.equal(dev.client.unsubscribe("api/all/#"), true);
  const [u] = await dev.waitEvent("unsubscribed", { from });
  assert.equal(u.args[0], "api/all/#");
  await other.publishAsync("api/all/2", "gone", { qos: 1 });
  await other.publishAsync("api/h/2", "still", { qos: 1 });
  await dev.waitEvent("publish", { from, count: 1 });
  await sleep(200);
  assert.deepEqual(dev.published(from).map((p) => p.topic), ["api/h/2"], "nothing after UNSUBACK on the removed filter");
  assert.equal(dev.errors().length, 3);
  noUncaught(dev);
});
