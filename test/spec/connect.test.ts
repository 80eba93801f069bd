// Spec conformance (MQTT 3.1.1 section 3.1): the CONNECT the built client sends, read byte by byte at a
// fake broker, and the options create() refuses because they could only give a CONNECT the spec forbids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, device, noUncaught } from "../session/harness.js";
import { CONNECT, PUBLISH, connack, createError, fakeBroker, hex, parseConnect, utf8 } from "./broker.js";
import { sleep } from "../support/util.js";

const HOST = "127.0.0.1";

test("[MQTT-3.1.0-1] CONNECT is the first packet on every connection, also with a message and a subscription waiting", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  fb.answer.connect = false;
  fb.answer.publish = false; // the QoS 1 message stays unacknowledged
  const dev = env.add(device(fb.port, { client_id: "spec-first", keep_alive: 30 }), (d) => d.close());
  // waiting before the first connection: a QoS 1 message (queued) and a subscription
  assert.equal(dev.client.publish("s/a", "queued", { qos: 1 }), true);
  assert.equal(dev.client.subscribe("s/#", { qos: 1 }), true);
  dev.client.connect();
  const c0 = await fb.conn(0);
  await c0.waitPackets(() => true);
  await sleep(300); // nothing else may come before the CONNACK (mote waits for it)
  assert.deepEqual(c0.packets.map((p) => p.type), [CONNECT], "only CONNECT before the CONNACK");
  c0.send(connack(false));
  await c0.waitPacket((p) => p.type === PUBLISH);
  await dev.waitEvent("connected");
  // an abrupt loss with the QoS 1 message unacknowledged: the next connection starts with CONNECT too
  c0.drop();
  const c1 = await fb.conn(1, 5000);
  await c1.waitPackets(() => true);
  await sleep(300);
  assert.deepEqual(c1.packets.map((p) => p.type), [CONNECT], "after a reconnect too: CONNECT first and alone");
  c1.send(connack(true));
  await c1.waitPacket((p) => p.type === PUBLISH);
  assert.equal(c1.packets[0].type, CONNECT);
  noUncaught(dev);
});

test("[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] [MQTT-3.1.2-18] [MQTT-3.1.2-20] [MQTT-3.1.3-3] no will, user name or password: their flags are 0, the payload is the client id alone", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "spec-plain", keep_alive: 42 }), (d) => d.close());
  await dev.connect();
  const p = fb.conns[0].packets[0];
  assert.equal(p.flags, 0, "CONNECT fixed header flags");
  const c = parseConnect(p);
  assert.deepEqual([c.protocolName, c.level, c.keepAlive], ["MQTT", 4, 42]);
  assert.equal(c.flags, 0x02, `connect flags ${c.flags.toString(2)}: clean session only (will flag, QoS, retain, user, password, reserved all 0)`);
  assert.deepEqual(c.fields, ["spec-plain"], "the client id is the first and only payload field");
  assert.equal(c.rest, "");
  assert.equal(hex(p.raw), hex("\x10\x16\x00\x04MQTT\x04\x02\x00\x2a\x00\x0aspec-plain"), "the whole packet");
  noUncaught(dev);
});

test("[MQTT-3.1.2-9] [MQTT-3.1.2-14] [MQTT-3.1.3-10] [MQTT-3.1.3-1] will: flag, QoS and retain bits, will topic (UTF-8) and message in the payload after the client id; will QoS 3 and bad will topics refused", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const message = "bye\x00\xff\x80";
  for (const qos of [0, 1, 2]) for (const retain of [false, true]) {
    const id = `spec-will-${qos}-${retain ? 1 : 0}`;
    const dev = env.add(device(fb.port, { client_id: id, will: { topic: "will/é/日本", message, qos, retain } }), (d) => d.close());
    await dev.connect();
    const c = parseConnect(fb.conns[fb.conns.length - 1].packets[0]);
    assert.equal(c.flags, 0x02 | 0x04 | qos << 3 | (retain ? 0x20 : 0), `${id}: flags ${c.flags.toString(2)}`);
    assert.deepEqual(c.fields, [id, utf8("will/é/日本"), message], `${id}: client id, will topic (UTF-8 bytes), will message`);
    assert.equal(c.rest, "");
    dev.client.disconnect();
    noUncaught(dev);
  }
  const dev = env.add(device(fb.port, { client_id: "spec-will-x" }), (d) => d.close());
  const bad = (will: unknown) => createError(dev, HOST, { port: fb.port, client_id: "w", will });
  for (const qos of [3, -1, 1.5]) assert.equal(bad({ topic: "w", message: "m", qos })?.code, "option", `will qos ${qos}`);
  for (const topic of ["", "w/+", "w/#", "w\u0000", "w\ud800", "x".repeat(65536)]) {
    assert.equal(bad({ topic, message: "m" })?.code, "option", `will topic ${JSON.stringify(topic.slice(0, 8))} (${topic.length} chars)`);
  }
  assert.equal(bad({ topic: "w", message: "m", qos: 2, retain: true }), undefined, "a good will is accepted");
});

test("[MQTT-3.1.2-19] [MQTT-3.1.2-21] [MQTT-3.1.2-22] [MQTT-3.1.3-1] [MQTT-3.1.3-11] user name (UTF-8) and password: flags and fields in the order client id, will topic, will message, user name, password; a password without a user name is refused", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const password = "\x00pw\xff";
  const dev = env.add(device(fb.port, {
    client_id: "spec-auth", username: "üser-日本", password, will: { topic: "w", message: "m", qos: 1 },
  }), (d) => d.close());
  await dev.connect();
  let c = parseConnect(fb.conns[0].packets[0]);
  assert.equal(c.flags, 0x80 | 0x40 | 0x08 | 0x04 | 0x02, `flags ${c.flags.toString(2)}`);
  assert.deepEqual(c.fields, ["spec-auth", "w", "m", utf8("üser-日本"), password]);
  assert.equal(c.rest, "");

  // a user name alone: its flag, no password flag, no password field
  const dev2 = env.add(device(fb.port, { client_id: "spec-user", username: "u" }), (d) => d.close());
  await dev2.connect();
  c = parseConnect(fb.conns[1].packets[0]);
  assert.equal(c.flags, 0x80 | 0x02, `flags ${c.flags.toString(2)}`);
  assert.deepEqual(c.fields, ["spec-user", "u"]);

  // an empty user name and an empty password are still present (flags set, zero-length fields)
  const dev3 = env.add(device(fb.port, { client_id: "spec-empty", username: "", password: "" }), (d) => d.close());
  await dev3.connect();
  c = parseConnect(fb.conns[2].packets[0]);
  assert.equal(c.flags, 0x80 | 0x40 | 0x02);
  assert.deepEqual(c.fields, ["spec-empty", "", ""]);

  const bad = (o: Record<string, unknown>) => createError(dev, HOST, { port: fb.port, client_id: "x", ...o });
  assert.equal(bad({ password: "p" })?.code, "option", "a password without a user name");
  for (const username of ["a\u0000b", "a\udc00", "é".repeat(32768)]) {
    assert.equal(bad({ username })?.code, "option", `user name ${JSON.stringify(username.slice(0, 4))} (${username.length} chars)`);
  }
  for (const d of [dev, dev2, dev3]) noUncaught(d);
});

test("[MQTT-3.1.3-2] [MQTT-3.1.3-4] client id: UTF-8 on the wire, the same on every reconnect, by default mote-{getSerial()}; U+0000 refused", { timeout: 15000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "mote-日本-é" }), (d) => d.close());
  await dev.connect();
  fb.conns[0].drop();
  const c1 = await fb.conn(1);
  await c1.waitPacket((p) => p.type === CONNECT);
  assert.equal(parseConnect(fb.conns[0].packets[0]).fields[0], utf8("mote-日本-é"), "UTF-8 bytes");
  assert.equal(parseConnect(c1.packets[0]).fields[0], utf8("mote-日本-é"), "the same id after a reconnect");

  const byDefault = env.add(device(fb.port, {}, { serial: "240ac4-0f1e2d" }), (d) => d.close());
  await byDefault.connect();
  assert.equal(parseConnect(fb.conns[2].packets[0]).fields[0], "mote-240ac4-0f1e2d", "default from getSerial()");
  assert.equal(createError(dev, HOST, { port: fb.port, client_id: "a\u0000" })?.code, "option");
  assert.equal(createError(dev, HOST, { port: fb.port, client_id: "a\ud800" })?.code, "option");
  noUncaught(dev);
  noUncaught(byDefault);
});

test("[MQTT-3.1.3-7] a zero-byte client id goes with CleanSession 1; clean_session false without a client id is refused", { timeout: 10000 }, async (t) => {
  const env = cleanup(t);
  const fb = env.add(await fakeBroker(), (b) => b.close());
  const dev = env.add(device(fb.port, { client_id: "" }), (d) => d.close());
  await dev.connect();
  const c = parseConnect(fb.conns[0].packets[0]);
  assert.deepEqual(c.fields, [""], "a zero-length client id field");
  assert.equal(c.flags & 0x02, 0x02, "CleanSession 1");
  const e = createError(dev, HOST, { port: fb.port, client_id: "", clean_session: false });
  assert.equal(e?.code, "option", "clean_session:false with an empty client id");
  noUncaught(dev);
});
