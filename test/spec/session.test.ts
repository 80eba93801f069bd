// Spec conformance (MQTT 3.1.1 sections 3.1.2.4, 4.1, 4.4): what session state the built client keeps
// across connections with CleanSession 0, and what it must not carry into a new session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, device, noUncaught } from "../session/harness.js";
import {
  CONNECT, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBSCRIBE, ack, describePkt, fakeBroker, idOf, parseConnect,
  parsePublish, publish,
} from "./broker.js";
import { sleep } from "../support/util.js";

test("[MQTT-4.1.0-1] [MQTT-4.3.3-2] [MQTT-4.4.0-1] CleanSession 0: the client keeps its session state across a reconnect: a QoS 2 message received before the drop and resent after it is not delivered twice; its PUBREL is answered", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  Object.assign(fb.answer, { publish: false, pubrel: false });
  fb.sessionPresent = (c) => c.index > 0;
  const dev = env.add(device(fb.port, { client_id: "spec-keep", clean_session: false }), (d) => d.close());
  await dev.connect();
  const c0 = fb.conns[0];
  assert.equal(parseConnect(c0.packets[0]).flags & 2, 0, "CleanSession 0 sent");
  c0.send(publish("k/a", "once", 2, 321));
  await c0.waitPacket((p) => p.type === PUBREC);
  await dev.waitEvent("publish");
  c0.drop(); // before the PUBREL

  const c1 = await fb.conn(1);
  await dev.waitEvent("connected", { count: 2 });
  c1.send(publish("k/a", "once", 2, 321, true)); // the broker resends it: it has no PUBREC as far as it knows
  await c1.waitPacket((p) => p.type === PUBREC);
  await sleep(200);
  assert.equal(dev.count("publish"), 1, "not delivered a second time");
  c1.send(ack(PUBREL, 321));
  const comp = await c1.waitPacket((p) => p.type === PUBCOMP);
  assert.equal(idOf(comp), 321);
  noUncaught(dev);
});

test("[MQTT-3.1.2-6] CleanSession 1: the flag on every CONNECT, and each connection a new session: the last one's QoS 2 ids awaiting PUBREL are forgotten, its subscriptions made again", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  Object.assign(fb.answer, { publish: false, pubrel: false });
  const dev = env.add(device(fb.port, { client_id: "spec-clean" }), (d) => d.close());
  await dev.connect();
  assert.equal(parseConnect(fb.conns[0].packets[0]).flags & 2, 2, "CleanSession 1");
  await dev.subscribe("c/#", 2);
  const c0 = fb.conns[0];
  // inbound: a QoS 2 message acknowledged with PUBREC, no PUBREL yet
  c0.send(publish("c/in", "first", 2, 55));
  await c0.waitPacket((p) => p.type === PUBREC);
  await dev.waitEvent("publish");
  c0.drop();

  const c1 = await fb.conn(1);
  await c1.waitPacket((p) => p.type === CONNECT);
  assert.equal(parseConnect(c1.packets[0]).flags & 2, 2, "CleanSession 1 again");
  await dev.waitEvent("connected", { count: 2 });
  const sub = await c1.waitPacket((p) => p.type === SUBSCRIBE);
  assert.ok(sub, "the new session has no subscription: the client makes it again");
  // the id 55 of the old session means nothing now: a PUBLISH with it is a new message
  const from = dev.mark();
  c1.send(publish("c/in", "second", 2, 55));
  await c1.waitPacket((p) => p.type === PUBREC);
  const [e] = await dev.waitEvent("publish", { from });
  assert.equal(e.args[0].message, "second", "delivered: the old session's QoS 2 state was discarded");
  assert.deepEqual(c1.packets.map((p) => p.type), [CONNECT, SUBSCRIBE, PUBREC], `nothing else: ${c1.packets.map(describePkt).join(" ")}`);
  noUncaught(dev);
});

test("[MQTT-4.4.0-1] CleanSession 0 and the broker lost the session (session present 0): the unacknowledged message is still resent with its original id, the subscription made again", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  Object.assign(fb.answer, { publish: false, pubrel: false });
  const dev = env.add(device(fb.port, { client_id: "spec-lost", clean_session: false }), (d) => d.close());
  await dev.connect();
  await dev.subscribe("l/#", 1);
  const c0 = fb.conns[0];
  assert.equal(dev.client.publish("l/x", "unacked", { qos: 1 }), true);
  const first = parsePublish(await c0.waitPacket((p) => p.type === PUBLISH));
  c0.drop();
  const c1 = await fb.conn(1);
  await dev.waitEvent("connected", { count: 2 });
  await c1.waitPacket((p) => p.type === SUBSCRIBE);
  const again = parsePublish(await c1.waitPacket((p) => p.type === PUBLISH));
  assert.deepEqual([again.topic, again.payload, again.qos, again.id], ["l/x", "unacked", 1, first.id]);
  noUncaught(dev);
});
