// Integration: last will (Mosquitto, abrupt loss through the fault proxy vs DISCONNECT) and keep-alive
// (Aedes counting PINGREQs; a half-open link made by pausing the proxy).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto } from "../support/mosquitto.js";
import { startAedes } from "../support/aedes.js";
import { startProxy } from "../support/proxy.js";
import { mqttjsClient, endClient, collect, sleep, waitFor } from "../support/util.js";
import { cleanup, device, noUncaught } from "./harness.js";

test("[MQTT-3.1.2-8][MQTT-3.1.2-17] will: delivered (qos, retain) on abrupt socket loss, [MQTT-3.14.4-3] not after disconnect()", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const mosq = env.add(await startMosquitto(), (m) => m.stop());
  const proxy = env.add(await startProxy({ targetPort: mosq.port }), (p) => p.close());
  const watcher = env.add(await mqttjsClient(mosq.url, { clientId: "x-will" }), (c) => endClient(c));
  const wills = collect(watcher, "will/#");
  await watcher.subscribeAsync("will/#", { qos: 2 });

  const dev = env.add(device(proxy.port, {
    client_id: "dev-will", keep_alive: 10,
    will: { topic: "will/dev", message: "gone\u00ff\u0000", qos: 1, retain: true },
  }), (d) => d.close());
  await dev.connect();

  // abrupt loss: the proxy resets both sides
  const from = dev.mark();
  await proxy.cut("reset");
  await wills.waitForCount(1, 5000);
  assert.equal(wills.messages[0].topic, "will/dev");
  assert.equal(wills.messages[0].payload.toString("latin1"), "gone\u00ff\u0000", "will message bytes");
  assert.equal(wills.messages[0].qos, 1, "will QoS 1");
  const [d] = await dev.waitEvent("disconnected", { from });
  assert.equal(d.args[0], "connection lost");

  // the will was retained: a new subscriber gets it with retain=1
  const later = env.add(await mqttjsClient(mosq.url, { clientId: "x-will-later" }), (c) => endClient(c));
  const kept = collect(later, "will/#");
  await later.subscribeAsync("will/dev", { qos: 1 });
  await kept.waitForCount(1);
  assert.equal(kept.messages[0].retain, true, "will published retained");
  assert.equal(kept.messages[0].payload.toString("latin1"), "gone\u00ff\u0000");

  // the device reconnects by itself; a clean disconnect() then must not publish the will
  await dev.waitEvent("connected", { from, timeoutMs: 5000 });
  assert.equal(dev.stats().reconnects, 1);
  const from2 = dev.mark();
  dev.client.disconnect();
  const [d2] = await dev.waitEvent("disconnected", { from: from2 });
  assert.equal(d2.args[0], "disconnect requested");
  await proxy.waitForActive(0, 3000);
  await sleep(500);
  assert.equal(wills.messages.length, 1, "no will after DISCONNECT");
  await sleep(1500);
  assert.equal(proxy.accepted, 2, "no reconnect after disconnect()");
  assert.deepEqual(dev.errors().map((e) => e.code).filter((c) => c !== "socket"), []);
  noUncaught(dev);
});

test("[MQTT-3.1.2-23] keep-alive: PINGREQ only when idle; a silent (half-open) link is detected and left", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const aedes = env.add(await startAedes(), (a) => a.stop());
  const pings: number[] = [];
  aedes.broker.on("ping", (_p: unknown, client: { id: string }) => { if (client.id === "dev-ka") pings.push(Date.now()); });
  const proxy = env.add(await startProxy({ targetPort: aedes.port }), (p) => p.close());
  const dev = env.add(device(proxy.port, { client_id: "dev-ka", keep_alive: 2 }), (d) => d.close());
  await dev.connect();
  const t0 = Date.now();

  // idle: a PINGREQ once nothing was sent for (just under) 2 s, and only one
  await waitFor(() => pings.length >= 1, 4000, "the first PINGREQ");
  const idleAt = pings[0] - t0;
  assert.ok(idleAt >= 1700 && idleAt <= 2700, `PINGREQ ${idleAt} ms after CONNECT, expected ~2000`);
  await sleep(300);
  assert.equal(pings.length, 1, "one PINGREQ per idle period");

  // busy: a QoS 1 publish every 300 ms for 3.3 s (more than 1.5 keep-alive periods): no PINGREQ
  const busyFrom = Date.now();
  for (let i = 0; i < 11; i++) {
    assert.equal(dev.client.publish("ka/x", "m" + i, { qos: 1 }), true);
    await sleep(300);
  }
  await dev.board.waitFor(() => dev.stats().inflight === 0, 2000, "PUBACKs");
  const busyPings = pings.filter((p) => p >= busyFrom).length;
  assert.equal(busyPings, 0, "no PINGREQ while the device keeps sending");

  // half-open: nothing is forwarded either way any more, the sockets stay open
  const from = dev.mark();
  const pausedAt = Date.now();
  proxy.pause("both");
  const [e] = await dev.waitEvent("disconnected", { from, timeoutMs: 6000 });
  const took = e.at - pausedAt;
  assert.ok(took <= 1.5 * 2000 + 1000, `dead link detected after ${took} ms (limit ${1.5 * 2000 + 1000})`);
  assert.equal(e.args[0], "keep-alive timeout");
  const timeouts = dev.errors("timeout", from);
  assert.equal(timeouts.length, 1);
  assert.match(timeouts[0].message, /PINGRESP/);

  // link back: the device reconnects by itself
  proxy.resume("both");
  await dev.waitEvent("connected", { from, timeoutMs: 5000 });
  assert.ok(dev.stats().reconnects >= 1);
  assert.equal(dev.count("disconnected"), 1);
  noUncaught(dev);
});
