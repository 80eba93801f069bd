// Spec conformance (MQTT 3.1.1 sections 1.5.3, 2.2.2, 3.3, 4.3, 4.5, 4.6, 4.8): the built client as the
// receiver. A fake broker sends valid and invalid packets and reads the client's answers byte by byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, device, noUncaught } from "../session/harness.js";
import type { Device } from "../session/harness.js";
import {
  CONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, ack, chr, connack, describePkt, fakeBroker, idOf, packet, publish,
  suback, u16, utf8,
} from "./broker.js";
import type { FakeBroker, FakeConn } from "./broker.js";
import { sleep } from "../support/util.js";

/** A device connected to a fake broker that answers nothing but CONNECT. */
async function setup(t: { after(fn: () => unknown): void }, options: Record<string, unknown> = {}) {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  Object.assign(fb.answer, { publish: false, pubrel: false, subscribe: false, unsubscribe: false });
  const dev = env.add(device(fb.port, { client_id: "spec-in", keep_alive: 60, ...options }), (d) => d.close());
  await dev.connect();
  return { env, fb, dev, c: fb.conns[0] };
}

const acks = (c: FakeConn) => c.packets.filter((p) => p.type !== CONNECT && p.type !== 12);

test("[MQTT-3.3.4-1] [MQTT-4.3.2-2] [MQTT-2.3.1-6] [MQTT-4.5.0-2] QoS 0 not answered; QoS 1 answered by PUBACK with its id, also when no subscription matches or the handler throws; after the PUBACK the same id is a new message, even with DUP 1", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  dev.run("client.subscribe('h/#', {qos: 1}, function () { throw new Error('handler failed'); })");
  await c.waitPacket((p) => p.type === 8);
  c.send(suback(idOf(c.packets[1]), [1]));
  await dev.waitEvent("subscribed");
  const from = dev.mark();
  c.send(publish("none/q0", "zero", 0));
  c.send(publish("none/q1", "one", 1, 0x1234));            // matches no subscription of the client
  c.send(publish("h/q1", "thrown", 1, 0x0102));           // its handler throws
  await c.waitPackets((p) => p.type === PUBACK, 2);
  await sleep(200);
  const answers = acks(c).slice(1); // after the SUBSCRIBE
  assert.deepEqual(answers.map((p) => p.raw), [ack(PUBACK, 0x1234), ack(PUBACK, 0x0102)], "one PUBACK per QoS 1 message, with its id, nothing for QoS 0");
  assert.deepEqual(dev.published(from).map((p) => [p.topic, p.message, p.qos]), [["none/q0", "zero", 0], ["none/q1", "one", 1], ["h/q1", "thrown", 1]]);
  assert.equal(dev.errors("handler").length, 1, "the handler's exception is reported");

  // the same id again, after its PUBACK: a new publication (DUP 1 or not), delivered and acknowledged again
  c.send(publish("none/q1", "again", 1, 0x1234, true));
  c.send(publish("none/q1", "and again", 1, 0x1234, false));
  await c.waitPackets((p) => p.type === PUBACK, 4);
  assert.deepEqual(dev.published(from).slice(3).map((p) => [p.message, p.dup]), [["again", true], ["and again", false]]);
  assert.equal(dev.count("disconnected"), 0);
  noUncaught(dev);
});

test("[MQTT-4.5.0-2] a message larger than max_packet, discarded unread, is still acknowledged (PUBACK, PUBREC)", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t, { max_packet: 256 });
  const from = dev.mark();
  c.send(publish("big/1", "x".repeat(1000), 1, 77));
  c.send(publish("big/2", "y".repeat(1000), 2, 78));
  c.send(publish("small", "ok", 1, 79));
  await c.waitPackets((p) => p.type === PUBACK || p.type === PUBREC, 3);
  assert.deepEqual(acks(c).map((p) => p.raw), [ack(PUBACK, 77), ack(PUBREC, 78), ack(PUBACK, 79)]);
  assert.deepEqual(dev.published(from).map((p) => p.topic), ["small"], "only the small one delivered");
  assert.equal(dev.stats().oversize, 2);
  c.send(ack(PUBREL, 78));
  await c.waitPacket((p) => p.type === PUBCOMP);
  noUncaught(dev);
});

test("[MQTT-4.3.3-2] [MQTT-3.3.4-1] [MQTT-4.1.0-2] QoS 2 receiver: PUBREC with its id; resent before its PUBREL it is answered by PUBREC again, not delivered twice; PUBREL answered by PUBCOMP (also an unknown id); then the id is a new message", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  const from = dev.mark();
  c.send(publish("q2/a", "exactly once", 2, 500));
  await c.waitPacket((p) => p.type === PUBREC);
  c.send(publish("q2/a", "exactly once", 2, 500, true));
  c.send(publish("q2/a", "exactly once", 2, 500, true));
  await c.waitPackets((p) => p.type === PUBREC, 3);
  await sleep(200);
  assert.equal(dev.published(from).length, 1, "delivered once");
  assert.deepEqual(acks(c).map((p) => p.raw), [ack(PUBREC, 500), ack(PUBREC, 500), ack(PUBREC, 500)]);
  c.send(ack(PUBREL, 500));
  const comp = await c.waitPacket((p) => p.type === PUBCOMP);
  assert.equal(comp.raw, ack(PUBCOMP, 500), "PUBCOMP with the PUBREL's id");
  c.send(ack(PUBREL, 4242)); // unknown: still answered
  await c.waitPackets((p) => p.type === PUBCOMP, 2);
  assert.equal(acks(c).at(-1)?.raw, ack(PUBCOMP, 4242));
  // released: the id is free, the next PUBLISH with it is a new message
  c.send(publish("q2/a", "a new one", 2, 500));
  await c.waitPackets((p) => p.type === PUBREC, 4);
  await dev.waitEvent("publish", { from, count: 2 });
  assert.deepEqual(dev.published(from).map((p) => p.message), ["exactly once", "a new one"]);
  assert.equal(dev.count("disconnected"), 0);
  noUncaught(dev);
});

test("[MQTT-4.6.0-2] [MQTT-4.6.0-3] PUBACK and PUBREC go out in the order their PUBLISH packets came", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  const ids = [9, 3, 700, 1, 65535, 42, 8, 300, 2, 77, 5000, 6, 12, 13, 11, 10];
  // all in one write, then more in single writes
  c.send(ids.map((id, i) => publish("o/" + i, "m" + i, 1 + (i % 3 === 0 ? 1 : 0), id)).join(""));
  const more = [31, 30, 29, 28];
  for (const id of more) c.send(publish("o/x", "x", 1 + (id % 2), id));
  const all = [...ids.map((id, i) => [id, 1 + (i % 3 === 0 ? 1 : 0)]), ...more.map((id) => [id, 1 + (id % 2)])];
  await c.waitPackets((p) => p.type === PUBACK || p.type === PUBREC, all.length);
  const got = acks(c).map((p) => [idOf(p), p.type === PUBREC ? 2 : 1]);
  assert.deepEqual(got, all, "acknowledgements in arrival order, PUBREC for QoS 2, PUBACK for QoS 1");
  noUncaught(dev);
});

test("[MQTT-4.6.0-4] PUBREL goes out in the order the PUBREC packets came", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t, { inflight: 8 });
  for (let i = 0; i < 6; i++) assert.equal(dev.client.publish("r/" + i, "m" + i, { qos: 2 }), true);
  const pubs = await c.waitPackets((p) => p.type === PUBLISH, 6);
  const order = [4, 0, 5, 2, 1, 3].map((i) => idOf(pubs[i]));
  c.send(order.slice(0, 3).map((id) => ack(PUBREC, id)).join(""));
  for (const id of order.slice(3)) c.send(ack(PUBREC, id));
  const rels = await c.waitPackets((p) => p.type === PUBREL, 6);
  assert.deepEqual(rels.map(idOf), order);
  noUncaught(dev);
});

test("[MQTT-1.5.3-3] a topic with U+FEFF (EF BB BF) reaches the application with it, not stripped", { timeout: 10000 }, async (t) => {
  const { dev, c } = await setup(t);
  c.send(publish(utf8("\ufeffa/\ufeff/b\ufeff"), "bom", 0));
  const [e] = await dev.waitEvent("publish");
  assert.equal(e.args[0].topic, "\ufeffa/\ufeff/b\ufeff");
  noUncaught(dev);
});

/** Sends `bad` after the CONNACK (or instead of it) and expects the client to close the connection unanswered. */
async function closesOn(fb: FakeBroker, dev: Device, n: number, bad: string, what: string, beforeConnack = false) {
  const from = dev.mark();
  dev.client.connect(); // now, not after the backoff
  const c = await fb.conn(n);
  await c.waitPacket((p) => p.type === CONNECT);
  if (!beforeConnack) {
    c.send(connack(false));
    await dev.waitEvent("connected", { from });
  }
  c.send(bad);
  await c.waitEnded(3000).catch(() => { throw new Error(`${what}: the client did not close the connection`); });
  const errs = dev.errors(undefined, from);
  assert.ok(errs.some((e) => e.code === "protocol"), `${what}: a protocol error (got ${JSON.stringify(errs)})`);
  assert.equal(dev.count("publish", from), 0, `${what}: nothing delivered`);
  assert.deepEqual(c.packets.filter((p) => p.type !== CONNECT).map(describePkt), [], `${what}: nothing answered`);
}

test("[MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-3.3.1-4] [MQTT-2.2.2-2] [MQTT-4.8.0-1] the client closes the connection on ill-formed UTF-8, U+0000, QoS 3, wrong reserved flags and other protocol violations", { timeout: 20000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  fb.answer.connect = false;
  const dev = env.add(device(fb.port, { client_id: "spec-bad", keep_alive: 60 }), (d) => d.close());
  const cases: [string, string, boolean?][] = [
    ["[MQTT-1.5.3-1] topic with a UTF-16 surrogate (ED A0 80)", publish("a/\xed\xa0\x80", "m", 1, 1)],
    ["[MQTT-1.5.3-1] topic with an overlong encoding (C0 AF)", publish("a\xc0\xaf", "m", 0)],
    ["[MQTT-1.5.3-1] topic cut inside a character (E6 97)", publish("a\xe6\x97", "m", 0)],
    ["[MQTT-1.5.3-2] topic with U+0000", publish("a\x00b", "m", 1, 2)],
    ["[MQTT-3.3.1-4] PUBLISH with both QoS bits set", packet(PUBLISH, 6, u16(1) + "a" + u16(3) + "m")],
    ["[MQTT-2.2.2-2] PUBACK with flags 0010", packet(PUBACK, 2, u16(1))],
    ["[MQTT-2.2.2-2] PUBREL with flags 0000", packet(PUBREL, 0, u16(1))],
    ["[MQTT-2.2.2-2] PINGRESP with flags 0001", packet(13, 1, "")],
    ["[MQTT-2.2.2-2] SUBACK with flags 1000", packet(9, 8, u16(1) + chr(0))],
    ["[MQTT-4.8.0-1] a CONNECT from the broker", packet(CONNECT, 0, u16(4) + "MQTT" + chr(4, 2, 0, 60) + u16(1) + "x")],
    ["[MQTT-4.8.0-1] a second CONNACK", connack(false)],
    ["[MQTT-4.8.0-1] a PUBLISH before the CONNACK", publish("a", "m", 0), true],
    ["[MQTT-4.8.0-1] a topic with a wildcard", publish("a/+", "m", 0)],
    ["[MQTT-4.8.0-1] PUBLISH QoS 1 with packet id 0", publish("a", "m", 1, 0)],
    ["[MQTT-4.8.0-1] a remaining length of 5 bytes", chr(0x30, 0xff, 0xff, 0xff, 0xff, 0x01)],
  ];
  for (let i = 0; i < cases.length; i++) await closesOn(fb, dev, i, cases[i][1], cases[i][0], cases[i][2]);
  dev.client.disconnect();
  noUncaught(dev);
});
