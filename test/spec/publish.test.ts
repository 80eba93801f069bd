// Spec conformance (MQTT 3.1.1 sections 3.3, 4.3, 4.4, 4.6): the PUBLISH, PUBREL packets the built
// client sends, read byte by byte at a fake broker that acknowledges only when the test says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, device, noUncaught } from "../session/harness.js";
import {
  CONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBSCRIBE, ack, connack, describePkt, fakeBroker, field, hex, idOf,
  parsePublish, parseSubscribe, utf8,
} from "./broker.js";
import { sleep } from "../support/util.js";

test("[MQTT-2.3.1-5] [MQTT-3.3.1-2] [MQTT-4.3.1-1] [MQTT-3.3.2-1] QoS 0 on the wire: QoS 0, DUP 0, no packet id; the topic name first, UTF-8", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "spec-q0" }), (d) => d.close());
  await dev.connect();
  const topic = "sensor/température/日本/😀";
  assert.equal(dev.client.publish(topic, "21.5"), true);
  assert.equal(dev.client.publish("r", "", { qos: 0, retain: true }), true);
  const [p, r] = await fb.conns[0].waitPackets((x) => x.type === PUBLISH, 2);
  assert.equal(p.flags, 0, "DUP 0, QoS 0, RETAIN 0");
  assert.equal(hex(p.body), hex(field(utf8(topic)) + "21.5"), "topic (length + UTF-8 bytes) then the payload, no packet id");
  assert.equal(r.flags, 1, "DUP 0, QoS 0, RETAIN 1");
  assert.equal(hex(r.body), hex("\x00\x01r"));
  noUncaught(dev);
});

test("[MQTT-3.3.2-2] [MQTT-4.7.1-1] [MQTT-4.7.3-1] [MQTT-4.7.3-2] [MQTT-4.7.3-3] [MQTT-3.3.1-4] publish() refuses topic names with wildcards, empty, with U+0000, not UTF-8, over 65535 bytes (error invalid_topic) and QoS 3 (invalid_qos): false, nothing sent", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "spec-topic" }), (d) => d.close());
  await dev.connect();
  const bad = ["+", "#", "a/+", "a/#", "a+b", "sport/tennis#", "", "a\u0000b", "a\ud800", "\udc00/b", "a".repeat(65536), "é".repeat(32768)];
  for (const topic of bad) {
    for (const qos of [0, 1, 2]) {
      assert.equal(dev.client.publish(topic, "m", { qos }), false, `${JSON.stringify(topic.slice(0, 12))} (${topic.length} chars) QoS ${qos}`);
    }
  }
  for (const qos of [3, -1, 0.5]) assert.equal(dev.client.publish("ok", "m", { qos }), false, `QoS ${qos}`);
  await dev.board.flush();
  assert.equal(dev.errors("invalid_topic").length, bad.length * 3);
  assert.equal(dev.errors("invalid_qos").length, 3);
  // the largest topic name there is: 65535 bytes
  assert.equal(dev.client.publish("a".repeat(65535), "big", { qos: 1 }), true);
  const p = await fb.conns[0].waitPacket((x) => x.type === PUBLISH);
  assert.equal(fb.conns[0].of(PUBLISH).length, 1, "only the valid message went out");
  assert.equal(parsePublish(p).topic.length, 65535);
  noUncaught(dev);
});

test("[MQTT-4.3.2-1] [MQTT-2.3.1-1] QoS 1: a non-zero packet id, QoS 1, DUP 0; unacknowledged until the PUBACK with that id (not another id)", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  fb.answer.publish = false;
  const dev = env.add(device(fb.port, { client_id: "spec-q1" }), (d) => d.close());
  await dev.connect();
  const c = fb.conns[0];
  assert.equal(dev.client.publish("q/1", "one", { qos: 1 }), true);
  const p = parsePublish(await c.waitPacket((x) => x.type === PUBLISH));
  assert.deepEqual([p.qos, p.dup, p.retain, p.topic, p.payload], [1, false, false, "q/1", "one"]);
  assert.ok(p.id >= 1 && p.id <= 65535, `packet id ${p.id}`);
  await sleep(200);
  assert.equal(dev.stats().inflight, 1, "unacknowledged");
  c.send(ack(PUBACK, p.id === 65535 ? 1 : p.id + 1)); // not its id
  await sleep(200);
  assert.equal(dev.stats().inflight, 1, "a PUBACK with another id does not settle it");
  c.send(ack(PUBCOMP, p.id)); // not a PUBACK
  await sleep(200);
  assert.equal(dev.stats().inflight, 1, "a PUBCOMP does not settle a QoS 1 PUBLISH");
  c.send(ack(PUBACK, p.id));
  await dev.board.waitFor(() => dev.stats().inflight === 0, 2000, "PUBACK to settle the message");
  assert.equal(c.of(PUBLISH).length, 1, "sent once");
  noUncaught(dev);
});

test("[MQTT-4.3.3-1] [MQTT-2.3.1-6] [MQTT-3.6.1-1] [MQTT-4.4.0-1] QoS 2: PUBLISH QoS 2 DUP 0 until PUBREC; then PUBREL (flags 0010, same id) until PUBCOMP, resent after a reconnect, never the PUBLISH again", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  fb.answer.publish = false;
  fb.answer.pubrel = false;
  fb.sessionPresent = (c) => c.index > 0;
  const dev = env.add(device(fb.port, { client_id: "spec-q2", clean_session: false }), (d) => d.close());
  await dev.connect();
  const c0 = fb.conns[0];
  assert.equal(dev.client.publish("q/2", "two", { qos: 2, retain: true }), true);
  const p = parsePublish(await c0.waitPacket((x) => x.type === PUBLISH));
  assert.deepEqual([p.qos, p.dup, p.retain], [2, false, true]);
  assert.ok(p.id > 0);
  await sleep(200);
  assert.equal(c0.of(PUBREL).length, 0, "no PUBREL before the PUBREC");
  assert.equal(dev.stats().inflight, 1);

  c0.send(ack(PUBREC, p.id));
  const rel = await c0.waitPacket((x) => x.type === PUBREL);
  assert.equal(hex(rel.raw), hex("\x62\x02" + String.fromCharCode(p.id >> 8, p.id & 255)), "PUBREL: flags 0010, the PUBLISH's id");
  assert.equal(dev.stats().inflight, 1, "PUBREL unacknowledged until PUBCOMP");

  // the link drops before the PUBCOMP: the session goes on, the PUBREL is resent, the PUBLISH is not
  c0.drop();
  const c1 = await fb.conn(1);
  const rel2 = await c1.waitPacket((x) => x.type === PUBREL);
  assert.equal(idOf(rel2), p.id, "the same id");
  assert.equal(rel2.flags, 2);
  await sleep(200);
  assert.deepEqual(c1.packets.map((x) => x.type), [CONNECT, PUBREL], "no PUBLISH after its PUBREL was sent");
  c1.send(ack(PUBCOMP, p.id));
  await dev.board.waitFor(() => dev.stats().inflight === 0, 2000, "PUBCOMP to settle the message");
  assert.equal(fb.all().filter((x) => x.type === PUBLISH).length, 1, "the PUBLISH was sent once in all");
  noUncaught(dev);
});

test("[MQTT-4.4.0-1] [MQTT-2.3.1-3] [MQTT-3.3.1-1] [MQTT-4.6.0-1] [MQTT-4.1.0-1] reconnect with the session present: unacknowledged PUBLISH resent with DUP 1 and their ids in the original order, PUBREL resent, the unanswered SUBSCRIBE resent with its id", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  fb.answer.publish = false;
  fb.answer.pubrel = false;
  fb.answer.subscribe = false;
  fb.sessionPresent = (c) => c.index > 0;
  const dev = env.add(device(fb.port, { client_id: "spec-resend", clean_session: false, inflight: 16, queue: 16 }), (d) => d.close());
  await dev.connect();
  const c0 = fb.conns[0];
  assert.equal(dev.client.subscribe("r/#", { qos: 1 }), true);
  const sub = await c0.waitPacket((x) => x.type === SUBSCRIBE);
  const N = 10;
  for (let i = 0; i < N; i++) assert.equal(dev.client.publish(`r/${i}`, `m${i}`, { qos: 1 + (i % 2), retain: i === 3 }), true);
  const sent = (await c0.waitPackets((x) => x.type === PUBLISH, N)).map(parsePublish);
  assert.deepEqual(sent.map((p) => p.payload), [...Array(N).keys()].map((i) => `m${i}`), "first sent in publish() order");
  // message 1 (QoS 2) gets its PUBREC: from now on it is a PUBREL; message 4 (QoS 1) its PUBACK
  c0.send(ack(PUBREC, sent[1].id));
  c0.send(ack(PUBACK, sent[4].id));
  await c0.waitPacket((x) => x.type === PUBREL);
  await dev.board.waitFor(() => dev.stats().inflight === N - 1, 2000, "the PUBACK to settle message 4");

  c0.drop();
  const c1 = await fb.conn(1);
  // expected resend: the SUBSCRIBE, then in the original order each unacknowledged message, with
  // message 1 as its PUBREL, message 4 gone
  const want = 1 + N - 1;
  const again = await c1.waitPackets((x) => x.type !== CONNECT, want);
  await sleep(200);
  assert.equal(c1.packets.length, 1 + want, `nothing more: ${c1.packets.map(describePkt).join(" ")}`);
  assert.equal(again[0].type, SUBSCRIBE);
  assert.equal(hex(again[0].raw), hex(sub.raw), "the SUBSCRIBE again, same id and content");
  assert.equal(parseSubscribe(again[0]).id, parseSubscribe(sub).id);
  const rest = again.slice(1);
  const expect = sent.filter((_, i) => i !== 4);
  assert.deepEqual(rest.map((x) => x.type), expect.map((p, i) => (p === sent[1] ? PUBREL : PUBLISH)), "types in the original order");
  rest.forEach((x, i) => {
    const orig = expect[i];
    assert.equal(idOf(x), orig.id, `resend ${i}: the original packet id`);
    if (x.type === PUBLISH) {
      const p = parsePublish(x);
      assert.deepEqual([p.dup, p.qos, p.retain, p.topic, p.payload], [true, orig.qos, orig.retain, orig.topic, orig.payload],
        `resend ${i}: DUP 1, the rest unchanged`);
    } else {
      assert.equal(x.flags, 2, "PUBREL flags 0010");
    }
  });

  // a new message after the resends: a new id, DUP 0
  assert.equal(dev.client.publish("r/new", "new", { qos: 1 }), true);
  const fresh = parsePublish(await c1.waitPacket((x) => x.type === PUBLISH && parsePublish(x).payload === "new"));
  assert.equal(fresh.dup, false);
  assert.ok(!sent.some((p) => p.id === fresh.id) || fresh.id === sent[4].id, `id ${fresh.id} not one still in use`);
  noUncaught(dev);
});
